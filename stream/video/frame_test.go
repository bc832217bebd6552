package video

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	f := Frame{Camera: "endoscope-2", Seq: 41, Captured: time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC),
		Width: 1280, Height: 720, JPEG: encodeJPEG(t, 16, 16, 0)}
	event, err := EncodeFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(event) != f.EncodedSize() || string(event[:4]) != "CSVF" || event[4] != 1 {
		t.Fatalf("event of %d bytes starts % x", len(event), event[:8])
	}
	got, err := DecodeFrame(event)
	if err != nil {
		t.Fatal(err)
	}
	if got.Camera != f.Camera || got.Seq != f.Seq || !got.Captured.Equal(f.Captured) || got.Width != 1280 || got.Height != 720 || !bytes.Equal(got.JPEG, f.JPEG) {
		t.Fatalf("decoded %+v", got)
	}
}

func TestFrameDecoderSkipsFieldsItDoesNotKnow(t *testing.T) {
	f := Frame{Camera: "c", Seq: 7, Captured: time.Unix(1, 0), JPEG: encodeJPEG(t, 8, 8, 0)}
	event, _ := EncodeFrame(f)
	// A later writer adds 8 bytes after the camera name and says so in the
	// header length.
	extended := append(append(append([]byte{}, event[:33]...), make([]byte, 8)...), event[33:]...)
	binary.LittleEndian.PutUint16(extended[6:8], 33+8)
	got, err := DecodeFrame(extended)
	if err != nil || got.Seq != 7 || got.Camera != "c" || !bytes.Equal(got.JPEG, f.JPEG) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}

func TestFrameDecoderRefusesBadEvents(t *testing.T) {
	good, _ := EncodeFrame(Frame{Camera: "cam", Captured: time.Unix(1, 0), JPEG: encodeJPEG(t, 8, 8, 0)})
	edit := func(f func(e []byte) []byte) []byte { return f(append([]byte{}, good...)) }
	cases := map[string]struct {
		event []byte
		want  string
	}{
		"empty":               {nil, "0 bytes, shorter than a header"},
		"text":                {[]byte("frame-1 of a text stream"), `starts with "fram", want "CSVF"`},
		"version 2":           {edit(func(e []byte) []byte { e[4] = 2; return e }), "header version 2, this build reads version 1"},
		"short header":        {edit(func(e []byte) []byte { e[6] = 20; return e }), "header length 20"},
		"header past end":     {edit(func(e []byte) []byte { binary.LittleEndian.PutUint16(e[6:], 60000); return e }), "header of 60000 bytes"},
		"truncated image":     {good[:len(good)-10], "the event holds"},
		"trailing bytes":      {append(append([]byte{}, good...), 0), "the event holds"},
		"not a JPEG inside":   {edit(func(e []byte) []byte { e[35] = 0; return e }), "does not start with FF D8"},
		"camera not UTF-8":    {edit(func(e []byte) []byte { e[32] = 0xFF; return e }), "not UTF-8"},
		"only a fixed header": {edit(func(e []byte) []byte { return e[:32] }), "header of 35 bytes in an event of 32"},
	}
	for name, c := range cases {
		_, err := DecodeFrame(c.event)
		if !errors.Is(err, ErrNotFrame) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrNotFrame saying %q", name, err, c.want)
		}
	}
}

func TestFrameEncoderRefusesWhatTheFormatCannotHold(t *testing.T) {
	for name, f := range map[string]Frame{
		"long camera name": {Camera: strings.Repeat("c", 256)},
		"camera not UTF-8": {Camera: "\xff"},
		"huge width":       {Width: 70000},
		"negative height":  {Height: -1},
	} {
		if _, err := EncodeFrame(f); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}

// FuzzDecodeFrame: any bytes decode or give an error, never a panic; what
// decodes with no extension fields encodes back to the same bytes.
func FuzzDecodeFrame(f *testing.F) {
	good, _ := EncodeFrame(Frame{Camera: "cam", Seq: 3, Captured: time.Unix(5, 6), Width: 8, Height: 8, JPEG: encodeJPEG(f, 8, 8, 0)})
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte("CSVF\x01\x00\x20\x00"))
	f.Fuzz(func(t *testing.T, event []byte) {
		fr, err := DecodeFrame(event)
		if err != nil {
			if !errors.Is(err, ErrNotFrame) {
				t.Fatalf("error not wrapping ErrNotFrame: %v", err)
			}
			return
		}
		if int(binary.LittleEndian.Uint16(event[6:8])) != fixedHeader+len(fr.Camera) {
			return // extension fields are not re-encoded
		}
		again, err := EncodeFrame(fr)
		if err != nil || !bytes.Equal(again, event) {
			t.Fatalf("re-encoded % x, %v; want % x", again, err, event)
		}
	})
}
