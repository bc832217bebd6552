// Package video is the stream store's video path, for the surgery use case:
// frames from a camera (or any ffmpeg input) stored durably as one event
// per frame, and shown in a browser live or from any past point.
//
// Source runs ffmpeg as a child process writing MJPEG (JPEG images back to
// back) to a pipe, and Splitter cuts that byte stream into images by
// walking the JPEG markers. Each image becomes a Frame event: a small
// versioned header (camera, capture time, sequence number, size) and the
// JPEG (docs/formats/stream-video.md). Ingester appends frames with the
// camera name as routing key, pipelined and in order. Reader reads one
// camera's frames back from a start point, following the stream's segments
// in order; Handler serves them as multipart/x-mixed-replace, the MJPEG
// that browsers show in an <img>.
//
// The package talks to the store through Client, five operations any
// transport can provide; TCPClient speaks the store's TCP protocol
// (package stream/tcp).
//
// Why by hand: ffmpeg is a program, not a library, and its Go bindings
// (cgo) would put libav* into the one binary; the MJPEG muxer's output
// needs only a marker walk, about 200 lines, and browsers need nothing
// more than JPEG parts. See docs/rationale/stream-video.md.
package video
