package stream

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/stream/wal"
)

// memStore is a store with no log, enough to apply records to: a stream
// of two segments, one of them with data, and a reader group.
func memStore(t testing.TB) *Store {
	t.Helper()
	s := &Store{opts: Options{}.withDefaults(), scopes: map[string]bool{"surgery": true}, streams: map[StreamName]*streamState{},
		byNo: map[uint32]*streamState{}, groups: map[string]*ReaderGroup{}, done: make(chan struct{})}
	s.log, s.now = s.opts.Log, s.opts.Now
	s.metrics = newMetrics(s)
	name := StreamName{Scope: "surgery", Stream: "cams"}
	err := s.installStream(streamRecord{No: 0, Name: name, Config: StreamConfig{Segments: 2}, Segments: []segmentRecord{
		{ID: 0, Range: KeyRange{Low: 0, High: 0.5}, End: 100, Writers: map[string]int64{"w": 3}},
		{ID: 1, Range: KeyRange{Low: 0.5, High: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.installGroup(groupRecord{Name: "g", Stream: name, StreamNo: 0, Positions: StreamCut{0: 40, 1: 0}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// FuzzScaleRecord replays arbitrary scale records: a record is applied or
// refused with an error, never a panic, and what is applied leaves a state
// whose checkpoint loads again.
func FuzzScaleRecord(f *testing.F) {
	split, _ := json.Marshal(scaleRecord{No: 0, Epoch: 1, Time: time.Unix(0, 0).UTC(), Sealed: StreamCut{0: 100}, Segments: []scaledSegment{
		{ID: NewSegmentID(1, 2), Range: KeyRange{Low: 0, High: 0.25}, Predecessors: []SegmentID{0}},
		{ID: NewSegmentID(1, 3), Range: KeyRange{Low: 0.25, High: 0.5}, Predecessors: []SegmentID{0}},
	}})
	merge, _ := json.Marshal(scaleRecord{No: 0, Epoch: 1, Sealed: StreamCut{0: 100, 1: 0}, Segments: []scaledSegment{
		{ID: NewSegmentID(1, 2), Range: KeyRange{Low: 0, High: 1}, Predecessors: []SegmentID{0, 1}},
	}})
	f.Add(split)
	f.Add(merge)
	f.Add([]byte(`{"no":0,"epoch":1,"sealed":{"0":99},"segments":[]}`))
	f.Add([]byte(`{"no":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := memStore(t)
		if err := s.applyMeta(wal.Entry{Record: wal.Record{Type: recScale, Data: b}}); err != nil {
			return
		}
		st := s.byNo[0]
		if err := checkTiling(st.ranges); err != nil {
			t.Fatalf("applied %s: %v", b, err)
		}
		again := memStore(t)
		if err := again.loadCheckpoint(s.checkpoint()); err != nil {
			t.Fatalf("applied %s: its checkpoint does not load: %v", b, err)
		}
	})
}

func TestScaleRecordMustMatchTheState(t *testing.T) {
	good := scaleRecord{No: 0, Epoch: 1, Sealed: StreamCut{0: 100}, Segments: []scaledSegment{
		{ID: NewSegmentID(1, 2), Range: KeyRange{Low: 0, High: 0.5}, Predecessors: []SegmentID{0}},
	}}
	bad := map[string]func(*scaleRecord){
		"wrong end":          func(r *scaleRecord) { r.Sealed = StreamCut{0: 99} },
		"wrong epoch":        func(r *scaleRecord) { r.Epoch = 2 },
		"reused number":      func(r *scaleRecord) { r.Segments[0].ID = NewSegmentID(1, 1) },
		"wrong predecessors": func(r *scaleRecord) { r.Segments[0].Predecessors = []SegmentID{1} },
		"gap":                func(r *scaleRecord) { r.Segments[0].Range.High = 0.4 },
		"unknown stream":     func(r *scaleRecord) { r.No = 9 },
	}
	for name, change := range bad {
		r := good
		r.Segments = []scaledSegment{good.Segments[0]}
		change(&r)
		b, _ := json.Marshal(r)
		if err := memStore(t).applyMeta(wal.Entry{Record: wal.Record{Type: recScale, Data: b}}); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	s := memStore(t)
	b, _ := json.Marshal(good)
	if err := s.applyMeta(wal.Entry{Record: wal.Record{Type: recScale, Data: b}}); err != nil {
		t.Fatal(err)
	}
	if seg := s.byNo[0].byID[NewSegmentID(1, 2)]; seg.writers["w"].seq != 3 {
		t.Fatalf("successor's writers %v", seg.writers)
	}
	// The group was at 40 of the sealed segment: it stays there.
	if pos := s.groups["g"].Positions(); len(pos) != 2 || pos[0] != 40 {
		t.Fatalf("group positions %v", pos)
	}
}
