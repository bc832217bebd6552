package plot

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestForecastSVGIsWellFormedAndDrawsEachLine(t *testing.T) {
	var b strings.Builder
	err := ForecastSVG(&b, Chart{Title: "a <b> & c", History: []float64{1, 2, 3}, Forecast: []float64{4, 5}, Actual: []float64{4, 6}})
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 3 {
		t.Errorf("%d polylines, want history, forecast and actual", polylines)
	}
}

func TestForecastSVGRejectsWhatItCannotDraw(t *testing.T) {
	if err := ForecastSVG(io.Discard, Chart{History: []float64{1}}); err == nil {
		t.Error("drew a chart without a forecast")
	}
	if err := ForecastSVG(io.Discard, Chart{History: []float64{1}, Forecast: []float64{math.NaN()}}); err == nil {
		t.Error("drew NaN")
	}
}
