package train_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/learning/train"
)

// seasonal is a daily cycle of hourly load with a trend and a fixed
// pseudo-random wobble: Holt-Winters should beat the seasonal naive on it.
func seasonal(n int) []float64 {
	y := make([]float64, n)
	for t := range y {
		wobble := math.Sin(float64(t)*12.9898) * 0.5
		y[t] = 50 + 0.2*float64(t) + 20*math.Sin(2*math.Pi*float64(t)/24) + wobble
	}
	return y
}

func production(kind string, version int) *v1alpha1.ModelVersion {
	return &v1alpha1.ModelVersion{
		Spec:   v1alpha1.ModelVersionSpec{Model: "load", Kind: kind},
		Status: v1alpha1.ModelVersionStatus{Version: version, Stage: v1alpha1.StageProduction},
	}
}

func TestCandidateRecordsWhatItLearntAndHowItDid(t *testing.T) {
	y := seasonal(24 * 10)
	res, err := train.Candidate(y, train.Config{Model: "load", Kind: train.KindAuto, Season: 24, TrainedBy: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := res.Version.Spec
	if spec.Model != "load" || spec.Data.Points != len(y) || spec.Data.Season != 24 || spec.TrainedBy != "test" {
		t.Fatalf("spec = %+v", spec)
	}
	if spec.Kind == forecast.KindSeasonalNaive {
		t.Fatalf("auto kept the seasonal naive on a trending series; notes: %v", res.Notes)
	}
	for _, m := range []string{"mae", "smape", "mase"} {
		if v, ok := spec.Metrics[m]; !ok || math.IsNaN(v) || v < 0 {
			t.Fatalf("metric %s = %v, %v", m, v, ok)
		}
	}
	if spec.Evaluation != nil || spec.Parent != 0 {
		t.Fatalf("no production: no evaluation, no parent; got %+v, %d", spec.Evaluation, spec.Parent)
	}
	loaded, err := forecast.Unmarshal(spec.Artifact)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := loaded.Predict(5)
	b, _ := res.Model.Predict(5)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("the artifact predicts %v, the fitted model %v", a, b)
		}
	}
}

func TestCandidateIsJudgedAgainstProductionOnTheSameHeldOutData(t *testing.T) {
	y := seasonal(24 * 10)
	cfg := train.Config{Model: "load", Kind: forecast.KindHoltWinters, Season: 24}

	res, err := train.Candidate(y, cfg, production(forecast.KindSeasonalNaive, 3))
	if err != nil {
		t.Fatal(err)
	}
	ev := res.Version.Spec.Evaluation
	if ev == nil || ev.Against != 3 || !ev.Better || ev.Candidate >= ev.Current || res.Version.Spec.Parent != 3 {
		t.Fatalf("holt-winters against a seasonal naive on a trend: %+v, parent %d", ev, res.Version.Spec.Parent)
	}
	if ev.Candidate != res.Version.Spec.Metrics["mase"] {
		t.Fatalf("the evaluation's candidate score %v is not its held-out MASE %v", ev.Candidate, res.Version.Spec.Metrics["mase"])
	}

	same, err := train.Candidate(y, cfg, production(forecast.KindHoltWinters, 4))
	if err != nil {
		t.Fatal(err)
	}
	if ev := same.Version.Spec.Evaluation; ev == nil || ev.Better || ev.Candidate != ev.Current {
		t.Fatalf("the same kind on the same data ties and a tie keeps production: %+v", ev)
	}
}

func TestCandidateFallsBackAndSaysSo(t *testing.T) {
	y := seasonal(24 * 10)
	y[100] = 0 // multiplicative seasonality cannot take it
	res, err := train.Candidate(y, train.Config{Model: "load", Kind: forecast.KindHoltWintersMul, Season: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version.Spec.Kind != forecast.KindHoltWinters {
		t.Fatalf("kind = %s, want the additive fallback", res.Version.Spec.Kind)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "falling back to holt-winters") {
		t.Fatalf("notes do not say it fell back: %v", res.Notes)
	}
}

func TestCandidateRefusesTooShortASeries(t *testing.T) {
	_, err := train.Candidate(seasonal(30), train.Config{Model: "load", Season: 24}, nil)
	if err == nil || !strings.Contains(err.Error(), "train load") {
		t.Fatalf("err = %v, want a training error naming the model", err)
	}
}

func TestFitWithFallbackStopsAtTheSimplestKind(t *testing.T) {
	_, notes, err := train.FitWithFallback(forecast.KindHoltWintersMul, 24, seasonal(20))
	if !errors.Is(err, forecast.ErrTooShort) {
		t.Fatalf("err = %v, want ErrTooShort", err)
	}
	if len(notes) != 2 {
		t.Fatalf("notes = %v, want two fallbacks (mul → additive → seasonal naive)", notes)
	}
}

func TestAnExactlyRepeatingSeriesGetsTheSeasonalNaive(t *testing.T) {
	var y []float64
	for i := range 200 {
		y = append(y, float64(i%20))
	}
	res, err := train.Candidate(y, train.Config{Model: "saw", Season: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Version.Spec.Kind != forecast.KindSeasonalNaive || res.Version.Spec.Metrics["smape"] != 0 {
		t.Fatalf("kind %s metrics %v notes %v", res.Version.Spec.Kind, res.Version.Spec.Metrics, res.Notes)
	}
	pred, _ := res.Model.Predict(3)
	if pred[0] != 0 || pred[2] != 2 {
		t.Fatalf("forecast %v, want the cycle continued: 0 1 2", pred)
	}
}
