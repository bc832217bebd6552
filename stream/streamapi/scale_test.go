package streamapi_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

func TestAPIScale(t *testing.T) {
	ctx := context.Background()
	_, c, url := serve(t)
	if err := c.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	policy := streamapi.Scaling{Kind: "bytesPerSecond", TargetRate: 1 << 20}
	st, err := c.CreateStream(ctx, cams, streamapi.StreamSpec{Segments: 2, Scaling: policy})
	if err != nil {
		t.Fatal(err)
	}
	if want := (streamapi.Scaling{Kind: "bytesPerSecond", TargetRate: 1 << 20, ScaleFactor: 2, MinSegments: 2}); st.Spec.Scaling != want || st.Epoch != 0 {
		t.Fatalf("created %+v", st)
	}
	res, err := c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "camera-1", Events: [][]byte{[]byte("frame")}})
	if err != nil {
		t.Fatal(err)
	}
	hot := res.Segment

	// Split the segment that holds camera-1 into three.
	three := hot
	split, err := c.Scale(ctx, cams, streamapi.ScaleRequest{Split: &three, Parts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if split.Epoch != 1 || len(split.Segments) != 3 || split.Segments[0].Name != "2.#epoch.1" || !slices.Equal(split.Segments[0].Predecessors, []uint64{hot}) {
		t.Fatalf("split: %+v", split)
	}
	st, err = c.Stream(ctx, cams)
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 1 || len(st.Segments) != 5 || !st.Segments[hot].Sealed || len(st.Segments[hot].Successors) != 3 {
		t.Fatalf("stream after the split: %+v", st)
	}

	// A read of the sealed segment says so, in JSON and in binary.
	got, err := c.ReadSegment(ctx, cams, hot, 0, 0, 0)
	if err != nil || len(got.Events) != 1 || !got.Sealed || !slices.Equal(got.Successors, st.Segments[hot].Successors) {
		t.Fatalf("read of the sealed segment: %+v %v", got, err)
	}
	bin, err := c.ReadSegmentBinary(ctx, cams, hot, got.Next, 0, streamapi.MaxWait)
	if err != nil || len(bin.Events) != 0 || !bin.Sealed || !slices.Equal(bin.Successors, got.Successors) || bin.Next != got.Next {
		t.Fatalf("binary read at the end of the sealed segment: %+v %v", bin, err)
	}
	if open, err := c.ReadSegmentBinary(ctx, cams, split.Segments[0].ID, 0, 0, 0); err != nil || open.Sealed || open.Successors != nil {
		t.Fatalf("binary read of an active segment: %+v %v", open, err)
	}

	// Merge the last two new ones; then the general form.
	merged, err := c.Scale(ctx, cams, streamapi.ScaleRequest{Merge: []uint64{split.Segments[1].ID, split.Segments[2].ID}})
	if err != nil || merged.Epoch != 2 || len(merged.Segments) != 1 {
		t.Fatalf("merge: %+v %v", merged, err)
	}
	first := split.Segments[0]
	mid := (first.Low + first.High) / 2
	general, err := c.Scale(ctx, cams, streamapi.ScaleRequest{Seal: []uint64{first.ID}, Ranges: []stream.KeyRange{{Low: first.Low, High: mid}, {Low: mid, High: first.High}}})
	if err != nil || general.Epoch != 3 || len(general.Segments) != 2 {
		t.Fatalf("general scale: %+v %v", general, err)
	}

	// Errors: sealed 409, unknown 404, bad ranges and forms 400.
	if _, err := c.Scale(ctx, cams, streamapi.ScaleRequest{Split: &three}); !streamapi.IsConflict(err) {
		t.Fatalf("splitting a sealed segment: %v, want 409", err)
	}
	missing := uint64(99)
	if _, err := c.Scale(ctx, cams, streamapi.ScaleRequest{Split: &missing}); !streamapi.IsNotFound(err) {
		t.Fatalf("splitting a missing segment: %v, want 404", err)
	}
	if _, err := c.Scale(ctx, stream.StreamName{Scope: "surgery", Stream: "nope"}, streamapi.ScaleRequest{Merge: []uint64{0, 1}}); !streamapi.IsNotFound(err) {
		t.Fatalf("scaling a missing stream: %v, want 404", err)
	}
	path := "/streams/v1/scopes/surgery/streams/cams/scale"
	bad := []struct{ body, want string }{
		{`{"seal":[` + itoa(general.Segments[0].ID) + `],"ranges":[{"low":0,"high":0.1}]}`, "must tile"},
		{`{"split":0,"merge":[0,1]}`, "exactly one"},
		{`{}`, "exactly one"},
		{`{"merge":[0,1],"parts":3}`, "goes with"},
		{`{"split":` + itoa(general.Segments[0].ID) + `,"parts":1}`, "1 parts"},
		{`{"seal":"x"}`, "request body"},
	}
	for _, b := range bad {
		code, body := raw(t, "POST", url+path, b.body)
		if code != http.StatusBadRequest || !strings.Contains(body, b.want) {
			t.Errorf("scale %s: %d %s, want 400 mentioning %q", b.body, code, body, b.want)
		}
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
