// Package learning is the Learning Plane (L3): it learns from telemetry and
// traces, forecasts load, and tells orchestrators what to place, scale,
// migrate and keep warm. This package holds no code of its own; its parts
// are subpackages, each with one job:
//
//   - trace: reads CSV time series and the Azure Functions 2019 trace.
//   - forecast: the Model interface and the forecasters (seasonal naive,
//     Holt-Winters additive and multiplicative), saved and loaded as JSON.
//   - backtest: rolling-origin back-tests, MAE/sMAPE/MASE, and the rule
//     that promotes a candidate model only if it beats the current one.
//   - prewarm: keep-alive and pre-warming policies (fixed, the hybrid
//     histogram of Shahrad et al., INFless's long-short-term histograms)
//     and a trace-driven cold-start simulator.
//   - plot: an SVG chart of a forecast against its history.
//   - recommend: placement recommendations, ranking sites for a block by
//     the QoS its replicas reported there, served as a REST API.
//
// Still to come (issue 8): the recurrent network, the model registry, the
// agents, the recommendation API and federated training. They may import
// the foundation packages, telemetry and client; the orchestrator reaches
// the Learning Plane only through its recommendation API.
package learning
