package metadata

import (
	"errors"
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
