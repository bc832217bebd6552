package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary bytes to the frame reader and decoder,
// as a hostile client would: they must never panic, and whatever decodes
// must encode and decode again to the same message.
func FuzzDecodeFrame(f *testing.F) {
	for _, m := range examples() {
		f.Add(AppendFrame(nil, 1, m))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x30, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			fr, err := ReadFrame(r)
			if err != nil {
				return
			}
			m, err := Decode(fr)
			if err != nil {
				continue
			}
			again, err := Decode(Frame{Type: fr.Type, ID: fr.ID, Payload: AppendFrame(nil, fr.ID, m)[HeaderSize:]})
			if err != nil {
				t.Fatalf("%s decoded, but its encoding does not: %v", fr.Type, err)
			}
			if !reflect.DeepEqual(normal(again), normal(m)) {
				t.Fatalf("%s: decoded %#v, re-decoded %#v", fr.Type, m, again)
			}
		}
	})
}

// FuzzDecodePayload decodes arbitrary payloads as every message type.
func FuzzDecodePayload(f *testing.F) {
	for _, m := range examples() {
		f.Add(uint8(m.Type()), AppendFrame(nil, 1, m)[HeaderSize:])
	}
	f.Fuzz(func(t *testing.T, typ uint8, payload []byte) {
		m, err := Decode(Frame{Type: Type(typ), Payload: payload})
		if err != nil {
			return
		}
		if got := AppendFrame(nil, 0, m)[HeaderSize:]; len(got) > len(payload) {
			t.Fatalf("%s: %d payload bytes decoded to a message that encodes to %d", Type(typ), len(payload), len(got))
		}
	})
}

// normal makes decoded messages comparable: times compare by instant.
func normal(m Message) Message {
	if e, ok := m.(*Events); ok {
		c := *e
		c.Events = append(c.Events[:0:0], e.Events...)
		for i := range c.Events {
			c.Events[i].Time = c.Events[i].Time.UTC()
		}
		return &c
	}
	return m
}
