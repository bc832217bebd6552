package video

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"
)

// The frame event format (docs/formats/stream-video.md): one event per
// frame, a small header and the JPEG image. Integers are little-endian, as
// in the stream store's other formats.
const (
	// Magic starts every frame event.
	Magic = "CSVF"
	// Version is the header version this package writes and reads.
	Version = 1
	// fixedHeader is the size of version 1's fixed fields; the camera name
	// follows them, and a reader skips anything between that and the
	// header length, so fields can be added without a new version.
	fixedHeader = 32
	// MaxCameraName bounds a camera name in bytes.
	MaxCameraName = 255
)

// ErrNotFrame is wrapped by DecodeFrame's errors: the event is not a video
// frame this package can read.
var ErrNotFrame = errors.New("not a video frame event")

// Frame is one video frame as stored: a JPEG image and when it was captured.
type Frame struct {
	// Camera names the source; it is also the routing key the frame was
	// appended with, so one camera's frames stay in order.
	Camera string
	// Seq numbers the camera's frames from 0 in the order they were read.
	Seq uint64
	// Captured is when the whole image had arrived from the source (the
	// end of its bytes on ffmpeg's pipe), not when the camera exposed it.
	Captured time.Time
	// Width and Height are the image's size in pixels, or 0 if unknown.
	Width, Height int
	// JPEG is the image, from its SOI to its EOI marker.
	JPEG []byte
}

// EncodedSize is the size of f's event.
func (f Frame) EncodedSize() int { return fixedHeader + len(f.Camera) + len(f.JPEG) }

// AppendFrame appends f's event to dst.
func AppendFrame(dst []byte, f Frame) ([]byte, error) {
	switch {
	case len(f.Camera) > MaxCameraName:
		return dst, fmt.Errorf("video: camera name of %d bytes, more than %d", len(f.Camera), MaxCameraName)
	case !utf8.ValidString(f.Camera):
		return dst, fmt.Errorf("video: camera name %q is not UTF-8", f.Camera)
	case f.Width < 0 || f.Width > math.MaxUint16 || f.Height < 0 || f.Height > math.MaxUint16:
		return dst, fmt.Errorf("video: frame size %dx%d out of range (0 to 65535)", f.Width, f.Height)
	case len(f.JPEG) > math.MaxUint32:
		return dst, fmt.Errorf("video: image of %d bytes is too large", len(f.JPEG))
	}
	dst = append(dst, Magic...)
	dst = append(dst, Version, byte(len(f.Camera)))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(fixedHeader+len(f.Camera)))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(f.Captured.UnixNano()))
	dst = binary.LittleEndian.AppendUint64(dst, f.Seq)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(f.Width))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(f.Height))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(f.JPEG)))
	dst = append(dst, f.Camera...)
	return append(dst, f.JPEG...), nil
}

// EncodeFrame returns f's event.
func EncodeFrame(f Frame) ([]byte, error) {
	return AppendFrame(make([]byte, 0, f.EncodedSize()), f)
}

// DecodeFrame decodes a frame event; the frame's JPEG aliases event. It
// checks the header, and that the image starts and ends with the JPEG
// markers, not that the image decodes.
func DecodeFrame(event []byte) (Frame, error) {
	if len(event) < 8 || string(event[:4]) != Magic {
		return Frame{}, fmt.Errorf("video: %w (%s)", ErrNotFrame, describeStart(event))
	}
	if v := event[4]; v != Version {
		return Frame{}, fmt.Errorf("video: %w: header version %d, this build reads version %d", ErrNotFrame, v, Version)
	}
	camLen := int(event[5])
	headerLen := int(binary.LittleEndian.Uint16(event[6:8]))
	switch {
	case headerLen < fixedHeader+camLen:
		return Frame{}, fmt.Errorf("video: %w: header length %d, less than the %d its fields take", ErrNotFrame, headerLen, fixedHeader+camLen)
	case headerLen > len(event):
		return Frame{}, fmt.Errorf("video: %w: header of %d bytes in an event of %d", ErrNotFrame, headerLen, len(event))
	}
	jpegLen := uint64(binary.LittleEndian.Uint32(event[28:32]))
	if got := uint64(len(event) - headerLen); got != jpegLen {
		return Frame{}, fmt.Errorf("video: %w: header says the image has %d bytes, the event holds %d", ErrNotFrame, jpegLen, got)
	}
	img := event[headerLen:]
	if len(img) < 4 || img[0] != 0xFF || img[1] != markerSOI || img[len(img)-2] != 0xFF || img[len(img)-1] != markerEOI {
		return Frame{}, fmt.Errorf("video: %w: the image of %d bytes does not start with FF D8 and end with FF D9", ErrNotFrame, len(img))
	}
	camera := event[fixedHeader : fixedHeader+camLen]
	if !utf8.Valid(camera) {
		return Frame{}, fmt.Errorf("video: %w: camera name is not UTF-8", ErrNotFrame)
	}
	return Frame{
		Camera:   string(camera),
		Captured: time.Unix(0, int64(binary.LittleEndian.Uint64(event[8:16]))).UTC(),
		Seq:      binary.LittleEndian.Uint64(event[16:24]),
		Width:    int(binary.LittleEndian.Uint16(event[24:26])),
		Height:   int(binary.LittleEndian.Uint16(event[26:28])),
		JPEG:     img,
	}, nil
}

// describeStart says what an event that is not a frame starts with.
func describeStart(event []byte) string {
	if len(event) < 8 {
		return fmt.Sprintf("%d bytes, shorter than a header", len(event))
	}
	return fmt.Sprintf("starts with %q, want %q", event[:4], Magic)
}
