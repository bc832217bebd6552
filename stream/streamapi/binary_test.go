package streamapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/stream/streamapi"
)

// Events sent and read in the binary forms are the events of the JSON
// forms: same offsets, times and bytes; the binary append is idempotent
// with a writer id like the JSON one.
func TestBinaryAppendAndRead(t *testing.T) {
	ctx := context.Background()
	_, c, base := serve(t)
	if err := c.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, cams, streamapi.StreamSpec{Segments: 1}); err != nil {
		t.Fatal(err)
	}
	frame := bytes.Repeat([]byte{0, 1, 2, 0xff}, 25<<10) // 100 KiB, not valid UTF-8
	first, err := c.AppendBinary(ctx, cams, "camera-1", frame, "cam1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := c.AppendBinary(ctx, cams, "camera-1", frame, "cam1", 1); err != nil || !dup.Duplicate {
		t.Fatalf("retrying seq 1: %+v %v, want a duplicate", dup, err)
	}
	if _, err := c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "camera-1", Events: [][]byte{[]byte("json")}}); err != nil {
		t.Fatal(err)
	}
	bin, err := c.ReadSegmentBinary(ctx, cams, first.Segment, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	js, err := c.ReadSegment(ctx, cams, first.Segment, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(bin.Events) != 2 || len(js.Events) != 2 || bin.Next != js.Next {
		t.Fatalf("binary read %d events (next %d), JSON %d (next %d)", len(bin.Events), bin.Next, len(js.Events), js.Next)
	}
	for i := range bin.Events {
		b, j := bin.Events[i], js.Events[i]
		if b.Offset != j.Offset || b.Next != j.Next || !b.Time.Equal(j.Time) || !bytes.Equal(b.Data, j.Data) {
			t.Fatalf("event %d: binary %+v, JSON %+v", i, b.Offset, j.Offset)
		}
	}
	if !bytes.Equal(bin.Events[0].Data, frame) {
		t.Fatal("the frame came back changed")
	}
	// Waiting at the tail works in the binary form too.
	tail, err := c.ReadSegmentBinary(ctx, cams, first.Segment, bin.Next, 0, 50_000_000)
	if err != nil || len(tail.Events) != 0 || tail.Next != bin.Next {
		t.Fatalf("tail read: %+v %v", tail, err)
	}
	req, _ := http.NewRequest("POST", base+streamapi.Base+"/scopes/surgery/streams/cams/events?key=k&writer=w&seq=x", strings.NewReader("frame"))
	req.Header.Set("Content-Type", streamapi.BinaryType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), `seq \"x\"`) {
		t.Fatalf("a binary append with a bad seq: %d %s", resp.StatusCode, body)
	}
}

// FuzzDecodeEvents feeds the binary read decoder arbitrary bytes: an error
// or events that lie within the input, never a panic.
func FuzzDecodeEvents(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 28))
	f.Add(append(make([]byte, 24), 0xff, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := streamapi.DecodeEvents(1, data)
		if err != nil {
			return
		}
		total := 0
		for _, e := range events {
			total += 28 + len(e.Data)
		}
		if total != len(data) {
			t.Fatalf("decoded %d bytes of records from %d", total, len(data))
		}
	})
}
