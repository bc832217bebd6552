// Package v1alpha1 holds the resource types of the cloudskin.io/v1alpha1 API
// group: the vocabulary that the control plane, the node agents, the CLI and
// the configuration files share.
//
// Every resource is Kubernetes-shaped (apiVersion, kind, metadata, spec,
// status) so that users can read and write it like any manifest they already
// know. The package holds data and validation only: no I/O, no clocks.
// It may import only the standard library, apimachinery's quantity and name
// validation, and the YAML library (for the quantity's YAML form).
package v1alpha1
