package plot

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestForecastSVGIsWellFormedAndLabelled(t *testing.T) {
	var b strings.Builder
	err := ForecastSVG(&b, Chart{Title: "a <b> & c", History: []float64{1, 2, 3}, Forecast: []float64{4, 5}, Actual: []float64{4, 6}})
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v", err)
		}
	}
	// gonum/plot's SVG draws text as glyphs in <text> elements.
	for _, want := range []string{"history", "forecast", "actual"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG has no %q legend entry", want)
		}
	}
}

func TestForecastRejectsWhatItCannotDraw(t *testing.T) {
	if err := ForecastSVG(io.Discard, Chart{History: []float64{1}}); err == nil {
		t.Error("drew a chart without a forecast")
	}
	if err := ForecastSVG(io.Discard, Chart{History: []float64{1}, Forecast: []float64{math.NaN()}}); err == nil {
		t.Error("drew NaN")
	}
	if err := WriteForecast(io.Discard, Chart{History: []float64{1}, Forecast: []float64{2}}, "gif"); err == nil {
		t.Error("wrote an unknown format")
	}
	if err := ForecastSVG(io.Discard, Chart{History: []float64{1}, Forecast: []float64{2, 3}, Lower: []float64{1}, Upper: []float64{4}}); err == nil {
		t.Error("drew an interval shorter than the forecast")
	}
	if err := ForecastSVG(io.Discard, Chart{History: []float64{1}, Forecast: []float64{2}, Lower: []float64{1}}); err == nil {
		t.Error("drew an interval without an upper bound")
	}
}

// With times, the x axis is dated: daily data by day, finer data with the
// clock; a count of times that does not match the points is refused.
func TestForecastDatesItsAxis(t *testing.T) {
	day := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	c := Chart{History: make([]float64, 40), Forecast: []float64{1, 2, 3}}
	for i := range len(c.History) + len(c.Forecast) {
		c.Times = append(c.Times, day.AddDate(0, 0, i))
	}
	var b strings.Builder
	if err := ForecastSVG(&b, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "2016-01-") || strings.Contains(b.String(), ">step<") {
		t.Error("a daily chart's axis shows no dates, or still says step")
	}
	if got := timeFormat([]time.Time{day, day.Add(time.Minute)}); got != "Jan 02 15:04" {
		t.Errorf("minute data labelled %q, want the clock", got)
	}
	c.Times = c.Times[1:]
	if err := ForecastSVG(io.Discard, c); err == nil || !strings.Contains(err.Error(), "times") {
		t.Errorf("drew %d times for %d points: %v", len(c.Times), len(c.History)+len(c.Forecast), err)
	}
}

func TestForecastDrawsItsInterval(t *testing.T) {
	c := Chart{History: []float64{1, 2, 3}, Forecast: []float64{4, 5}}
	var without, with strings.Builder
	if err := ForecastSVG(&without, c); err != nil {
		t.Fatal(err)
	}
	c.Lower, c.Upper = []float64{3, 3.5}, []float64{5, 6.5}
	if err := ForecastSVG(&with, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(with.String(), "interval") || strings.Contains(without.String(), "interval") {
		t.Error("the interval's legend entry is missing, or drawn without an interval")
	}
	if strings.Count(with.String(), "<path") <= strings.Count(without.String(), "<path") {
		t.Error("no shape was added for the interval")
	}
}

func TestSaveChoosesFormatByExtension(t *testing.T) {
	dir := t.TempDir()
	c := Chart{Title: "t", History: []float64{1, 2, 3}, Forecast: []float64{4}}
	pngPath, svgPath := filepath.Join(dir, "f.png"), filepath.Join(dir, "f.SVG")
	for _, p := range []string{pngPath, svgPath} {
		if err := SaveForecast(p, c); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(pngPath)
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("f.png is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 400 {
		t.Errorf("PNG is %v, want about 1100×440", b)
	}
	data, _ = os.ReadFile(svgPath)
	if !bytes.Contains(data, []byte("<svg")) {
		t.Error("f.SVG is not SVG")
	}
	if err := SaveForecast(filepath.Join(dir, "f.jpg"), c); err == nil || !strings.Contains(err.Error(), ".jpg") {
		t.Errorf("a .jpg path: %v, want an error naming the extension", err)
	}
}

func TestScalingChart(t *testing.T) {
	n := 5000 // more than maxPoints: exercises the downsampling
	s := Scaling{Title: "sim", Interval: 15 * time.Second, Load: make([]float64, n)}
	run := ScalingRun{Name: "hpa", ReadyCapacity: make([]float64, n), Replicas: make([]int, n)}
	for i := range n {
		s.Load[i] = 50 + 40*math.Sin(float64(i)/300)
		run.ReadyCapacity[i], run.Replicas[i] = 100, 10
	}
	s.Runs = []ScalingRun{run, {Name: "predictive", ReadyCapacity: run.ReadyCapacity, Replicas: run.Replicas}}
	var b bytes.Buffer
	if err := WriteScaling(&b, s, PNG); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&b); err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	b.Reset()
	if err := WriteScaling(&b, s, SVG); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "predictive capacity") {
		t.Error("SVG has no legend entry for the second run's capacity")
	}
	bad := s
	bad.Runs = []ScalingRun{{Name: "short", ReadyCapacity: []float64{1}, Replicas: []int{1}}}
	if err := WriteScaling(io.Discard, bad, SVG); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("mismatched run: %v, want an error naming it", err)
	}
}

func TestDownsampleKeepsPeaksAndTroughs(t *testing.T) {
	v := []float64{1, 9, 2, 3, 0, 4, 5}
	x := func(i int) float64 { return float64(i) }
	hi := downsample(v, 3, x, math.Max)
	lo := downsample(v, 3, x, math.Min)
	if len(hi) != 3 || hi[0].Y != 9 || hi[1].Y != 4 || hi[2].Y != 5 || hi[1].X != 3 {
		t.Errorf("max buckets %v", hi)
	}
	if lo[0].Y != 1 || lo[1].Y != 0 {
		t.Errorf("min buckets %v", lo)
	}
}
