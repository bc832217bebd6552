package telemetry

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage"
)

// FuzzParseTime: any string is either refused or read as a time that
// Prometheus's own number form reads back identically.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"1795514400", "1795514400.125", "-1.5", "2026-11-24T10:00:00Z", "2026-11-24T11:00:00.5+01:00", "1e9", "NaN", "Inf", "9e15", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(s, "T") {
			return // RFC 3339 keeps nanoseconds; the number form has milliseconds
		}
		again, err := ParseTime(string(appendTime(nil, got)))
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseTime(%q) = %v; written %s and read back %v, %v", s, got, appendTime(nil, got), again, err)
		}
	})
}

// FuzzParseDuration: any string is refused or read without overflow.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15", "0.5", "15s", "1m30s", "1d", "-1", "1e300", "NaN", "9223372036.854775807", "1y2w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		// A number keeps its sign; a Prometheus duration is never negative.
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			if (f > 0 && d < 0) || (f < 0 && d > 0) || math.IsNaN(f) {
				t.Fatalf("ParseDuration(%q) = %v: sign lost or NaN accepted", s, d)
			}
		} else if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v: negative", s, d)
		}
	})
}

// FuzzScrapePage: any page with any content type is appended or refused
// with an error, never a panic, and the store stays usable.
func FuzzScrapePage(f *testing.F) {
	for _, page := range []string{
		"# HELP x Help.\n# TYPE x counter\nx_total{a=\"b\"} 1\n",
		"x 1 1795514400000\ny{le=\"+Inf\"} NaN\n",
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\nh_sum 4\nh_count 3\n",
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n",
		"# TYPE x gauge\nx{job=\"inner\",instance=\"i\"} -Inf\n# EOF\n",
		"m{a=\"1\",a=\"2\"} 1\n",
		"{\"weird name\"} 1\n",
	} {
		f.Add([]byte(page), "text/plain; version=0.0.4")
		f.Add([]byte(page), "application/openmetrics-text; version=1.0.0")
	}
	db, err := OpenDB(f.TempDir(), DBOptions{})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	_, target, err := normalize(Target{Job: "fuzz", URL: "http://fuzz/metrics"})
	if err != nil {
		f.Fatal(err)
	}
	ts := t0.UnixMilli()
	var round uint64
	f.Fuzz(func(t *testing.T, page []byte, contentType string) {
		round++
		ts += 1000
		st := newTargetState(targetKey{job: "fuzz"}, Target{Job: "fuzz"}, target)
		err := db.transaction(context.Background(), func(app storage.AppenderV2) error {
			if _, _, err := st.appendPage(app, page, contentType, ts, round); err != nil {
				return err
			}
			st.markStale(app, ts, round)
			return st.appendReport(app, ts, 1, time.Millisecond, 0)
		})
		if err == nil {
			for _, e := range st.series {
				if e.lset.Get("job") != "fuzz" || e.lset.Get(model.MetricNameLabel) == "" {
					t.Fatalf("stored series %s without the target's labels", e.lset)
				}
			}
		}
		if _, err := db.Query(context.Background(), `count({job="fuzz"})`, time.UnixMilli(ts)); err != nil {
			t.Fatalf("store unusable after page %q: %v", page, err)
		}
	})
}
