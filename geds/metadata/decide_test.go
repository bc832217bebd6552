package metadata

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestHolderAlive(t *testing.T) {
	const timeout = 10 * time.Second
	for _, c := range []struct {
		name       string
		h          Holder
		start, now time.Time
		wantAlive  bool
	}{
		{"fresh heartbeat", Holder{LastHeartbeat: t0}, t0.Add(-time.Hour), t0.Add(time.Second), true},
		{"silent exactly the timeout", Holder{LastHeartbeat: t0}, t0.Add(-time.Hour), t0.Add(timeout), true},
		{"silent past the timeout", Holder{LastHeartbeat: t0}, t0.Add(-time.Hour), t0.Add(timeout + time.Nanosecond), false},
		{"declared dead", Holder{LastHeartbeat: t0, Dead: true}, t0.Add(-time.Hour), t0, false},
		{"server restarted after the last heartbeat: grace from start", Holder{LastHeartbeat: t0}, t0.Add(time.Minute), t0.Add(time.Minute + timeout), true},
		{"grace over", Holder{LastHeartbeat: t0}, t0.Add(time.Minute), t0.Add(time.Minute + timeout + time.Second), false},
	} {
		if got := HolderAlive(c.h, c.start, c.now, timeout); got != c.wantAlive {
			t.Errorf("%s: HolderAlive = %v, want %v", c.name, got, c.wantAlive)
		}
	}
}

func held(state State, tier Tier) Object {
	return Object{Bucket: "bkt", Key: "k", ID: "id1", Size: 5, State: state, Tier: tier,
		Holder: &HolderRef{Node: "n1", Incarnation: "i1"}}
}

func TestAfterHolderLoss(t *testing.T) {
	for _, c := range []struct {
		name      string
		in        Object
		wantState State
		wantTier  Tier
		changed   bool
	}{
		{"sealed local only is lost", held(StateSealed, TierLocal), StateLost, TierLocal, true},
		{"open is lost", held(StateOpen, TierLocal), StateLost, TierLocal, true},
		{"persisted survives in s3", held(StateSealed, TierBoth), StateSealed, TierS3, true},
		{"spilled has no holder: unchanged", Object{State: StateSealed, Tier: TierS3}, StateSealed, TierS3, false},
		{"lost stays lost", Object{State: StateLost, Tier: TierLocal, Holder: &HolderRef{Node: "n1"}}, StateLost, TierLocal, false},
	} {
		got, changed := AfterHolderLoss(c.in, "n1 died")
		if got.State != c.wantState || got.Tier != c.wantTier || changed != c.changed {
			t.Errorf("%s: got state %s tier %s changed %v, want %s %s %v", c.name, got.State, got.Tier, changed, c.wantState, c.wantTier, c.changed)
		}
		if c.changed && got.Holder != nil {
			t.Errorf("%s: holder %+v kept after its loss", c.name, got.Holder)
		}
		if got.State == StateLost && c.changed && got.LostReason != "n1 died" {
			t.Errorf("%s: lost reason %q", c.name, got.LostReason)
		}
	}
}

func TestApplySeal(t *testing.T) {
	open := held(StateOpen, TierLocal)
	ok := SealRequest{ID: "id1", Node: "n1", Incarnation: "i1", Size: 42, ETag: "e"}
	sealed, err := ApplySeal(open, ok, t0)
	if err != nil || sealed.State != StateSealed || sealed.Size != 42 || sealed.ETag != "e" || !sealed.Sealed.Equal(t0) {
		t.Fatalf("seal = %+v, %v", sealed, err)
	}
	if again, err := ApplySeal(sealed, ok, t0.Add(time.Hour)); err != nil || !again.Sealed.Equal(t0) {
		t.Errorf("repeated seal = %+v, %v; want the first seal kept", again, err)
	}
	for _, c := range []struct {
		name string
		o    Object
		req  SealRequest
		want error
	}{
		{"other life of the key", open, SealRequest{ID: "id2", Node: "n1", Incarnation: "i1"}, ErrConflict},
		{"not the writer", open, SealRequest{ID: "id1", Node: "n2", Incarnation: "i1"}, ErrConflict},
		{"writer restarted", open, SealRequest{ID: "id1", Node: "n1", Incarnation: "i2"}, ErrConflict},
		{"sealed with another size", sealed, SealRequest{ID: "id1", Node: "n1", Incarnation: "i1", Size: 7}, ErrConflict},
		{"lost", held(StateLost, TierLocal), ok, ErrLost},
	} {
		if _, err := ApplySeal(c.o, c.req, t0); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := ApplySeal(open, SealRequest{ID: "id1", Node: "n1", Incarnation: "i1", Size: -1}, t0); err == nil {
		t.Error("negative size accepted")
	}
}

func TestApplyTier(t *testing.T) {
	for _, c := range []struct {
		name     string
		from     Tier
		state    State
		to       Tier
		want     Tier
		wantErr  error
		noHolder bool
	}{
		{"persist", TierLocal, StateSealed, TierBoth, TierBoth, nil, false},
		{"persist again", TierBoth, StateSealed, TierBoth, TierBoth, nil, false},
		{"spill", TierLocal, StateSealed, TierS3, TierS3, nil, true},
		{"spill persisted", TierBoth, StateSealed, TierS3, TierS3, nil, true},
		{"spill again", TierS3, StateSealed, TierS3, TierS3, nil, true},
		{"back from s3", TierS3, StateSealed, TierBoth, "", ErrConflict, false},
		{"open", TierLocal, StateOpen, TierBoth, "", ErrConflict, false},
		{"lost", TierLocal, StateLost, TierS3, "", ErrLost, false},
	} {
		o := held(c.state, c.from)
		if c.from == TierS3 {
			o.Holder = nil
		}
		got, err := ApplyTier(o, TierRequest{ID: "id1", Tier: c.to})
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.Tier != c.want || (got.Holder == nil) != c.noHolder {
			t.Errorf("%s: got tier %s holder %v err %v", c.name, got.Tier, got.Holder, err)
		}
	}
	if _, err := ApplyTier(held(StateSealed, TierLocal), TierRequest{ID: "other", Tier: TierS3}); !errors.Is(err, ErrConflict) {
		t.Errorf("tier change of another life: %v", err)
	}
}

func TestCanCreate(t *testing.T) {
	if err := CanCreate(held(StateLost, TierLocal)); err != nil {
		t.Errorf("recreating a lost object: %v", err)
	}
	for _, s := range []State{StateOpen, StateSealed} {
		if err := CanCreate(held(s, TierLocal)); !errors.Is(err, ErrExists) {
			t.Errorf("recreating a %s object: %v", s, err)
		}
	}
}

func TestApplyReplace(t *testing.T) {
	src := held(StateSealed, TierLocal)
	src.Bucket, src.Key = "staging", "tmp"
	req := ReplaceRequest{FromBucket: "staging", FromKey: "tmp", ID: "id1", Node: "n1", Incarnation: "i1"}
	old := func(state State, tier Tier) *Object {
		o := held(state, tier)
		o.ID = "old"
		return &o
	}
	got, err := ApplyReplace(src, req, nil, "bkt", "k")
	if err != nil || got.Bucket != "bkt" || got.Key != "k" || got.ID != "id1" || got.StaleS3 {
		t.Fatalf("onto a free key: %+v, %v", got, err)
	}
	for _, c := range []struct {
		old       *Object
		wantStale bool
	}{
		{old(StateSealed, TierLocal), false},
		{old(StateLost, TierLocal), false},
		{old(StateSealed, TierBoth), true},
		{old(StateSealed, TierS3), true},
		{func() *Object { o := old(StateSealed, TierLocal); o.StaleS3 = true; return o }(), true},
	} {
		got, err := ApplyReplace(src, req, c.old, "bkt", "k")
		if err != nil || got.ID != "id1" || got.StaleS3 != c.wantStale {
			t.Errorf("over a %s object in tier %s (stale %t): %+v, %v; want staleS3 %t", c.old.State, c.old.Tier, c.old.StaleS3, got, err, c.wantStale)
		}
	}
	refuse := []struct {
		name string
		src  func(Object) Object
		req  func(ReplaceRequest) ReplaceRequest
		old  *Object
		want error
	}{
		{"another life", nil, func(r ReplaceRequest) ReplaceRequest { r.ID = "id2"; return r }, nil, ErrConflict},
		{"not its holder", nil, func(r ReplaceRequest) ReplaceRequest { r.Node = "n2"; return r }, nil, ErrConflict},
		{"open source", func(o Object) Object { o.State = StateOpen; return o }, nil, nil, ErrConflict},
		{"lost source", func(o Object) Object { o.State = StateLost; return o }, nil, nil, ErrLost},
		{"persisted source", func(o Object) Object { o.Tier = TierBoth; return o }, nil, nil, ErrConflict},
		{"target being written", nil, nil, old(StateOpen, TierLocal), ErrExists},
	}
	for _, c := range refuse {
		s, r := src, req
		if c.src != nil {
			s = c.src(s)
		}
		if c.req != nil {
			r = c.req(r)
		}
		if _, err := ApplyReplace(s, r, c.old, "bkt", "k"); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := ApplyReplace(src, req, nil, "staging", "tmp"); err == nil {
		t.Error("replacing an object with itself was accepted")
	}
	spilled, err := ApplyTier(func() Object { o := held(StateSealed, TierLocal); o.StaleS3 = true; return o }(), TierRequest{ID: "id1", Tier: TierS3})
	if err != nil || spilled.StaleS3 {
		t.Errorf("spilling a life over stale bytes left staleS3 set: %+v, %v", spilled, err)
	}
}

// TestS3ETagFollowsTheCopies: the record's S3ETag names what the
// persistency tier holds under the key, as the copies are made, replaced
// and inherited.
func TestS3ETagFollowsTheCopies(t *testing.T) {
	tier := func(o Object, to Tier, etag string) Object {
		t.Helper()
		got, err := ApplyTier(o, TierRequest{ID: o.ID, Tier: to, S3ETag: etag})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	persisted := tier(held(StateSealed, TierLocal), TierBoth, "e1")
	if persisted.S3ETag != "e1" || persisted.LifeS3ETag() != "e1" {
		t.Fatalf("persist: S3ETag %q, life's %q; want e1", persisted.S3ETag, persisted.LifeS3ETag())
	}
	if got := tier(persisted, TierS3, ""); got.S3ETag != "e1" {
		t.Errorf("spill after persist, no new copy: S3ETag %q; want e1 kept", got.S3ETag)
	}
	if got := tier(persisted, TierBoth, "e2"); got.S3ETag != "e2" {
		t.Errorf("a repeated persist naming a new copy: S3ETag %q; want e2", got.S3ETag)
	}

	// A new life over the copy inherits its ETag as the stale copy's...
	src := held(StateSealed, TierLocal)
	src.Bucket, src.Key, src.ID = "staging", "tmp", "id2"
	req := ReplaceRequest{FromBucket: "staging", FromKey: "tmp", ID: "id2", Node: "n1", Incarnation: "i1"}
	next, err := ApplyReplace(src, req, &persisted, "bkt", "k")
	if err != nil || !next.StaleS3 || next.S3ETag != "e1" || next.LifeS3ETag() != "" {
		t.Fatalf("replace: %+v, %v; want staleS3 with S3ETag e1, and no copy of its own", next, err)
	}
	// ...and again over a life that never got its own copy.
	src.ID, req.ID = "id3", "id3"
	third, err := ApplyReplace(src, req, &next, "bkt", "k")
	if err != nil || !third.StaleS3 || third.S3ETag != "e1" {
		t.Fatalf("replace of a stale life: %+v, %v; want the stale copy's e1", third, err)
	}
	// Its own copy replaces the stale one.
	if got := tier(third, TierS3, "e3"); got.StaleS3 || got.S3ETag != "e3" || got.LifeS3ETag() != "e3" {
		t.Errorf("spill over the stale copy: %+v; want S3ETag e3, staleS3 cleared", got)
	}
	// A copy whose ETag the copier did not say forgets the stale one's.
	if got := tier(third, TierBoth, ""); got.S3ETag != "" {
		t.Errorf("persist without an ETag over a stale copy: S3ETag %q; want none", got.S3ETag)
	}
	// Over a life with nothing in S3, there is nothing to inherit.
	local := held(StateSealed, TierLocal)
	local.ID, local.S3ETag = "old", ""
	src.ID, req.ID = "id4", "id4"
	if got, _ := ApplyReplace(src, req, &local, "bkt", "k"); got.StaleS3 || got.S3ETag != "" {
		t.Errorf("replace of a local life: %+v; want no stale copy, no ETag", got)
	}
}

// TestObjectWithoutS3ETagDecodes: records stored before S3ETag existed
// decode with none, and one without an ETag is stored without the field.
func TestObjectWithoutS3ETagDecodes(t *testing.T) {
	old := `{"bucket":"b","key":"k","id":"X","size":3,"tier":"s3","state":"sealed","created":"2026-05-01T12:00:00Z","staleS3":false}`
	var o Object
	if err := json.Unmarshal([]byte(old), &o); err != nil {
		t.Fatal(err)
	}
	if o.Tier != TierS3 || o.S3ETag != "" || o.LifeS3ETag() != "" {
		t.Fatalf("decoded %+v; want tier s3 and no ETag", o)
	}
	out, err := json.Marshal(o)
	if err != nil || strings.Contains(string(out), "s3ETag") {
		t.Fatalf("encoded %s, %v; want no s3ETag field", out, err)
	}
	o.S3ETag = "abc"
	if out, _ := json.Marshal(o); !strings.Contains(string(out), `"s3ETag":"abc"`) {
		t.Fatalf("encoded %s; want s3ETag", out)
	}
}
