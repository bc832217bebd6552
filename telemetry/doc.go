// Package telemetry is the observer side of observability (L3): the control
// plane scrapes the /metrics pages of its agents and components into an
// embedded time-series store and answers PromQL over it, or reads an
// external Prometheus or Thanos instead. The Learning Plane reads its
// telemetry through the same Querier interface.
//
// The parts, each usable alone:
//
//   - DB, the embedded store: Prometheus's TSDB in a directory, queried by
//     Prometheus's PromQL engine with bounded samples and time per query.
//     Its on-disk format is Prometheus's own (blocks, chunks, index and
//     write-ahead log, described in the Prometheus repository under
//     tsdb/docs/format), so promtool can inspect it; we own no format here.
//   - Remote, the same questions asked of another server through its HTTP
//     API with client_golang's API client.
//   - Scraper, which fetches targets' metrics pages and appends them to a DB.
//   - API, Prometheus's query API (/api/v1/query, query_range, labels,
//     label values, series) over any Querier, with the same JSON answers,
//     error types and status codes, so Grafana and client_golang read it.
//   - Service, which ties them together for the control plane.
//
// Exposing metrics (the observee side) is done once for every server by
// internal/metrics and internal/httpserver.
//
// # Why the scrape loop is ours
//
// Prometheus's scrape package was considered and not used. Its Manager is
// driven by Prometheus's whole configuration (config.Config with scrape
// configs, relabelling, HTTP client settings) and by service discovery's
// target-group channel, and it runs its own reload loop; our targets are
// a function of the control plane's state (its sites) and our needs are a
// fixed subset. So the loop is written here, but what is hard to get right
// comes from Prometheus: the exposition formats are parsed by its textparse
// package and the samples go through TSDB's appender. The loop keeps
// Prometheus's semantics where they matter to queries: job and instance
// labels (a page's own job or instance becomes exported_job or
// exported_instance), the synthetic series up, scrape_duration_seconds and
// scrape_samples_scraped, one timestamp per scrape unless the page gives
// its own, staleness markers when a series or a whole target disappears,
// and refused samples (out of order, duplicate timestamps) that do not fail
// the scrape.
//
// # Limits
//
// Native histograms are not asked for (the text formats have none) and are
// left out of query answers; classic histograms work as in Prometheus.
// Query warnings and informational notes are not returned. Retention acts
// on whole two-hour blocks, measured from the newest block, as in
// Prometheus: data can outlive the retention by up to a block.
package telemetry
