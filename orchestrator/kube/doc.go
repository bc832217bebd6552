// Package kube is the orchestrator's southbound driver for sites of type
// kubernetes: it renders a block's manifest template into Kubernetes
// objects (Render) and keeps a component's objects in a cluster as
// rendered (Driver: Apply, Scale, Delete, Status, Ping).
//
// It speaks to the cluster through client-go's dynamic client, so any kind
// the cluster serves, custom resources included, can be in a manifest; a
// RESTMapper built from the cluster's discovery turns kinds into resources.
// Objects are written by server-side apply under the field manager
// "cloudskin" with conflicts forced: the control plane is the one source of
// truth for the fields it sets, and other managers (an HPA, a human with
// kubectl) keep the fields it does not set. Every object carries labels
// naming its application and component (LabelApplication,
// LabelComponent, LabelManagedBy); pruning, deletion, scaling and status
// find a component's objects by those labels alone, so the driver keeps no
// state of its own and a restarted control plane picks up where it was.
//
// Why not Helm or kubectl's apply library: a block is one template with
// typed parameters rather than a chart, the control plane wants errors as
// values rather than printed output, and label-based pruning over a fixed
// list of kinds is a few dozen lines. The driver leans on client-go for
// everything that is Kubernetes protocol.
package kube
