package recommend

import (
	"errors"
	"math"
	"strings"
	"testing"
)

var latencyObjective = Objective{Metric: "latency_ms", Target: 100}

// rising is latency climbing 5 ms a step towards the 100 ms target, with
// a little seeded-free, deterministic wobble.
func rising() []float64 {
	var y []float64
	for i := range 12 {
		y = append(y, 40+5*float64(i)+[]float64{0.8, -0.5, 0.3, -0.7}[i%4])
	}
	return y // ends near 95: below the target, not for long
}

func goodCloud() []Recommendation {
	return []Recommendation{
		{Site: "edge", Predicted: map[string]float64{"latency_ms": 95}, Confidence: 0.9}, // the current site
		{Site: "cloud", Predicted: map[string]float64{"latency_ms": 30}, Confidence: 0.8},
	}
}

func TestDegradingSeriesTriggersMigrationBeforeTheViolation(t *testing.T) {
	d, err := DecideMigration(MigrationInput{Current: "edge", Series: rising(), Objective: latencyObjective, Horizon: 5, Ranking: goodCloud()})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Migrate || d.To != "cloud" || d.ViolationAt < 1 || d.ViolationAt > 3 || d.Predicted <= 100 {
		t.Fatalf("%+v", d)
	}
	t.Logf("%s (forecast %.4g)", d.Reason, d.Forecast)
	if d.Model != "holt-winters" || d.Confidence < 0.3 || !strings.Contains(d.Reason, "move to cloud") {
		t.Errorf("model %s confidence %.2f reason %q", d.Model, d.Confidence, d.Reason)
	}
}

func TestStableHealthySeriesStays(t *testing.T) {
	y := []float64{42, 40, 41, 43, 40, 42, 41, 40, 42, 41}
	d, err := DecideMigration(MigrationInput{Current: "edge", Series: y, Objective: latencyObjective, Horizon: 10, Ranking: goodCloud()})
	if err != nil {
		t.Fatal(err)
	}
	if d.Migrate || d.ViolationAt != -1 || d.Confidence < 0.5 || !strings.Contains(d.Reason, "stays <= 100") {
		t.Errorf("%+v", d)
	}
}

func TestDegradingWithNoBetterSiteStays(t *testing.T) {
	for name, ranking := range map[string][]Recommendation{
		"worse":     {{Site: "cloud", Predicted: map[string]float64{"latency_ms": 120}, Confidence: 0.9}},
		"too close": {{Site: "cloud", Predicted: map[string]float64{"latency_ms": 95}, Confidence: 0.9}}, // within the margin
		"unsure":    {{Site: "cloud", Predicted: map[string]float64{"latency_ms": 20}, Confidence: 0.1}},
		"none":      nil,
	} {
		d, err := DecideMigration(MigrationInput{Current: "edge", Series: rising(), Objective: latencyObjective, Horizon: 5, Ranking: ranking})
		if err != nil {
			t.Fatal(err)
		}
		if d.Migrate || d.To != "" || d.ViolationAt < 0 || !strings.Contains(d.Reason, "staying") {
			t.Errorf("%s: %+v", name, d)
		}
		if name == "none" && !strings.Contains(d.Reason, "no other site") || name != "none" && !strings.Contains(d.Reason, "no better site") {
			t.Errorf("%s: reason %q", name, d.Reason)
		}
	}
}

func TestFpsFallingBelowTarget(t *testing.T) {
	y := []float64{30, 29, 28, 27, 26.5, 25.5, 24.8, 24} // already below 25
	ranking := []Recommendation{{Site: "cloud", Predicted: map[string]float64{"fps": 31}, Confidence: 0.7}}
	d, err := DecideMigration(MigrationInput{Current: "edge", Series: y, Objective: Objective{Metric: "fps", HigherIsBetter: true, Target: 25}, Horizon: 3, Ranking: ranking})
	if err != nil || !d.Migrate || d.ViolationAt != 0 || d.To != "cloud" {
		t.Errorf("%+v %v", d, err)
	}
}

func TestNaNsAreSkippedAndShortSeriesFallBack(t *testing.T) {
	nan := math.NaN()
	y := []float64{nan, 60, nan, 70, 80, nan}
	d, err := DecideMigration(MigrationInput{Current: "edge", Series: y, Objective: latencyObjective, Horizon: 3, Ranking: goodCloud()})
	if err != nil {
		t.Fatal(err)
	}
	// Three points: a straight line, 90, 100, 110; the model says why.
	if d.Model != "linear-trend" || !strings.Contains(d.Reason, "too few for holt-winters") || math.Abs(d.Forecast[2]-110) > 1e-9 {
		t.Errorf("%+v", d)
	}
	for _, v := range d.Forecast {
		if math.IsNaN(v) {
			t.Errorf("NaN in forecast %v", d.Forecast)
		}
	}
	one, err := DecideMigration(MigrationInput{Current: "edge", Series: []float64{nan, 150}, Objective: latencyObjective, Horizon: 2, Ranking: goodCloud()})
	if err != nil || one.Model != "last-value" || one.ViolationAt != 0 || one.Migrate {
		// one point: violated now, but one point is not enough to act on
		t.Errorf("%+v %v", one, err)
	}
}

func TestEmptySeriesIsAnError(t *testing.T) {
	for _, y := range [][]float64{nil, {math.NaN(), math.NaN()}} {
		_, err := DecideMigration(MigrationInput{Current: "edge", Series: y, Objective: latencyObjective, Horizon: 3})
		if !errors.Is(err, ErrNoSeries) {
			t.Errorf("%v: %v", y, err)
		}
	}
	if _, err := DecideMigration(MigrationInput{Series: []float64{1}, Objective: latencyObjective}); err == nil {
		t.Error("horizon 0 accepted")
	}
}

// TestNoPingPong: once moved to a site comfortably within the objective,
// a small dip at the new site does not send the replica back to a site
// only slightly better.
func TestNoPingPong(t *testing.T) {
	y := []float64{60, 62, 61, 63, 62, 64, 63, 65}
	back := []Recommendation{{Site: "edge", Predicted: map[string]float64{"latency_ms": 58}, Confidence: 0.9}}
	d, err := DecideMigration(MigrationInput{Current: "cloud", Series: y, Objective: latencyObjective, Horizon: 5, Ranking: back})
	if err != nil || d.Migrate {
		t.Errorf("%+v %v", d, err)
	}
}

func BenchmarkDecideMigration(b *testing.B) {
	in := MigrationInput{Current: "edge", Series: append(rising(), rising()...), Objective: latencyObjective, Horizon: 5, Ranking: goodCloud()}
	for b.Loop() {
		if _, err := DecideMigration(in); err != nil {
			b.Fatal(err)
		}
	}
}
