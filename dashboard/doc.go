// Package dashboard is the web page of the continuum (L3): sites, blocks,
// applications, placements, migrations, live charts and Learning Plane
// decisions, served by the control plane and fed only by its public API.
//
// This room is empty: issue 7 builds it.
package dashboard
