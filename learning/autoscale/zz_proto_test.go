package autoscale

// THROWAWAY prototype, not to be committed.

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

type protoCfg struct {
	model                         string
	season, r, history, minHist   int
	H                             int // steps: startup + 1
	blockMedian                   bool
	lambda                        float64
	q, target                     float64
	chaseTarget                   float64
	chaseHold                     int
	downWait                      int
	tol                           float64
	level                         bool
	levelDown                     bool
}

type proto struct {
	c        protoCfg
	model    forecast.Model
	fitBlock int
	fitStep  int
	errs     []float64 // sorted relative errors
	bound    float64
	baseAt   map[int]float64
	floor    int
	floorEnd int
	downSince, downMax int
}

func newProto(c protoCfg) *proto {
	return &proto{c: c, fitStep: -1, baseAt: map[int]float64{}, downSince: -1}
}

func (p *proto) Name() string { return "proto:" + p.c.model }

func (p *proto) fit(load []float64, blocks int) {
	r := p.c.r
	from := max(blocks-p.c.history, 0)
	y := make([]float64, 0, blocks-from)
	buf := make([]float64, r)
	for b := from; b < blocks; b++ {
		copy(buf, load[b*r:(b+1)*r])
		if p.c.blockMedian {
			y = append(y, median(buf))
		} else {
			s := 0.0
			for _, v := range buf {
				s += v
			}
			y = append(y, s/float64(r))
		}
	}
	m, _ := forecast.New(p.c.model, p.c.season)
	if err := m.Fit(y); err != nil {
		p.model = nil
		return
	}
	p.model, p.fitBlock = m, blocks
	fitted := m.Fitted()
	p.errs = p.errs[:0]
	for i, v := range load[from*r : blocks*r] {
		f := fitted[i/r]
		if f > 0 && !math.IsInf(f, 0) {
			p.errs = append(p.errs, v/f-1)
		}
	}
	p.bound = errorBound(load[from*r:blocks*r], fitted, r, p.c.q)
	slices.Sort(p.errs)
}

// survival: fraction of errors > x.
func (p *proto) survival(x float64) float64 {
	i, _ := slices.BinarySearch(p.errs, x)
	for i < len(p.errs) && p.errs[i] <= x {
		i++
	}
	return float64(len(p.errs)-i) / float64(len(p.errs))
}

func (p *proto) Decide(o Observation) Decision {
	now := latest(o.Load)
	r := p.c.r
	blocks := len(o.Load) / r
	capa := o.Capacity
	reactive := func() Decision {
		n := max(replicasFor(now, capa, 0.8), 1)
		return Decision{Replicas: p.down(o, n), Forecast: now}
	}
	if blocks < p.c.minHist {
		return reactive()
	}
	if p.model == nil || o.Step-p.fitStep >= r {
		p.fit(o.Load, blocks)
		p.fitStep = o.Step
	}
	if p.model == nil {
		return reactive()
	}
	T := len(o.Load)
	last := (T + p.c.H - 1) / r
	pred, _ := p.model.Predict(last - p.fitBlock + 1)
	at := func(step int) float64 { // baseline forecast of interval step (>= T)
		b := step / r
		if b < p.fitBlock {
			b = p.fitBlock
		}
		return math.Max(pred[b-p.fitBlock], 0)
	}
	p.baseAt[T] = at(T)
	delete(p.baseAt, T-400)
	f := 0.0
	for s := T; s < T+p.c.H; s++ {
		f = math.Max(f, at(s))
	}
	// level correction
	ratio := 1.0
	if p.c.level {
		if b, ok := p.baseAt[T-1]; ok && b > 0 {
			e := now/b - 1
			if e > p.bound {
				ratio = 1 + e
			}
		}
	}
	if p.c.levelDown {
		// slow downward level: mean of last 20 loads over mean of their baselines
		sl, sb := 0.0, 0.0
		for k := 1; k <= 40; k++ {
			if b, ok := p.baseAt[T-k]; ok && T-k < len(o.Load) {
				sl += o.Load[T-k]
				sb += b
			}
		}
		if sb > 0 && sl < sb {
			ratio = math.Max(sl/sb, 0.25) * ratio
		}
	}
	f *= ratio
	var want int
	if p.c.lambda > 0 {
		want = p.newsvendor(f, capa)
	} else {
		want = replicasFor(f*(1+p.bound), capa, p.c.target)
	}
	// chase
	if p.c.chaseTarget > 0 && now > f*(1+p.bound) && (now > float64(o.Ready)*capa || p.floor > 0) {
		p.floor = max(p.floor, replicasFor(now, capa, p.c.chaseTarget))
		p.floorEnd = o.Step + max(p.c.chaseHold, 1)
	} else if o.Step >= p.floorEnd {
		p.floor = 0
	}
	want = max(want, p.floor, 1)
	if want < o.Desired && p.c.tol > 0 {
		if f*(1+p.bound)/(float64(o.Desired)*capa*p.c.target) >= 1-p.c.tol {
			want = o.Desired
		}
	}
	return Decision{Replicas: p.down(o, want), Forecast: f}
}

func (p *proto) newsvendor(f, capa float64) int {
	if f <= 0 {
		return 1
	}
	lo := max(int(math.Ceil(f/capa)), 1)
	hi := int(math.Ceil(f * (1 + p.errs[len(p.errs)*999/1000]) / capa))
	best, bestN := math.Inf(1), lo
	for n := lo; n <= max(hi, lo); n++ {
		c := float64(n) + p.c.lambda*p.survival(float64(n)*capa/f-1)
		if c < best {
			best, bestN = c, n
		}
	}
	return bestN
}

func (p *proto) down(o Observation, rec int) int {
	if rec >= o.Desired || p.c.downWait <= 0 {
		p.downSince = -1
		return rec
	}
	if p.downSince < 0 {
		p.downSince, p.downMax = o.Step, rec
	}
	p.downMax = max(p.downMax, rec)
	if o.Step-p.downSince+1 < p.c.downWait {
		return o.Desired
	}
	p.downSince = -1
	return p.downMax
}

func baseProto(model string) protoCfg {
	return protoCfg{model: model, season: 288, r: 20, history: 4 * 288, minHist: 577, H: 9,
		q: 0.95, target: 0.9, chaseTarget: 0.8, chaseHold: 20, downWait: 20, tol: 0.1}
}

func applyVariant(c protoCfg, v string) protoCfg {
	for _, kv := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(kv, "=")
		f, _ := strconv.ParseFloat(val, 64)
		switch k {
		case "median":
			c.blockMedian = true
		case "lambda":
			c.lambda = f
		case "q":
			c.q = f
		case "target":
			c.target = f
		case "ct":
			c.chaseTarget = f
		case "hold":
			c.chaseHold = int(f)
		case "wait":
			c.downWait = int(f)
		case "tol":
			c.tol = f
		case "level":
			c.level = true
		case "leveldown":
			c.levelDown = true
		}
	}
	return c
}

func TestZZProto(t *testing.T) {
	if os.Getenv("EXPLORE") != "proto" {
		t.Skip()
	}
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	traces := strings.Split(os.Getenv("TRACES"), ",")
	model := os.Getenv("MODEL")
	for _, tn := range traces {
		tr := traceFor(tn, uint64(seed))
		s := setupLike(tr.Load, 1440)
		h := Simulate(s.load, 15*time.Second, s.svc, NewHPA(s.hpa))
		if tn == "operating-room" && os.Getenv("COST") != "" {
			costs(s, h, uint64(seed))
		}
		fmt.Printf("%s seed %d hpa: viol %.2f rh %.1f ev %d cold %d\n", tn, seed, h.SLOViolationMinutes, h.ReplicaHours, h.ScalingEvents, h.ColdStarts)
		for _, v := range strings.Split(os.Getenv("VARIANTS"), "|") {
			p := newProto(applyVariant(baseProto(model), v))
			r := Simulate(s.load, 15*time.Second, s.svc, p)
			if tn == "operating-room" && os.Getenv("COST") != "" {
				costs(s, r, uint64(seed))
			}
			if tn == "operating-room" && os.Getenv("CLASSIFY") != "" {
				classify(s, r, uint64(seed))
			}
			fmt.Printf("%s seed %d [%s]: viol %.2f (%+.0f%%) rh %.1f (%+.1f%%) ev %d cold %d\n", tn, seed, v, r.SLOViolationMinutes, 100*(r.SLOViolationMinutes/h.SLOViolationMinutes-1), r.ReplicaHours, 100*(r.ReplicaHours/h.ReplicaHours-1), r.ScalingEvents, r.ColdStarts)
		}
	}
}

func classify(s cliSetup, r Result, seed uint64) {
	_, burst, _ := orWithBursts(14, seed)
	cat := map[string]float64{}
	for i := s.svc.Warmup; i < len(s.load); i++ {
		if s.load[i] <= r.Series.ReadyCapacity[i]*(1+1e-12) {
			continue
		}
		m := i / 4
		day := m / minutesPerDay
		k := ""
		if burst[m] >= 0 {
			q := burst[m]*4 + i%4
			if q < 9 {
				k = "burst first 2.25m"
			} else {
				k = "burst later"
			}
		} else if m > 0 && burst[m-1] >= 0 {
			k = "just after burst"
		} else {
			k = fmt.Sprintf("no burst h%02d", (m%minutesPerDay)/60)
		}
		cat[fmt.Sprintf("d%02d %s", day, k)] += 0.25
	}
	keys := make([]string, 0, len(cat))
	for k := range cat {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("    %-28s %.2f\n", k, cat[k])
	}
}

func costs(s cliSetup, r Result, seed uint64) {
	_, burst, base := orWithBursts(14, seed)
	cat := map[string]float64{}
	for i := s.svc.Warmup; i < len(s.load); i++ {
		m := i / 4
		day := m / minutesPerDay
		h := (m % minutesPerDay) / 60
		kind := "wkday"
		if day%7 >= 5 {
			kind = "wkend"
		}
		part := "night"
		if h >= 7 && h < 19 {
			part = "day"
		}
		paid := float64(r.Series.Desired[max(i-1, 0)])
		need := math.Max(math.Ceil(base[m]*1.15/10), 1)
		k := kind + " " + part
		cat[k] += paid / 240
		cat[k+" need"] += need / 240
		if burst[m] >= 0 || (m >= 8 && burst[m-8] >= 0) {
			cat[k+" burst+8m"] += (paid - need) / 240
		}
	}
	keys := make([]string, 0, len(cat))
	for k := range cat {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Printf("    %-28s %.1f\n", k, cat[k])
	}
}
