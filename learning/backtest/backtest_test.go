package backtest

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/cloudskin/cloudskin/learning/forecast"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMetricsOnHandComputedExample(t *testing.T) {
	actual := []float64{1, 2, 3, 4}
	pred := []float64{2, 2, 1, 4}
	mae, _ := MAE(actual, pred)
	if !near(mae, 0.75) { // (1+0+2+0)/4
		t.Errorf("MAE %v, want 0.75", mae)
	}
	smape, _ := SMAPE(actual, pred)
	if want := 100.0 / 4 * (2.0/3 + 1); !near(smape, want) { // 2·1/3 + 2·2/4
		t.Errorf("sMAPE %v, want %v", smape, want)
	}
	train := []float64{1, 3, 2, 4, 3}
	mase1, _ := MASE(actual, pred, train, 1) // scale (2+1+2+1)/4 = 1.5
	if !near(mase1, 0.5) {
		t.Errorf("MASE season 1 %v, want 0.5", mase1)
	}
	mase2, _ := MASE(actual, pred, train, 2) // scale (1+1+1)/3 = 1
	if !near(mase2, 0.75) {
		t.Errorf("MASE season 2 %v, want 0.75", mase2)
	}
	if s, _ := SMAPE([]float64{0, 0}, []float64{0, 2}); !near(s, 100) { // 0/0 counts 0, then 2·2/2 = 2
		t.Errorf("sMAPE with 0/0 %v, want 100", s)
	}
}

func TestMetricsRejectBadInput(t *testing.T) {
	if _, err := MAE(nil, nil); err == nil {
		t.Error("MAE of nothing succeeded")
	}
	if _, err := SMAPE([]float64{1}, []float64{1, 2}); err == nil {
		t.Error("sMAPE of unequal lengths succeeded")
	}
	if _, err := MAE([]float64{1}, []float64{math.NaN()}); err == nil {
		t.Error("MAE with NaN succeeded")
	}
	if _, err := MASE([]float64{1}, []float64{2}, []float64{5, 5, 5}, 1); !errors.Is(err, ErrZeroScale) {
		t.Errorf("MASE on constant training data: %v, want ErrZeroScale", err)
	}
	if _, err := MASE([]float64{1}, []float64{2}, []float64{5, 6}, 2); err == nil {
		t.Error("MASE with training shorter than a season succeeded")
	}
}

func TestSeasonalNaiveHasInSampleMASEOfExactlyOne(t *testing.T) {
	y := []float64{3, 8, 1, 4, 9, 2, 7, 7, 3, 5, 11, 0, 2, 6, 6}
	for _, m := range []int{1, 3, 5} {
		sn, _ := forecast.New(forecast.KindSeasonalNaive, m)
		if err := sn.Fit(y); err != nil {
			t.Fatal(err)
		}
		mase, err := MASE(y[m:], sn.Fitted()[m:], y, m)
		if err != nil {
			t.Fatal(err)
		}
		if mase != 1 {
			t.Errorf("season %d: in-sample MASE %v, want exactly 1", m, mase)
		}
	}
}

// cheater forecasts by reading past the end of the slice it was fitted on:
// it predicts perfectly if the back-test hands it any part of the future.
type cheater struct{ seen, full []float64 }

func (*cheater) Name() string               { return "cheater" }
func (c *cheater) Fit(y []float64) error    { c.seen, c.full = y, y[:cap(y)]; return nil }
func (*cheater) Fitted() []float64          { return nil }
func (*cheater) Params() map[string]float64 { return nil }
func (c *cheater) Predict(h int) ([]float64, error) {
	out := make([]float64, h)
	copy(out, c.full[len(c.seen):])
	return out, nil
}

func TestRunNeverShowsAModelTheFuture(t *testing.T) {
	y := make([]float64, 100)
	for i := range y {
		y[i] = 100 + float64(i%7)
	}
	cfg := Config{Horizon: 5, Step: 10, MinTrain: 30, Season: 1}

	// The cheater does succeed when handed a plain prefix, so it is a real
	// test of the back-test, not of the cheater.
	c := &cheater{}
	_ = c.Fit(y[:30])
	if p, _ := c.Predict(5); !slices.Equal(p, y[30:35]) {
		t.Fatalf("control: the cheater failed to cheat on a plain prefix: %v", p)
	}

	res, err := Run(y, cfg, func() (forecast.Model, error) { return &cheater{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.Mean.MAE < 90 {
		t.Fatalf("cheater's MAE %v: it saw the future", res.Mean.MAE)
	}

	var lengths []int
	spy := func() (forecast.Model, error) { return &spyModel{y: y, lengths: &lengths, t: t}, nil }
	if _, err := Run(y, cfg, spy); err != nil {
		t.Fatal(err)
	}
	if want := cfg.Origins(len(y)); !slices.Equal(lengths, want) {
		t.Fatalf("models fitted on %v values, want %v", lengths, want)
	}
}

// spyModel checks that it is fitted on exactly a prefix of the series.
type spyModel struct {
	forecast.SeasonalNaive
	y       []float64
	lengths *[]int
	t       *testing.T
}

func (s *spyModel) Fit(y []float64) error {
	if !slices.Equal(y, s.y[:len(y)]) {
		s.t.Errorf("fitted on data that is not a prefix of the series")
	}
	*s.lengths = append(*s.lengths, len(y))
	s.Season = 7
	return s.SeasonalNaive.Fit(y)
}

func TestOriginsAndConfigChecks(t *testing.T) {
	cfg := Config{Horizon: 3, Step: 4, MinTrain: 10, Season: 2}
	if got := cfg.Origins(20); !slices.Equal(got, []int{10, 14}) {
		t.Errorf("origins %v, want [10 14]", got)
	}
	bad := []Config{
		{Horizon: 0, Step: 1, MinTrain: 10, Season: 1},
		{Horizon: 1, Step: 0, MinTrain: 10, Season: 1},
		{Horizon: 1, Step: 1, MinTrain: 7, Season: 7},
		{Horizon: 15, Step: 1, MinTrain: 10, Season: 1},
	}
	for _, c := range bad {
		if _, err := Run(make([]float64, 20), c, Kind(forecast.KindSeasonalNaive, 1)); err == nil {
			t.Errorf("Run accepted %+v on 20 values", c)
		}
	}
}

func TestRunScoresEachOriginOnItsOwnHorizon(t *testing.T) {
	// A pure weekly pattern: seasonal naive is perfect at every origin.
	y := make([]float64, 70)
	for i := range y {
		y[i] = float64(i%7) * 3
	}
	y[1] = 1 // keep the MASE scale non-zero
	res, err := Run(y, Config{Horizon: 7, Step: 7, MinTrain: 21, Season: 7}, Kind(forecast.KindSeasonalNaive, 7))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Origins) != 7 || res.Mean.MAE != 0 || res.Mean.SMAPE != 0 || res.Mean.MASE != 0 {
		t.Fatalf("got %+v, want 7 perfect origins", res)
	}
}

func TestPromoteNeedsAStrictWinOnTheSameHeldOutData(t *testing.T) {
	cfg := Config{Horizon: 7, Step: 7, MinTrain: 21, Season: 7}
	current := Result{Model: "seasonal-naive", Config: cfg, SeriesLen: 70, Mean: Score{MAE: 2, SMAPE: 10, MASE: 0.9}, Origins: make([]Origin, 7)}
	better := Result{Model: "holt-winters", Config: cfg, SeriesLen: 70, Mean: Score{MAE: 1.5, SMAPE: 12, MASE: 0.9}, Origins: make([]Origin, 7)}

	if d, err := Promote(better, current, ByMAE); err != nil || !d.Promote {
		t.Errorf("better by MAE: %+v, %v; want promote", d, err)
	}
	if d, _ := Promote(better, current, BySMAPE); d.Promote {
		t.Errorf("worse by sMAPE: %+v; want keep", d)
	}
	if d, _ := Promote(better, current, ByMASE); d.Promote {
		t.Errorf("tie by MASE: %+v; want keep", d)
	}
	other := better
	other.Config.Horizon = 14
	if _, err := Promote(other, current, ByMAE); err == nil {
		t.Error("compared back-tests of different plans")
	}
	other = better
	other.SeriesLen = 71
	if _, err := Promote(other, current, ByMAE); err == nil {
		t.Error("compared back-tests on different series")
	}
	if _, err := Promote(better, current, "rmse"); err == nil {
		t.Error("accepted an unknown metric")
	}
}

func TestSelectPromotesOnlyBetterModelsAndSkipsUnfittable(t *testing.T) {
	// Trend plus season: Holt-Winters must win. A zero makes the
	// multiplicative model unfittable: it is skipped, not fatal.
	y := make([]float64, 120)
	for i := range y {
		y[i] = 10 + 0.5*float64(i) + float64(i%6)
	}
	y[3] = 0
	cfg, err := LastOrigins(len(y), 6, 6, 6, 5, MinTrain(6))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := Select(y, cfg, Kinds(), ByMASE)
	if err != nil {
		t.Fatal(err)
	}
	if len(sel.Results) != 2 || len(sel.Skipped) != 1 || !errors.Is(sel.Skipped[0], forecast.ErrBadValue) {
		t.Fatalf("results %d, skipped %v: want 2 back-tests and the multiplicative model skipped", len(sel.Results), sel.Skipped)
	}
	if got := sel.Results[sel.Best].Model; got != forecast.KindHoltWinters {
		t.Errorf("selected %s, want holt-winters (decisions %+v)", got, sel.Decisions)
	}
	if len(cfg.Origins(len(y))) != 5 || cfg.Origins(len(y))[4]+6 != len(y) {
		t.Errorf("plan %+v: want 5 origins, the last ending at the series' end", cfg)
	}
	if _, err := LastOrigins(10, 6, 6, 6, 5, MinTrain(6)); err == nil {
		t.Error("planned a back-test with too little history")
	}
}
