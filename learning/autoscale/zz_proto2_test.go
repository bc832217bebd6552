package autoscale

// THROWAWAY prototype 2, not to be committed.

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

type p2Cfg struct {
	model                       string
	season, r, history, minHist int
	H                           int
	median                      bool
	q                           float64 // quantile of rho
	lambda                      float64
	tol                         float64
	wait                        int // steps before scale-down
	smooth                      int // steps of mean for now
	noRatio                     bool
	pure                        bool // also max with pure forecast
	window                      int  // rho window in steps
}

type p2 struct {
	c        p2Cfg
	model    forecast.Model
	fitted   []float64
	fitBlock int
	fitStep  int
	eps      float64
	preds    []float64 // predicted need per step (index = step)
	rho      []float64 // ring of realised ratios
	rhoQ     float64
	sorted   []float64
	downSince, downMax int
}

func newP2(c p2Cfg) *p2 { return &p2{c: c, fitStep: -1, downSince: -1, rhoQ: 1.1} }

func (p *p2) Name() string { return "p2:" + p.c.model }

func (p *p2) fit(load []float64, blocks int) {
	r := p.c.r
	from := max(blocks-p.c.history, 0)
	y := make([]float64, 0, blocks-from)
	buf := make([]float64, r)
	sum := 0.0
	for b := from; b < blocks; b++ {
		copy(buf, load[b*r:(b+1)*r])
		v := 0.0
		if p.c.median {
			v = median(buf)
		} else {
			for _, x := range buf {
				v += x
			}
			v /= float64(r)
		}
		y = append(y, v)
		sum += v
	}
	m, _ := forecast.New(p.c.model, p.c.season)
	if err := m.Fit(y); err != nil {
		p.model = nil
		return
	}
	p.model, p.fitBlock, p.fitted = m, blocks, m.Fitted()
	p.eps = 0.05 * sum / float64(len(y))
	// quantile of rho
	if len(p.rho) > 100 {
		p.sorted = append(p.sorted[:0], p.rho...)
		slices.Sort(p.sorted)
		if p.c.q > 0 {
			p.rhoQ = p.sorted[int(p.c.q*float64(len(p.sorted)-1))]
		}
	}
}

func (p *p2) survival(x float64) float64 {
	i, _ := slices.BinarySearch(p.sorted, x)
	for i < len(p.sorted) && p.sorted[i] <= x {
		i++
	}
	return float64(len(p.sorted)-i) / float64(len(p.sorted))
}

func (p *p2) Decide(o Observation) Decision {
	T := len(o.Load)
	now := latest(o.Load)
	if p.c.smooth > 1 {
		s := 0.0
		k := min(p.c.smooth, T)
		for _, v := range o.Load[T-k:] {
			s += v
		}
		now = math.Max(now, s/float64(k)) // never below now? keep simple: mean
		now = s / float64(k)
	}
	// record realised ratio for the prediction made H steps ago
	if t0 := T - 1 - p.c.H; t0 >= 0 && t0 < len(p.preds) && p.preds[t0] > 0 {
		R := 0.0
		for _, v := range o.Load[t0+1 : T] {
			R = math.Max(R, v)
		}
		p.rho = append(p.rho, R/p.preds[t0])
		if len(p.rho) > p.c.window {
			p.rho = p.rho[1:]
		}
	}
	r := p.c.r
	blocks := T / r
	base := now
	if blocks >= p.c.minHist {
		if p.model == nil || o.Step-p.fitStep >= r {
			p.fit(o.Load, blocks)
			p.fitStep = o.Step
		}
	}
	if p.model != nil && !p.c.noRatio {
		last := (T - 1 + p.c.H) / r
		pred, _ := p.model.Predict(last - p.fitBlock + 1)
		at := func(b int) float64 {
			if b >= p.fitBlock {
				return pred[b-p.fitBlock]
			}
			v := p.fitted[len(p.fitted)-(p.fitBlock-b)]
			if math.IsNaN(v) {
				return 0
			}
			return v
		}
		ref := math.Max(at((T-1)/r), p.eps)
		g := 0.0
		pm := 0.0
		for h := 1; h <= p.c.H; h++ {
			v := math.Max(at((T-1+h)/r), 0)
			g = math.Max(g, math.Max(v, p.eps)/ref)
			pm = math.Max(pm, v)
		}
		base = now * g
		if p.c.pure {
			base = math.Max(base, pm)
		}
	}
	for len(p.preds) < T-1 {
		p.preds = append(p.preds, 0)
	}
	p.preds = append(p.preds[:T-1], base)
	var want int
	if p.c.lambda > 0 && len(p.sorted) > 100 {
		want = p.newsvendor(base, o.Capacity)
	} else {
		want = int(math.Ceil(base*p.rhoQ/o.Capacity - 1e-9))
	}
	want = max(want, 1)
	if want < o.Desired && p.c.tol > 0 && base*p.rhoQ >= float64(o.Desired)*o.Capacity*(1-p.c.tol) {
		want = o.Desired
	}
	return Decision{Replicas: p.down(o, want), Forecast: base}
}

func (p *p2) newsvendor(f, capa float64) int {
	if f <= 0 {
		return 1
	}
	lo := max(int(math.Ceil(f/capa)), 1)
	hi := int(math.Ceil(f * p.sorted[len(p.sorted)*999/1000] / capa))
	best, bestN := math.Inf(1), lo
	for n := lo; n <= max(hi, lo); n++ {
		c := float64(n) + p.c.lambda*p.survival(float64(n)*capa/f)
		if c < best {
			best, bestN = c, n
		}
	}
	return bestN
}

func (p *p2) down(o Observation, rec int) int {
	if rec >= o.Desired || p.c.wait <= 0 {
		p.downSince = -1
		return rec
	}
	if p.downSince < 0 {
		p.downSince, p.downMax = o.Step, rec
	}
	p.downMax = max(p.downMax, rec)
	if o.Step-p.downSince+1 < p.c.wait {
		return o.Desired
	}
	p.downSince = -1
	return p.downMax
}

func p2Variant(model, v string) p2Cfg {
	c := p2Cfg{model: model, season: 288, r: 20, history: 4 * 288, minHist: 577, H: 9, q: 0.95, window: 4 * 5760}
	for _, kv := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(kv, "=")
		f, _ := strconv.ParseFloat(val, 64)
		switch k {
		case "median":
			c.median = true
		case "q":
			c.q = f
		case "lambda":
			c.lambda = f
		case "tol":
			c.tol = f
		case "wait":
			c.wait = int(f)
		case "smooth":
			c.smooth = int(f)
		case "noratio":
			c.noRatio = true
		case "pure":
			c.pure = true
		case "window":
			c.window = int(f)
		}
	}
	return c
}

func TestZZP2(t *testing.T) {
	if os.Getenv("EXPLORE") != "p2" {
		t.Skip()
	}
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	model := os.Getenv("MODEL")
	for _, tn := range strings.Split(os.Getenv("TRACES"), ",") {
		tr := traceFor(tn, uint64(seed))
		s := setupLike(tr.Load, 1440)
		h := Simulate(s.load, 15*time.Second, s.svc, NewHPA(s.hpa))
		fmt.Printf("%s seed %d hpa: viol %.2f rh %.1f ev %d cold %d\n", tn, seed, h.SLOViolationMinutes, h.ReplicaHours, h.ScalingEvents, h.ColdStarts)
		for _, v := range strings.Split(os.Getenv("VARIANTS"), "|") {
			r := Simulate(s.load, 15*time.Second, s.svc, newP2(p2Variant(model, v)))
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
