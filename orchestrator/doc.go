// Package orchestrator is the control plane (L3): it serves the northbound
// API under /api/v1, keeps the continuum's resources in the store, and runs
// the loops that watch them. Today it manages sites; blocks, applications,
// placement, reconciliation and migration (issue 7) join it as subpackages
// next to sites/.
//
// It is a component.Component, so `cloudskin up` embeds it, and it can be
// served on its own later without change.
package orchestrator
