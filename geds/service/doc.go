// Package service runs GEDS as a service of the continuum: the S3 gateway
// (package geds/gateway) over a GEDS client (package geds) whose process
// holds what S3 clients write, with its keys, as a component of `cloudskin
// up` and of `cloudskin geds gateway`.
//
// Backend adapts a *geds.Client to gateway.Backend (and to
// gateway.Tiering, so S3 clients can persist and spill). S3 overwrites a
// key in place, GEDS objects are immutable: a PUT over an existing key
// writes the body to a staging bucket and then renames it over the key
// (geds.Client.Rename), so a reader racing the PUT finds the old object or
// the new one, never none and never a mix of the two.
package service
