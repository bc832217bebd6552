// Package learning is the Learning Plane (L3): telemetry sources,
// forecasting and QoS models, the model registry, Scanflow-style agents, and
// the recommendation API that orchestrators call for placement, scaling and
// migration.
//
// This room is empty: issue 8 builds it. It may import the foundation
// packages, telemetry and client; the orchestrator reaches it only through
// its recommendation API.
package learning
