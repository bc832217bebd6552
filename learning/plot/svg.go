// Package plot draws a forecast against its history (and, when known, the
// actual values) as a small standalone SVG line chart.
//
// Hand-written: a line chart is a few polylines and tick labels, and
// gonum/plot would pull a font and image stack into the binary for that.
package plot

import (
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Chart is what ForecastSVG draws. Steps are equally spaced; history ends
// where the forecast begins.
type Chart struct {
	Title    string
	History  []float64
	Forecast []float64
	// Actual, if not nil, are the true values over the forecast's steps.
	Actual []float64
}

const (
	width, height            = 900, 360
	left, right, top, bottom = 80, 20, 50, 40
)

// ForecastSVG writes the chart as SVG.
func ForecastSVG(w io.Writer, c Chart) error {
	n := len(c.History) + len(c.Forecast)
	if len(c.History) == 0 || len(c.Forecast) == 0 {
		return errors.New("plot: need a history and a forecast")
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range [][]float64{c.History, c.Forecast, c.Actual} {
		for _, v := range s {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("plot: value %v cannot be drawn", v)
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if hi == lo {
		hi, lo = hi+1, lo-1
	}
	x := func(i int) float64 { return left + float64(i)*(width-left-right)/float64(max(n-1, 1)) }
	y := func(v float64) float64 { return top + (hi-v)*(height-top-bottom)/(hi-lo) }
	line := func(from int, vals []float64, color, dash string) string {
		var b strings.Builder
		for i, v := range vals {
			fmt.Fprintf(&b, "%.1f,%.1f ", x(from+i), y(v))
		}
		return fmt.Sprintf(`<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", color, dash, strings.TrimSpace(b.String()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="14">%s</text>`+"\n", left, html.EscapeString(c.Title))
	for i := 0; i <= 4; i++ { // horizontal grid with value labels
		v := lo + float64(i)*(hi-lo)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, width-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.4g</text>`+"\n", left-6, y(v)+4, v)
	}
	origin := len(c.History) - 1
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>`+"\n", x(origin), x(origin), top, height-bottom)
	fmt.Fprintf(&b, `<text x="%d" y="%d">step 0</text><text x="%.1f" y="%d" text-anchor="middle">forecast origin (step %d)</text><text x="%d" y="%d" text-anchor="end">step %d</text>`+"\n",
		left, height-bottom+18, x(origin), height-bottom+18, origin, width-right, height-bottom+18, n-1)
	b.WriteString(line(0, c.History, "#1f77b4", ""))
	// The forecast starts from the last observed point, so the lines join.
	b.WriteString(line(origin, append([]float64{c.History[origin]}, c.Forecast...), "#ff7f0e", ""))
	legend := []struct{ name, color string }{{"history", "#1f77b4"}, {"forecast", "#ff7f0e"}}
	if len(c.Actual) > 0 {
		b.WriteString(line(origin, append([]float64{c.History[origin]}, c.Actual...), "#2ca02c", ` stroke-dasharray="5 3"`))
		legend = append(legend, struct{ name, color string }{"actual", "#2ca02c"})
	}
	for i, l := range legend {
		lx := width - right - 90*(len(legend)-i)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="18" y2="18" stroke="%s" stroke-width="3"/><text x="%d" y="22">%s</text>`+"\n", lx, lx+20, l.color, lx+25, l.name)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
