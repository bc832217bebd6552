package trace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sharedTraces is shared/data/traces beside the repository, where the
// project's real data sets live (not copied into the repository).
const sharedTraces = "../../../shared/data/traces"

func TestReadSeriesDetectsTimeAndValueColumns(t *testing.T) {
	s, err := ReadSeries(strings.NewReader("\"ds\",\"y\"\n\"2020-01-01\",1.5\n2020-01-02,2\n"), SeriesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "y" || len(s.Values) != 2 || s.Values[0] != 1.5 || s.Values[1] != 2 {
		t.Fatalf("got %+v", s)
	}
	if len(s.Times) != 2 || s.Times[1].Day() != 2 {
		t.Fatalf("times %v", s.Times)
	}
	s, err = ReadSeries(strings.NewReader("a,b,c\n1,2,3\n4,5,6\n"), SeriesOptions{Column: "b"})
	if err != nil || s.Values[1] != 5 || s.Times != nil {
		t.Fatalf("column b: %+v, %v", s, err)
	}
}

func TestReadSeriesErrorsNameTheProblem(t *testing.T) {
	cases := []struct{ csv, column, want string }{
		{"", "", "empty file"},
		{"ds,y\n", "", "no data rows"},
		{"ds,y\n2020-01-01,1\n2020-01-02,\n", "", "row 3, column \"y\": empty value"},
		{"ds,y\n2020-01-01,abc\n", "", "row 2, column \"y\": not a number"},
		{"ds,y\n2020-01-01,NaN\n", "", "value is NaN"},
		{"ds,y\nyesterday,1\n", "", "row 2, column \"ds\": not a time"},
		{"ds,y\n2020-01-01,1\n", "z", "no column \"z\""},
		{"ds\n2020-01-01\n", "", "no value column"},
		{"ds,y\n2020-01-01,1,7\n", "", "row 2"},
	}
	for _, c := range cases {
		_, err := ReadSeries(strings.NewReader(c.csv), SeriesOptions{Column: c.column})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to say %q", c.csv, err, c.want)
		}
	}
}

func TestReadProphetExamples(t *testing.T) {
	want := map[string]int{
		"example_wp_log_peyton_manning.csv": 2905,
		"example_retail_sales.csv":          293,
		"example_pedestrians_covid.csv":     1490,
	}
	for name, n := range want {
		path := filepath.Join(sharedTraces, name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("shared data not here: %v", err)
		}
		s, err := ReadSeriesFile(path, SeriesOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Values) != n || len(s.Times) != n {
			t.Errorf("%s: %d values, %d times, want %d", name, len(s.Values), len(s.Times), n)
		}
	}
}

func TestReadAzureSample(t *testing.T) {
	dir := filepath.Join(sharedTraces, "azure-functions")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared data not here: %v", err)
	}
	az, err := ReadAzureDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The facts its README states.
	if len(az.Functions) != 500 || az.Minutes != 480 || az.FirstMinute != 480 {
		t.Fatalf("%d functions, %d minutes from %d", len(az.Functions), az.Minutes, az.FirstMinute)
	}
	total := 0
	for _, f := range az.Functions {
		total += f.Invocations()
		if f.MemoryMB <= 0 {
			t.Fatalf("function %s has no memory", f.Hash)
		}
	}
	if total != 3037902 {
		t.Errorf("total invocations %d, want 3037902", total)
	}
	apps := az.ByApp()
	if len(apps.Functions) != 476 {
		t.Errorf("%d apps, want 476", len(apps.Functions))
	}
	appTotal := 0.0
	for _, v := range apps.Total() {
		appTotal += v
	}
	if appTotal != 3037902 {
		t.Errorf("apps total %v, want 3037902", appTotal)
	}
}

func TestReadAzureInvocationsRejectsBadTables(t *testing.T) {
	cases := []struct{ csv, want string }{
		{"", "empty"},
		{"HashOwner,HashApp,HashFunction,Trigger\n", "minute columns"},
		{"HashOwner,HashApp,Func,Trigger,1\n", "want \"HashFunction\""},
		{"HashOwner,HashApp,HashFunction,Trigger,1,3\n", "consecutive"},
		{"HashOwner,HashApp,HashFunction,Trigger,x\n", "not a number"},
		{"HashOwner,HashApp,HashFunction,Trigger,1\no,a,f,http,-2\n", "row 2, minute 1"},
		{"HashOwner,HashApp,HashFunction,Trigger,1\n", "no functions"},
	}
	for _, c := range cases {
		_, err := ReadAzureInvocations(strings.NewReader(c.csv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to say %q", c.csv, err, c.want)
		}
	}
}

func FuzzReadSeries(f *testing.F) {
	f.Add("ds,y\n2020-01-01,1\n2020-01-02,2\n", "")
	f.Add("a,b\n1,2\n", "a")
	f.Fuzz(func(t *testing.T, csv, column string) {
		s, err := ReadSeries(strings.NewReader(csv), SeriesOptions{Column: column})
		if err == nil && (len(s.Values) == 0 || (s.Times != nil && len(s.Times) != len(s.Values))) {
			t.Fatalf("accepted an inconsistent series: %+v", s)
		}
	})
}

func FuzzReadAzureInvocations(f *testing.F) {
	f.Add("HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,0,3\n")
	f.Fuzz(func(t *testing.T, csv string) {
		az, err := ReadAzureInvocations(strings.NewReader(csv))
		if err != nil {
			return
		}
		for _, fn := range az.Functions {
			if len(fn.Counts) != az.Minutes {
				t.Fatalf("function with %d counts in a %d-minute trace", len(fn.Counts), az.Minutes)
			}
		}
	})
}

func TestGuessSeasonFromSpacing(t *testing.T) {
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	series := func(step func(i int) time.Time) []time.Time {
		out := make([]time.Time, 10)
		for i := range out {
			out[i] = step(i)
		}
		return out
	}
	cases := []struct {
		times []time.Time
		want  int
	}{
		{series(func(i int) time.Time { return start.Add(time.Duration(i) * time.Minute) }), 60},
		{series(func(i int) time.Time { return start.Add(time.Duration(i) * time.Hour) }), 24},
		{series(func(i int) time.Time { return start.AddDate(0, 0, i) }), 7},
		{series(func(i int) time.Time { return start.AddDate(0, i, 0) }), 12},
	}
	for _, c := range cases {
		if got, _, err := GuessSeason(c.times); err != nil || got != c.want {
			t.Errorf("spacing %v: season %d, %v; want %d", c.times[1].Sub(c.times[0]), got, err, c.want)
		}
	}
	odd := series(func(i int) time.Time { return start.Add(time.Duration(i) * 17 * time.Second) })
	if _, _, err := GuessSeason(odd); err == nil {
		t.Error("guessed a season for 17-second spacing")
	}
}
