package telemetry

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Samples survive closing and reopening the directory (TSDB replays its WAL).
func TestDBRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := OpenDB(dir, DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := db.AppendSample(ctx, map[string]string{"__name__": "cpu_seconds_total", "site": "edge"}, t0.Add(time.Duration(i)*5*time.Second), float64(i*3)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Query(ctx, "cpu_seconds_total", t0); TypeOf(err) != ErrorUnavailable {
		t.Errorf("query on a closed DB: %v, want an unavailable error", err)
	}

	db, err = OpenDB(dir, DBOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := queryValue(t, db, `cpu_seconds_total{site="edge"}`, t0.Add(45*time.Second)); got != 27 {
		t.Errorf("after reopening: %v, want 27", got)
	}
	if got := queryValue(t, db, `rate(cpu_seconds_total[45s])`, t0.Add(45*time.Second)); !near(got, 0.6) {
		t.Errorf("rate after reopening: %v, want 0.6/s", got)
	}
}

// Retention drops whole blocks that end more than the retention before the
// newest block. Twelve hours of samples, compacted: with a 3 h retention the
// first hours are gone and the last ones remain; with the default (15 days)
// everything remains.
func TestDBRetention(t *testing.T) {
	for _, tc := range []struct {
		retention time.Duration
		oldKept   bool
	}{
		{3 * time.Hour, false},
		{0, true},
	} {
		db := openTestDB(t, DBOptions{Retention: tc.retention})
		ctx := context.Background()
		var samples []Sample
		for m := 0; m <= 12*60; m++ {
			samples = append(samples, Sample{Labels: map[string]string{"__name__": "load"}, T: t0.Add(time.Duration(m) * time.Minute), Value: float64(m)})
		}
		if err := db.Append(ctx, samples...); err != nil {
			t.Fatal(err)
		}
		if err := db.tsdb.Compact(ctx); err != nil {
			t.Fatal(err)
		}
		if len(db.tsdb.Blocks()) == 0 {
			t.Fatal("compaction made no block")
		}
		old := queryVector(t, db, `load`, t0.Add(time.Hour))
		if kept := len(old) == 1; kept != tc.oldKept {
			t.Errorf("retention %s: sample of hour 1 kept = %v, want %v", tc.retention, kept, tc.oldKept)
		}
		if got := queryValue(t, db, `load`, t0.Add(11*time.Hour)); got != 660 {
			t.Errorf("retention %s: sample of hour 11 = %v, want 660", tc.retention, got)
		}
	}
}

func TestDBRetentionOption(t *testing.T) {
	if got := tsdbOptions(DBOptions{Retention: 36 * time.Hour}).RetentionDuration; got != (36 * time.Hour).Milliseconds() {
		t.Errorf("RetentionDuration = %d ms, want 36 h", got)
	}
}

func TestDBQueryResultTypes(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	ctx := context.Background()
	for i := range 4 {
		if err := db.AppendSample(ctx, map[string]string{"__name__": "g", "k": "v"}, t0.Add(time.Duration(i)*10*time.Second), float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	at := t0.Add(30 * time.Second)

	res, err := db.Query(ctx, `g[25s]`, at)
	if err != nil || res.Type != ValueMatrix || len(res.Series) != 1 || len(res.Series[0].Points) != 3 {
		t.Errorf("g[25s] = %+v, %v; want a matrix of 3 points", res, err)
	}
	res, err = db.Query(ctx, `2 * 21`, at)
	if err != nil || res.Type != ValueScalar || len(res.Samples) != 1 || res.Samples[0].Value != 42 || !res.Samples[0].T.Equal(at) {
		t.Errorf("2*21 = %+v, %v; want scalar 42", res, err)
	}
	res, err = db.Query(ctx, `"hello"`, at)
	if err != nil || res.Type != ValueString || res.String != "hello" {
		t.Errorf(`"hello" = %+v, %v; want the string`, res, err)
	}
	res, err = db.Query(ctx, `g / 0`, at)
	if err != nil || len(res.Samples) != 1 || !math.IsInf(res.Samples[0].Value, 1) {
		t.Errorf("g/0 = %+v, %v; want +Inf", res, err)
	}
	wantLabels := map[string]string{"__name__": "g", "k": "v"}
	if s := queryVector(t, db, `g`, at); len(s) != 1 || !reflect.DeepEqual(s[0].Labels, wantLabels) || !s[0].T.Equal(at) {
		t.Errorf("g = %+v, want labels %v at %s", s, wantLabels, at)
	}
}

func TestDBQueryErrors(t *testing.T) {
	db := openTestDB(t, DBOptions{MaxSamples: 5})
	ctx := context.Background()
	for i := range 20 {
		if err := db.AppendSample(ctx, map[string]string{"__name__": "m"}, t0.Add(time.Duration(i)*time.Second), 1); err != nil {
			t.Fatal(err)
		}
	}
	at := t0.Add(20 * time.Second)
	expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel2 := context.WithCancel(ctx)
	cancel2()
	for _, tc := range []struct {
		ctx  context.Context
		expr string
		want ErrorType
	}{
		{ctx, `rate(m[`, ErrorBadData},
		{ctx, `sum(`, ErrorBadData},
		{ctx, `m[1m]`, ErrorExecution}, // 20 samples > MaxSamples
		{expired, `m`, ErrorTimeout},
		{canceled, `m`, ErrorCanceled},
	} {
		_, err := db.Query(tc.ctx, tc.expr, at)
		if TypeOf(err) != tc.want || !strings.Contains(err.Error(), "telemetry: query") {
			t.Errorf("%s: error %v (type %s), want type %s naming the query", tc.expr, err, TypeOf(err), tc.want)
		}
	}
	for _, tc := range []struct {
		start, end time.Time
		step       time.Duration
	}{
		{t0, at, 0},
		{at, t0, time.Second},
		{t0, t0.Add(24 * time.Hour), time.Second}, // 86,400 points
	} {
		if _, err := db.QueryRange(ctx, "m", tc.start, tc.end, tc.step); TypeOf(err) != ErrorBadData {
			t.Errorf("range %s..%s step %s: %v, want bad_data", tc.start, tc.end, tc.step, err)
		}
	}
}

func TestDBAppendValidation(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	ctx := context.Background()
	for _, lbls := range []map[string]string{
		nil,
		{"a": ""},
		{"": "x"},
		{"ok": "\xff"},
	} {
		if err := db.AppendSample(ctx, lbls, t0, 1); err == nil {
			t.Errorf("labels %q accepted", lbls)
		}
	}
	good := map[string]string{"__name__": "x"}
	if err := db.AppendSample(ctx, good, t0.Add(time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	// A whole batch is refused when one sample is: nothing of it is stored.
	err := db.Append(ctx,
		Sample{Labels: map[string]string{"__name__": "batch"}, T: t0.Add(time.Hour), Value: 1},
		Sample{Labels: map[string]string{"": "bad"}, T: t0.Add(time.Hour), Value: 1})
	if err == nil {
		t.Fatal("batch with a bad sample accepted")
	}
	if got := queryVector(t, db, `batch`, t0.Add(time.Hour)); len(got) != 0 {
		t.Errorf("rolled-back batch left %v", got)
	}
}

func TestDBLabelsAndSeries(t *testing.T) {
	db := openTestDB(t, DBOptions{})
	ctx := context.Background()
	for _, l := range []map[string]string{
		{"__name__": "up", "job": "agent", "site": "edge"},
		{"__name__": "up", "job": "agent", "site": "cloud"},
		{"__name__": "mem_bytes", "job": "cp"},
	} {
		if err := db.AppendSample(ctx, l, t0, 1); err != nil {
			t.Fatal(err)
		}
	}
	names, err := db.LabelNames(ctx, nil, time.Time{}, time.Time{})
	if want := []string{"__name__", "job", "site"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Errorf("label names = %v, %v; want %v", names, err, want)
	}
	names, err = db.LabelNames(ctx, []string{`mem_bytes`}, time.Time{}, time.Time{})
	if want := []string{"__name__", "job"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Errorf("label names of mem_bytes = %v, %v; want %v", names, err, want)
	}
	values, err := db.LabelValues(ctx, "site", []string{`up{job="agent"}`}, t0.Add(-time.Minute), t0.Add(time.Minute))
	if want := []string{"cloud", "edge"}; err != nil || !reflect.DeepEqual(values, want) {
		t.Errorf("site values = %v, %v; want %v", values, err, want)
	}
	values, err = db.LabelValues(ctx, "site", nil, t0.Add(time.Hour), t0.Add(2*time.Hour))
	if err != nil || len(values) != 0 {
		t.Errorf("site values an hour later = %v, %v; want none", values, err)
	}
	series, err := db.Series(ctx, []string{`up{site="edge"}`, `mem_bytes`, `{job="cp"}`}, time.Time{}, time.Time{})
	if err != nil || len(series) != 2 {
		t.Errorf("series = %v, %v; want 2 (duplicates merged)", series, err)
	}
	for _, bad := range [][]string{{`{site=~".*"}`}, {`up{`}} {
		if _, err := db.Series(ctx, bad, time.Time{}, time.Time{}); TypeOf(err) != ErrorBadData {
			t.Errorf("series %v: %v, want bad_data", bad, err)
		}
	}
	if _, err := db.Series(ctx, nil, time.Time{}, time.Time{}); TypeOf(err) != ErrorBadData {
		t.Errorf("series without matchers: %v, want bad_data", err)
	}
}
