package qos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// site is a synthetic site whose fps follows a known linear law.
type site struct {
	name        string
	cores, edge float64
	latencyMs   float64
}

// fpsLaw is the truth the model must recover: fps rises with free cores,
// falls with the cells sharing the site and with data latency.
func fpsLaw(f Features) float64 {
	return 10 + 2.5*f.SiteFreeCores - 0.8*f.SiteCells - 0.1*f.DataLatencyMs + 0.004*f.CPUMillicores
}

// observe samples placements at sites whose load varies over time, with
// seeded noise of the given standard deviation.
func observe(sites []site, perSite int, noise float64, seed uint64) []Sample {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []Sample
	for _, s := range sites {
		for i := range perSite {
			cells := float64(i % 7)
			f := Features{
				CPUMillicores: float64(250 * (1 + i%4)), MemoryBytes: 256 << 20,
				SiteCores: s.cores, SiteFreeCores: s.cores - 0.5*cells - rng.Float64(),
				SiteCells: cells, Edge: s.edge, DataLatencyMs: s.latencyMs,
			}
			out = append(out, Sample{Features: f, Value: fpsLaw(f) + noise*rng.NormFloat64(), Group: s.name})
		}
	}
	return out
}

var fleet = []site{
	{"edge-a", 4, 1, 2}, {"edge-b", 8, 1, 5}, {"cloud-a", 16, 0, 40}, {"cloud-b", 32, 0, 60},
}

func TestFitRecoversALinearLaw(t *testing.T) {
	m, err := Fit("fps", observe(fleet, 30, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"site_free_cores": 2.5, "site_cells": -0.8, "cpu_millicores": 0.004}
	got := m.Coefficients()
	for name, w := range want {
		if math.Abs(got[name]-w) > 0.02*math.Abs(w) {
			t.Errorf("%s: weight %.5g, want %.5g (all %v)", name, got[name], w, got)
		}
	}
	// Latency, cores and edge are site-level: with a site left out, three
	// sites cannot pin four site-level terms, so the honest leave-one-site-out
	// error is above zero even without noise; it stays small.
	if m.ErrorRMSE > 1 || m.CrossValidation != "leave-one-site-out" || m.Samples != 120 || m.Groups != 4 {
		t.Errorf("model %s (%d samples, %d groups)", m, m.Samples, m.Groups)
	}
	if _, ok := got["memory_bytes"]; ok {
		t.Errorf("memory never varied but has a weight: %v", got)
	}
	f := Features{CPUMillicores: 500, MemoryBytes: 256 << 20, SiteCores: 12, SiteFreeCores: 9, SiteCells: 3, Edge: 1, DataLatencyMs: 10}
	p, err := m.Predict(f)
	if err != nil || math.Abs(p.Value-fpsLaw(f)) > 0.5 || p.Confidence < 0.8 {
		t.Errorf("predict %+v: %+v %v, want %.3g with high confidence", f, p, err, fpsLaw(f))
	}
}

// TestPredictsAnUnseenSiteFromSimilarOnes leaves a site out of training
// and checks the model ranks its placements by free CPU, as the law does.
func TestPredictsAnUnseenSiteFromSimilarOnes(t *testing.T) {
	m, err := Fit("fps", observe(fleet, 40, 0.5, 2))
	if err != nil {
		t.Fatal(err)
	}
	unseen := Features{CPUMillicores: 500, MemoryBytes: 256 << 20, SiteCores: 12, SiteCells: 2, Edge: 1, DataLatencyMs: 8}
	busy, idle := unseen, unseen
	busy.SiteFreeCores, idle.SiteFreeCores = 3, 11
	pb, err1 := m.Predict(busy)
	pi, err2 := m.Predict(idle)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if pb.Value >= pi.Value {
		t.Errorf("fps %.3g with 3 free cores, %.3g with 11: want lower where less is free", pb.Value, pi.Value)
	}
	for _, p := range []struct {
		f    Features
		pred Prediction
	}{{busy, pb}, {idle, pi}} {
		if math.Abs(p.pred.Value-fpsLaw(p.f)) > 3*p.pred.Error+0.5 {
			t.Errorf("predicted %.3g, law %.3g, error %.3g", p.pred.Value, fpsLaw(p.f), p.pred.Error)
		}
	}
	// Far outside what was seen, and with features unknown, it is less sure.
	far := idle
	far.SiteCores, far.SiteFreeCores = 512, 500
	pf, _ := m.Predict(far)
	unknown, _ := m.Predict(Unknown())
	if pf.Confidence >= pi.Confidence || unknown.Confidence != 0 {
		t.Errorf("confidence %.3g near, %.3g far, %.3g unknown", pi.Confidence, pf.Confidence, unknown.Confidence)
	}
}

func TestNoisierDataGivesLessConfidence(t *testing.T) {
	f := Features{CPUMillicores: 500, MemoryBytes: 256 << 20, SiteCores: 8, SiteFreeCores: 6, SiteCells: 2, Edge: 1, DataLatencyMs: 5}
	var last = 2.0
	for _, noise := range []float64{0, 2, 8} {
		m, err := Fit("fps", observe(fleet, 30, noise, 3))
		if err != nil {
			t.Fatal(err)
		}
		p, _ := m.Predict(f)
		if p.Confidence >= last {
			t.Errorf("noise %g: confidence %.3g not below %.3g", noise, p.Confidence, last)
		}
		last = p.Confidence
	}
}

func TestTooFewSamples(t *testing.T) {
	samples := observe(fleet[:1], MinSamples-1, 0, 4)
	_, err := Fit("fps", samples)
	if !errors.Is(err, ErrTooFewSamples) || !strings.Contains(err.Error(), "9 usable samples") {
		t.Errorf("fit on %d samples: %v", len(samples), err)
	}
	// NaN values do not count.
	samples = observe(fleet[:1], MinSamples, 0, 4)
	samples[0].Value = math.NaN()
	if _, err := Fit("fps", samples); !errors.Is(err, ErrTooFewSamples) {
		t.Errorf("a NaN sample counted: %v", err)
	}
}

func TestOneSiteUsesLeaveOneOut(t *testing.T) {
	m, err := Fit("latency_ms", observe(fleet[:1], 20, 0.1, 5))
	if err != nil || m.CrossValidation != "leave-one-out" || m.Groups != 1 {
		t.Fatalf("%v %v", m, err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	m, err := Fit("fps", observe(fleet, 20, 0.3, 6))
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Model
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	f := Features{CPUMillicores: 750, MemoryBytes: 256 << 20, SiteCores: 8, SiteFreeCores: 4, SiteCells: 3, Edge: 1, DataLatencyMs: math.NaN()}
	p1, _ := m.Predict(f)
	p2, err := back.Predict(f)
	if err != nil || p1 != p2 {
		t.Errorf("before save %+v, after load %+v %v", p1, p2, err)
	}
	again, _ := json.Marshal(&back)
	if string(again) != string(data) {
		t.Errorf("saved twice differently:\n%s\n%s", data, again)
	}
}

func TestLoadRejectsBadModels(t *testing.T) {
	m, _ := Fit("fps", observe(fleet, 20, 0.3, 7))
	good, _ := json.Marshal(m)
	for name, edit := range map[string]func(map[string]any){
		"version":       func(f map[string]any) { f["version"] = 2 },
		"kind":          func(f map[string]any) { f["model"] = "lstm" },
		"features":      func(f map[string]any) { f["features"] = []string{"cpu"} },
		"short coef":    func(f map[string]any) { f["coef"] = []float64{1} },
		"few samples":   func(f map[string]any) { f["samples"] = 3 },
		"no metric":     func(f map[string]any) { f["metric"] = "" },
		"negative rmse": func(f map[string]any) { f["errorRMSE"] = -1 },
		"cv":            func(f map[string]any) { f["crossValidation"] = "none" },
		"weight no spread": func(f map[string]any) {
			f["scale"] = []float64{0, 0, 0, 0, 0, 0, 0}
		},
	} {
		var f map[string]any
		_ = json.Unmarshal(good, &f)
		edit(f)
		bad, _ := json.Marshal(f)
		var back Model
		if err := json.Unmarshal(bad, &back); err == nil {
			t.Errorf("%s: loaded %s", name, bad)
		}
	}
}

func FuzzLoad(f *testing.F) {
	m, _ := Fit("fps", observe(fleet, 20, 0.3, 8))
	good, _ := json.Marshal(m)
	f.Add(good)
	f.Add([]byte(`{"model":"qos-ridge","version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var back Model
		if err := json.Unmarshal(data, &back); err != nil {
			return
		}
		// Whatever loads predicts without panicking, finite numbers or an error.
		p, err := back.Predict(Features{CPUMillicores: 1, MemoryBytes: 1, SiteCores: 1, SiteFreeCores: 1, SiteCells: 1, DataLatencyMs: 1})
		if err == nil && (math.IsNaN(p.Confidence) || p.Confidence < 0 || p.Confidence > 1) {
			t.Errorf("confidence %v from %s", p.Confidence, data)
		}
		if _, err := json.Marshal(&back); err != nil {
			t.Errorf("loaded but cannot save: %v", err)
		}
	})
}

func BenchmarkFit(b *testing.B) {
	samples := observe(fleet, 250, 0.5, 9)
	for b.Loop() {
		if _, err := Fit("fps", samples); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleFit() {
	m, err := Fit("fps", observe(fleet, 30, 0, 1))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.2f fps per free core\n", m.Coefficients()["site_free_cores"])
	// Output: 2.50 fps per free core
}
