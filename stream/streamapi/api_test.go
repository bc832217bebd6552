package streamapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/lts"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

var cams = stream.StreamName{Scope: "surgery", Stream: "cams"}

func serve(t *testing.T, tweak ...func(*stream.Options)) (*stream.Store, *streamapi.Client, string) {
	t.Helper()
	opts := stream.Options{Dir: t.TempDir()}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := stream.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	streamapi.NewHandler(s.Service(), nil).Register(mux)
	srv := httptest.NewServer(mux)
	c, err := streamapi.NewClient(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		s.Close()
	})
	return s, c, srv.URL
}

func TestAPIStreams(t *testing.T) {
	ctx := context.Background()
	_, c, url := serve(t)
	if err := c.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateScope(ctx, "surgery"); !streamapi.IsConflict(err) {
		t.Fatalf("creating a scope twice: %v, want 409", err)
	}
	st, err := c.CreateStream(ctx, cams, streamapi.StreamSpec{Segments: 2, Retention: streamapi.Retention{MaxAge: "36h", MaxBytes: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Segments) != 2 || st.Spec.Retention.MaxAge != "36h0m0s" || st.Segments[1].Low != 0.5 {
		t.Fatalf("created %+v", st)
	}
	if names, err := c.Streams(ctx, "surgery"); err != nil || len(names) != 1 || names[0] != "cams" {
		t.Fatalf("streams: %v %v", names, err)
	}

	// Appends: atomic batches, idempotent with a writer id.
	res, err := c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "camera-1", Events: [][]byte{[]byte("f1"), []byte("f2")}, WriterID: "cam1", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "camera-1", Events: [][]byte{[]byte("f1"), []byte("f2")}, WriterID: "cam1", Seq: 1})
	if err != nil || !dup.Duplicate || dup.Offset != -1 {
		t.Fatalf("retrying seq 1: %+v %v, want a duplicate", dup, err)
	}
	got, err := c.ReadSegment(ctx, cams, res.Segment, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 2 || string(got.Events[1].Data) != "f2" || got.Next != got.Events[1].Next {
		t.Fatalf("read back %+v", got)
	}

	// A tail read waits for the next event.
	tail := make(chan streamapi.Events, 1)
	go func() {
		evs, err := c.ReadSegment(ctx, cams, res.Segment, got.Next, 0, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		tail <- evs
	}()
	time.Sleep(50 * time.Millisecond) // let the read start waiting; it works either way
	if _, err := c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "camera-1", Events: [][]byte{[]byte("f3")}}); err != nil {
		t.Fatal(err)
	}
	if evs := <-tail; len(evs.Events) != 1 || string(evs.Events[0].Data) != "f3" {
		t.Fatalf("tail read got %+v", evs)
	}
	// A wait that expires returns no events, not an error.
	if evs, err := c.ReadSegment(ctx, cams, res.Segment, got.Next+6, 0, 10*time.Millisecond); err != nil || len(evs.Events) != 0 {
		t.Fatalf("expired wait: %+v %v", evs, err)
	}

	// Truncation, and reading before the start.
	if err := c.Truncate(ctx, cams, map[uint64]int64{res.Segment: got.Events[1].Offset}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadSegment(ctx, cams, res.Segment, 0, 0, 0); statusOf(err) != http.StatusGone {
		t.Fatalf("reading truncated data: %v, want 410", err)
	}

	// Bad requests are 400s that say what is wrong.
	bad := []struct{ method, path, body, want string }{
		{"PUT", "/streams/v1/scopes/surgery/streams/x", `{"segments":2,"color":"red"}`, "unknown field"},
		{"PUT", "/streams/v1/scopes/surgery/streams/y", `{"segments":5000}`, "segments 5000"},
		{"PUT", "/streams/v1/scopes/surgery/streams/z", `{"retention":{"maxAge":"soon"}}`, "maxAge"},
		{"POST", "/streams/v1/scopes/surgery/streams/cams/events", `{"routingKey":"k","events":[]}`, "no events"},
		{"GET", "/streams/v1/scopes/surgery/streams/cams/segments/abc/events", "", "numeric segment id"},
		{"GET", "/streams/v1/scopes/surgery/streams/cams/segments/0/events?wait=2h", "", "wait"},
		{"GET", "/streams/v1/scopes/surgery/streams/cams/segments/0/events?from=3", "", "offset 3"},
		{"PUT", "/streams/v1/scopes/Bad_Name", "", "scope"},
	}
	for _, b := range bad {
		code, body := raw(t, b.method, url+b.path, b.body)
		if code != http.StatusBadRequest || !strings.Contains(body, b.want) {
			t.Errorf("%s %s: %d %s, want 400 mentioning %q", b.method, b.path, code, body, b.want)
		}
	}
	if _, err := c.Stream(ctx, stream.StreamName{Scope: "surgery", Stream: "nope"}); !streamapi.IsNotFound(err) {
		t.Fatalf("describing a missing stream: %v, want 404", err)
	}
	if err := c.DeleteScope(ctx, "surgery"); !streamapi.IsConflict(err) {
		t.Fatalf("deleting a scope with streams: %v, want 409", err)
	}
	if err := c.DeleteStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if scopes, err := c.Scopes(ctx); err != nil || len(scopes) != 0 {
		t.Fatalf("scopes after deleting: %v %v", scopes, err)
	}
}

func statusOf(err error) int {
	for _, code := range []int{http.StatusGone, http.StatusServiceUnavailable} {
		if strings.Contains(fmt.Sprint(err), fmt.Sprintf("(%d ", code)) {
			return code
		}
	}
	return 0
}

func raw(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

type downLTS struct{}

func (downLTS) Put(context.Context, string, []byte) error { return lts.ErrUnavailable }
func (downLTS) Get(context.Context, string, int64, int64) ([]byte, error) {
	return nil, lts.ErrUnavailable
}
func (downLTS) Delete(context.Context, string) error { return lts.ErrUnavailable }

func TestAPIBackPressure(t *testing.T) {
	ctx := context.Background()
	_, c, _ := serve(t, func(o *stream.Options) {
		o.LTS = downLTS{}
		o.LocalBudgetBytes = 256 << 10
		o.MaxLogFileBytes = 64 << 10
	})
	if err := c.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, cams, streamapi.StreamSpec{}); err != nil {
		t.Fatal(err)
	}
	event := bytes.Repeat([]byte("x"), 16<<10)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: "k", Events: [][]byte{event}})
	}
	if !streamapi.IsBackPressure(err) || !strings.Contains(err.Error(), "budget") {
		t.Fatalf("appending beyond the budget: %v, want 503 BackPressure", err)
	}
}

func TestAPIReaderGroup(t *testing.T) {
	ctx := context.Background()
	_, c, _ := serve(t)
	if err := c.CreateScope(ctx, "surgery"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, cams, streamapi.StreamSpec{Segments: 4}); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		if _, err := c.Append(ctx, cams, streamapi.AppendRequest{RoutingKey: fmt.Sprint("key-", i%8), Events: [][]byte{fmt.Appendf(nil, "%d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateGroup(ctx, "viewers", cams); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"a", "b"} {
		if err := c.Join(ctx, "viewers", r); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for len(seen) < n {
		progress := false
		for _, r := range []string{"a", "b"} {
			evs, err := c.ReadGroup(ctx, "viewers", r, 50, 10*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				seen[string(e.Data)]++
				if seen[string(e.Data)] > 1 {
					t.Fatalf("event %s delivered twice", e.Data)
				}
			}
			progress = progress || len(evs) > 0
		}
		if !progress {
			t.Fatalf("readers stalled after %d of %d events", len(seen), n)
		}
	}
	g, err := c.Checkpoint(ctx, "viewers")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for _, off := range g.Positions {
		total += off
	}
	if len(g.Readers) != 2 || total == 0 {
		t.Fatalf("group after reading: %+v", g)
	}
	if err := c.Leave(ctx, "viewers", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadGroup(ctx, "viewers", "a", 1, 0); !streamapi.IsNotFound(err) {
		t.Fatalf("reading after leaving: %v, want 404", err)
	}
	if err := c.DeleteStream(ctx, cams); !streamapi.IsConflict(err) {
		t.Fatalf("deleting a stream a group reads: %v, want 409", err)
	}
	if err := c.DeleteGroup(ctx, "viewers"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteStream(ctx, cams); err != nil {
		t.Fatal(err)
	}
}
