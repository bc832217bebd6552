package mpi

import (
	"testing"
)

// FuzzRestoreWorld feeds RestoreWorld rank states decoded from arbitrary
// bytes: it must refuse what is not a cut with an error, never panic.
func FuzzRestoreWorld(f *testing.F) {
	f.Add([]byte(`{"rank":0,"worldSize":1,"comms":[null,{"context":1,"rank":0},{"context":2,"rank":0}],"groups":{"1":[0],"2":[0]}}`))
	f.Add([]byte(`{"rank":0,"worldSize":1,"comms":[null,{"context":1,"rank":0},{"context":2,"rank":0},{"context":9,"rank":3}],"groups":{"1":[0],"9":[0,0]}}`))
	f.Add([]byte(`{"rank":0,"worldSize":1,"comms":[null,{"context":1},{"context":2}],"groups":{"1":[0]},"requests":[{"context":1,"bufLen":-1}],"freeRequests":[5]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalRankState(b)
		if err != nil || s.WorldSize != 1 {
			return
		}
		w, err := RestoreWorld([]*RankState{s}, Options{})
		if err != nil {
			return
		}
		// A restored rank answers like any other.
		if _, err := w.Rank(0).CommSize(CommWorld); err != nil {
			t.Fatalf("restored world: %v", err)
		}
	})
}
