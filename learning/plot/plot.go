// Package plot draws the Learning Plane's charts: a forecast against its
// history (and, when known, the actual values), and a scaling simulation
// (load against the capacity of ready replicas, and replica counts, over
// time). Charts are written as SVG or PNG, chosen by the file extension.
//
// Drawing is gonum/plot's: axes, ticks, legends and raster output are the
// parts of a chart most easily got wrong by hand.
package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Format is an output format.
type Format string

// Formats.
const (
	SVG Format = "svg"
	PNG Format = "png"
)

// FormatOf picks the format from a file name's extension.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		return SVG, nil
	case ".png":
		return PNG, nil
	}
	return "", fmt.Errorf("plot: %s: unknown extension (want .svg or .png)", path)
}

// Size of every chart; PNG is rendered at 96 dpi, so about 1100×440 pixels.
const (
	width  = 11.5 * vg.Inch
	height = 4.6 * vg.Inch
	dpi    = 96
)

var (
	blue   = rgb(0x1f, 0x77, 0xb4)
	orange = rgb(0xff, 0x7f, 0x0e)
	green  = rgb(0x2c, 0xa0, 0x2c)
	// palette colours the capacity lines of compared policies.
	palette = []color.RGBA{orange, green, rgb(0xd6, 0x27, 0x28), rgb(0x94, 0x67, 0xbd), rgb(0x8c, 0x56, 0x4b)}
)

// Chart is what ForecastSVG draws. Steps are equally spaced; history ends
// where the forecast begins.
type Chart struct {
	Title    string
	History  []float64
	Forecast []float64
	// Actual, if not nil, are the true values over the forecast's steps.
	Actual []float64
	// Lower and Upper, if not nil, bound the forecast's prediction
	// interval, one value per forecast step.
	Lower, Upper []float64
	// Times, if not nil, date the points: one per history value, then one
	// per forecast step. The x axis then shows dates instead of steps.
	Times []time.Time
}

// ForecastSVG writes the chart as SVG.
func ForecastSVG(w io.Writer, c Chart) error { return WriteForecast(w, c, SVG) }

// WriteForecast writes the forecast chart in format f.
func WriteForecast(w io.Writer, c Chart, f Format) error {
	p, err := forecastPlot(c)
	if err != nil {
		return err
	}
	return render(w, f, height, p)
}

// SaveForecast writes the forecast chart to path, as SVG or PNG by its
// extension.
func SaveForecast(path string, c Chart) error {
	return save(path, func(w io.Writer, f Format) error { return WriteForecast(w, c, f) })
}

func forecastPlot(c Chart) (*gplot.Plot, error) {
	if len(c.History) == 0 || len(c.Forecast) == 0 {
		return nil, errors.New("plot: need a history and a forecast")
	}
	for _, s := range [][]float64{c.History, c.Forecast, c.Actual, c.Lower, c.Upper} {
		if err := checkFinite(s); err != nil {
			return nil, err
		}
	}
	if (c.Lower == nil) != (c.Upper == nil) || (c.Lower != nil && (len(c.Lower) != len(c.Forecast) || len(c.Upper) != len(c.Forecast))) {
		return nil, errors.New("plot: an interval needs a lower and an upper bound for each forecast step")
	}
	if c.Times != nil && len(c.Times) != len(c.History)+len(c.Forecast) {
		return nil, fmt.Errorf("plot: %d times for %d history values and %d forecast steps", len(c.Times), len(c.History), len(c.Forecast))
	}
	x := stepX
	p := gplot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = "step"
	if c.Times != nil {
		x = func(i int) float64 { return float64(c.Times[i].Unix()) }
		p.X.Label.Text = ""
		p.X.Tick.Marker = gplot.TimeTicks{Format: timeFormat(c.Times)}
	}
	p.Add(plotter.NewGrid())
	origin := len(c.History) - 1
	// The forecast and actual start from the last observed point, so the
	// lines join.
	joined := func(s []float64) []float64 { return append([]float64{c.History[origin]}, s...) }
	if c.Lower != nil {
		if err := addBand(p, "95% interval", points(x, origin+1, c.Lower), points(x, origin+1, c.Upper), orange); err != nil {
			return nil, err
		}
	}
	if err := addLine(p, "history", points(x, 0, c.History), blue, false); err != nil {
		return nil, err
	}
	if err := addLine(p, "forecast", points(x, origin, joined(c.Forecast)), orange, false); err != nil {
		return nil, err
	}
	if len(c.Actual) > 0 {
		if err := addLine(p, "actual", points(x, origin, joined(c.Actual)), green, true); err != nil {
			return nil, err
		}
	}
	// The legend goes top left, over room kept above the data: the
	// forecast and its widening interval fill the right-hand side.
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(6)
	p.Y.Max += 0.18 * (p.Y.Max - p.Y.Min) // Add has set the range to the data's
	return p, nil
}

// stepX places the i-th point at x = i.
func stepX(i int) float64 { return float64(i) }

// points places values at x(from), x(from+1), ...
func points(x func(int) float64, from int, v []float64) plotter.XYs {
	xy := make(plotter.XYs, len(v))
	for i, y := range v {
		xy[i] = plotter.XY{X: x(from + i), Y: y}
	}
	return xy
}

// timeFormat labels dates without a clock when every point falls on a
// midnight (daily or monthly data).
func timeFormat(times []time.Time) string {
	for _, t := range times {
		if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
			return "Jan 02 15:04"
		}
	}
	return "2006-01-02"
}

func addLine(p *gplot.Plot, name string, xy plotter.XYs, c color.RGBA, dashed bool) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("plot: %s: %w", name, err)
	}
	l.Color = c
	l.Width = vg.Points(1.2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	}
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}

// addBand shades the area between lower and upper.
func addBand(p *gplot.Plot, name string, lower, upper plotter.XYs, c color.RGBA) error {
	outline := append(lower, reversed(upper)...)
	poly, err := plotter.NewPolygon(outline)
	if err != nil {
		return fmt.Errorf("plot: %s: %w", name, err)
	}
	poly.Color = color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x40} // not premultiplied: a light tint of c
	poly.LineStyle.Width = 0
	p.Add(poly)
	p.Legend.Add(name, poly)
	return nil
}

func reversed(xy plotter.XYs) plotter.XYs {
	out := make(plotter.XYs, len(xy))
	for i, v := range xy {
		out[len(xy)-1-i] = v
	}
	return out
}

func checkFinite(s []float64) error {
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("plot: value %v cannot be drawn", v)
		}
	}
	return nil
}

// render draws plots stacked top to bottom into w.
func render(w io.Writer, f Format, h vg.Length, plots ...*gplot.Plot) error {
	var canvas vg.CanvasWriterTo
	switch f {
	case SVG:
		canvas = vgsvg.New(width, h)
	case PNG:
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, h), vgimg.UseDPI(dpi))}
	default:
		return fmt.Errorf("plot: unknown format %q (want svg or png)", f)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 2 * vg.Millimeter, PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: 2 * vg.Millimeter}
	grid := make([][]*gplot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*gplot.Plot{p}
	}
	canvases := gplot.Align(grid, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	if _, err := canvas.WriteTo(w); err != nil {
		return fmt.Errorf("plot: write %s: %w", f, err)
	}
	return nil
}

// save creates path and writes into it in the format of its extension.
func save(path string, write func(io.Writer, Format) error) error {
	f, err := FormatOf(path)
	if err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := write(out, f); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

func rgb(r, g, b uint8) color.RGBA { return color.RGBA{R: r, G: g, B: b, A: 255} }
