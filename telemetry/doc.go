// Package telemetry is the observer side of observability (L3): the control
// plane scrapes its sites' /metrics into an embedded time-series store and
// answers PromQL, or reads an external Prometheus/Thanos instead.
//
// This room is empty: the orchestrator and learning plane issues (7, 8)
// build it. Exposing metrics (the observee side) is already done once for
// every server by internal/metrics and internal/httpserver.
package telemetry
