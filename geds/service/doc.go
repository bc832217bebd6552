// Package service runs GEDS as a service of the continuum: the S3 gateway
// (package geds/gateway) over a GEDS client (package geds) whose process
// holds what S3 clients write, with its keys, as a component of `cloudskin
// up` and of `cloudskin geds gateway`.
//
// Backend adapts a *geds.Client to gateway.Backend (and to
// gateway.Tiering, so S3 clients can persist and spill). S3 overwrites a
// key in place, GEDS objects are immutable: a PUT over an existing key
// deletes it and writes it anew, so a reader racing the PUT may briefly
// find no object; it never sees a mix of the two.
package service
