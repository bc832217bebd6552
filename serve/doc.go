// Package serve is the Serve framework (use cases, above L3): pipelines of
// tasks replicated in executors with a batch manager, a resource provisioner
// sized by Learning Plane forecasts, and a serverless sort over GEDS/S3.
//
// This room is empty; a later issue builds it. It may import L1 (geds,
// stream), L2 (cell) and client.
package serve
