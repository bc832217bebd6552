package prewarm

import "fmt"

// Advice is a policy's answer for one application at one minute: the
// window that follows its last invocation and whether its instance should
// be loaded now.
type Advice struct {
	Policy string `json:"policy"`
	// Window follows the last invocation, in minutes after it.
	Window Window `json:"window"`
	Mode   Mode   `json:"mode"`
	// LastInvocation is the minute of the last invocation (-1: none seen);
	// IdleFor is how many minutes ago it was.
	LastInvocation int `json:"lastInvocation"`
	IdleFor        int `json:"idleFor"`
	// Warm says whether the instance should be loaded now.
	Warm bool `json:"warm"`
	// IdleTimes is how many idle times the history held.
	IdleTimes int `json:"idleTimes"`
	// Confidence is the share of the history's idle times the window
	// would have caught warm: the policy's hit rate on what it learnt.
	Confidence float64 `json:"confidence"`
	Reason     string  `json:"reason"`
}

// Advise replays per-minute invocation counts (counts[i] invocations in
// minute i, the last entry being the current minute) through a fresh
// tracker of p and says what to do now. Pure: the same counts give the
// same advice.
func Advise(p Policy, counts []int) Advice {
	tr := p.NewTracker()
	adv := Advice{Policy: p.Name(), LastInvocation: -1}
	var idles []int
	for m, c := range counts {
		if c <= 0 {
			continue
		}
		if adv.LastInvocation >= 0 {
			idles = append(idles, m-adv.LastInvocation)
		}
		d := tr.Invoked(m)
		adv.Window, adv.Mode, adv.LastInvocation = d.Window, d.Mode, m
	}
	now := len(counts) - 1
	adv.IdleTimes = len(idles)
	if adv.LastInvocation < 0 {
		adv.Reason = fmt.Sprintf("%s: no invocation in the last %d minutes: keep unloaded", p.Name(), len(counts))
		return adv
	}
	adv.IdleFor = now - adv.LastInvocation
	adv.Warm = adv.IdleFor == 0 || adv.Window.covers(adv.IdleFor) || (adv.Window.Start <= 1 && adv.IdleFor <= adv.Window.End)
	hits := 0
	for _, d := range idles {
		if adv.Window.covers(d) || (adv.Window.Start <= 1 && d <= adv.Window.End) {
			hits++
		}
	}
	if len(idles) > 0 {
		adv.Confidence = float64(hits) / float64(len(idles))
	}
	state := "unload"
	if adv.Warm {
		state = "keep loaded"
	}
	adv.Reason = fmt.Sprintf("%s (%s): last invocation %d min ago, window %d–%d min after it: %s; the window catches %d of %d past idle times",
		p.Name(), adv.Mode, adv.IdleFor, adv.Window.Start, adv.Window.End, state, hits, len(idles))
	return adv
}
