package prewarm

import (
	"strings"
	"testing"
)

func TestAdviseFollowsTheWindowAfterTheLastInvocation(t *testing.T) {
	// Invoked every 10 minutes for 4 hours: the hybrid policy learns the
	// rhythm and loads the instance shortly before the next invocation.
	counts := func(idle int) []int {
		c := make([]int, 240)
		for m := len(c) - 1 - idle; m >= 0; m -= 10 {
			c[m] = 1
		}
		return c
	}
	a := Advise(DefaultHybrid(), counts(3))
	if a.Mode != ModeHistogram || a.IdleFor != 3 || a.Warm || a.Window.Start > 9 || a.Window.End < 10 {
		t.Fatalf("3 minutes after: %+v", a)
	}
	if a.IdleTimes != 23 || a.Confidence != 1 {
		t.Fatalf("every past idle time was 10 minutes, inside the window: %d idle times, confidence %v", a.IdleTimes, a.Confidence)
	}
	if a := Advise(DefaultHybrid(), counts(10)); !a.Warm || !strings.Contains(a.Reason, "keep loaded") {
		t.Fatalf("at the expected next invocation: %+v", a)
	}
	if a := Advise(DefaultHybrid(), counts(0)); !a.Warm {
		t.Fatalf("in an invocation's minute the instance is loaded: %+v", a)
	}
	if a := Advise(Fixed{KeepAlive: 5}, counts(7)); a.Warm || a.Confidence != 0 {
		t.Fatalf("a 5-minute keep-alive catches none of the 10-minute gaps: %+v", a)
	}
	if a := Advise(DefaultHybrid(), make([]int, 60)); a.LastInvocation != -1 || a.Warm || a.IdleTimes != 0 {
		t.Fatalf("no invocation: %+v", a)
	}
}
