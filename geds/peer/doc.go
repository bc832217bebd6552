// Package peer is how GEDS nodes read each other's tier 0: every GEDS
// client runs a Server over its tier 0, and a reader fetches byte ranges
// of a remote object straight from the node that holds it, with Client.
//
// The protocol is HTTP/2 over cleartext TCP with prior knowledge (h2c), so
// one connection per pair of nodes carries many concurrent range reads as
// streams, with no TLS handshake on the data path (peers sit on a cluster
// network; see docs/rationale/geds.md). Requests are plain GETs with a
// standard single-range Range header; the format is in
// docs/formats/geds-peer.md. Only sealed objects are served: an object
// still being written is refused with a clear error, because its bytes are
// not final.
//
// net/http serves and speaks h2c itself since Go 1.24 (Protocols with
// UnencryptedHTTP2), so there is no protocol code here beyond the Range
// header, which is parsed by hand because net/http's parser is not
// exported and http.ServeContent would add conditional-request handling
// and multipart ranges the protocol does not want.
package peer
