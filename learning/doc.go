// Package learning is the Learning Plane (L3): it learns from telemetry and
// traces, forecasts load and QoS, and tells orchestrators what to place,
// scale, migrate and keep warm. This package holds no code of its own; its
// parts are subpackages, each with one job:
//
//   - trace: reads CSV and Parquet time series and the Azure Functions
//     2019 trace, and detects season lengths from the data.
//   - forecast: the Model interface and the forecasters (seasonal naive,
//     Holt-Winters additive and multiplicative, a GRU network), saved and
//     loaded as JSON, with prediction intervals.
//   - backtest: rolling-origin back-tests, MAE/sMAPE/MASE, and the rule
//     that promotes a candidate model only if it beats the current one.
//   - train: one training of a registry version, judged against
//     production on the same held-out data.
//   - registry: the model registry (versions, metrics, lineage,
//     promotion, rollback) in the control plane's store.
//   - prewarm: keep-alive and pre-warming policies (fixed, the hybrid
//     histogram of Shahrad et al., INFless's long-short-term histograms)
//     and a trace-driven cold-start simulator.
//   - autoscale: the Kubernetes HPA rule, KEDA, predictive scaling, and a
//     trace-driven simulator comparing them.
//   - qos: the QoS predictor (ridge regression from a block's profile and
//     a site's state).
//   - recommend: placement and migration recommendations from observed
//     and predicted QoS, as a REST API.
//   - agent: the Agent loop (sensors, model, policy, actuator, trigger).
//   - plane: the component of `up` serving the registry, the agents and
//     the scaling and pre-warm recommendations, and running the agents.
//   - federated: federated averaging of the network across sites, its
//     aggregator and the site trainer.
//   - plot: forecast and scaling charts (gonum/plot).
//
// The orchestrator reaches the Learning Plane only through its API, and
// the Learning Plane acts on the orchestrator only through the same API.
package learning
