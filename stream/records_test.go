package stream

import (
	"bytes"
	"testing"
	"time"
)

func TestEventsRecordRoundTrip(t *testing.T) {
	events := [][]byte{[]byte("one"), {}, bytes.Repeat([]byte{7}, 300)}
	in := eventsRecord{stream: 3, segment: NewSegmentID(2, 5), offset: 1000, time: 1234567, seq: 42, writer: "cam-1"}
	b := appendEventsRecord(nil, in, events)
	out, err := decodeEventsRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.stream != 3 || out.segment != in.segment || out.offset != 1000 || out.time != 1234567 || out.seq != 42 || out.writer != "cam-1" || out.count != 3 {
		t.Fatalf("decoded %+v", out)
	}
	got, err := eventsFrom(nil, in.segment, out.frames, out.offset, out.offset, time.Unix(0, out.time))
	if err != nil || len(got) != 3 {
		t.Fatalf("eventsFrom = %d events, %v", len(got), err)
	}
	for i, ev := range got {
		if !bytes.Equal(ev.Data, events[i]) {
			t.Fatalf("event %d = %q, want %q", i, ev.Data, events[i])
		}
	}
	if got[1].Offset != 1000+4+3 || got[2].Offset != got[1].Next || got[2].Next != 1000+int64(len(out.frames)) {
		t.Fatalf("offsets %+v", got)
	}
	// From the second event; and from inside the first, which is refused.
	if rest, err := eventsFrom(nil, in.segment, out.frames, out.offset, got[1].Offset, time.Time{}); err != nil || len(rest) != 2 {
		t.Fatalf("from the second event: %d, %v", len(rest), err)
	}
	if _, err := eventsFrom(nil, in.segment, out.frames, out.offset, out.offset+2, time.Time{}); err == nil {
		t.Fatal("reading from inside an event succeeded")
	}
}

func TestEventsRecordRejectsDamage(t *testing.T) {
	good := appendEventsRecord(nil, eventsRecord{stream: 1, offset: 0, writer: "w", seq: 1}, [][]byte{[]byte("abc")})
	cases := map[string][]byte{
		"short header":       good[:10],
		"count too high":     append(append([]byte{}, good[:eventsHeaderSize+1]...), 9, 0, 0, 0, 3, 0, 0, 0, 'a', 'b', 'c'),
		"truncated frames":   good[:len(good)-1],
		"trailing byte":      append(append([]byte{}, good...), 0),
		"seq without writer": appendEventsRecord(nil, eventsRecord{stream: 1, seq: 4}, [][]byte{[]byte("x")}),
		"no events":          appendEventsRecord(nil, eventsRecord{stream: 1}, nil),
	}
	for name, b := range cases {
		if _, err := decodeEventsRecord(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func FuzzDecodeEventsRecord(f *testing.F) {
	f.Add(appendEventsRecord(nil, eventsRecord{stream: 1, segment: 2, offset: 3, time: 4, seq: 5, writer: "w"}, [][]byte{[]byte("hello"), nil}))
	f.Add(appendEventsRecord(nil, eventsRecord{}, [][]byte{{}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeEventsRecord(b)
		if err != nil {
			return
		}
		evs, err := eventsFrom(nil, r.segment, r.frames, r.offset, r.offset, time.Time{})
		if err != nil || len(evs) != r.count {
			t.Fatalf("decoded record with %d events gives %d events, %v", r.count, len(evs), err)
		}
		data := make([][]byte, len(evs))
		for i, ev := range evs {
			data[i] = ev.Data
		}
		if again := appendEventsRecord(nil, r, data); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
