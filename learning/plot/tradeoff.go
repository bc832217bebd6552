package plot

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"strconv"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/cloudskin/cloudskin/learning/autoscale"
)

// Tradeoff is a sweep of policy settings to draw: each point's cost
// (replica-hours, x) against its SLO-violation minutes (y), one colour per
// policy, each policy's front joined by a line, its default setting drawn
// larger.
type Tradeoff struct {
	Title  string
	Points []autoscale.TradeoffPoint
}

// WriteTradeoff writes the chart in format f.
func WriteTradeoff(w io.Writer, t Tradeoff, f Format) error {
	p, err := tradeoffPlot(t)
	if err != nil {
		return err
	}
	return render(w, f, height, p)
}

// SaveTradeoff writes the chart to path, as SVG or PNG by its extension.
func SaveTradeoff(path string, t Tradeoff) error {
	return save(path, func(w io.Writer, f Format) error { return WriteTradeoff(w, t, f) })
}

func tradeoffPlot(t Tradeoff) (*gplot.Plot, error) {
	if len(t.Points) == 0 {
		return nil, errors.New("plot: a trade-off chart needs points")
	}
	for _, p := range t.Points {
		if err := checkFinite([]float64{p.ReplicaHours, p.ViolationMinutes}); err != nil {
			return nil, fmt.Errorf("plot: %s %s: %w", p.Policy, p.Setting, err)
		}
	}
	p := gplot.New()
	p.Title.Text = t.Title
	p.X.Label.Text = "replica-hours (cost)"
	p.Y.Label.Text = "SLO-violation minutes"
	p.Add(plotter.NewGrid())
	colours := append([]color.RGBA{blue}, palette...)
	for i, policy := range autoscale.PoliciesOf(t.Points) {
		if err := addPolicyPoints(p, t.Points, policy, colours[i%len(colours)]); err != nil {
			return nil, err
		}
	}
	p.Legend.Top = true
	p.X.Tick.Marker = plainTicks{}
	p.Y.Min = 0
	p.Y.Max += 0.15 * (p.Y.Max - p.Y.Min) // room for the legend
	return p, nil
}

// addPolicyPoints draws one policy's settings: every point, its front as a
// line with each front point's setting as a label, the default as a
// larger ring.
func addPolicyPoints(p *gplot.Plot, points []autoscale.TradeoffPoint, policy string, c color.RGBA) error {
	var all, defaults, front plotter.XYs
	var labels []string
	for _, pt := range points {
		if pt.Policy != policy {
			continue
		}
		xy := plotter.XY{X: pt.ReplicaHours, Y: pt.ViolationMinutes}
		all = append(all, xy)
		if pt.Default {
			defaults = append(defaults, xy)
		}
	}
	// Only the front is labelled: the points behind it are beaten by
	// another setting, and their labels would crowd the ones that count.
	for _, pt := range autoscale.Frontier(points, policy) {
		front = append(front, plotter.XY{X: pt.ReplicaHours, Y: pt.ViolationMinutes})
		labels = append(labels, pt.Label)
	}
	line, err := plotter.NewLine(front)
	if err != nil {
		return fmt.Errorf("plot: %s front: %w", policy, err)
	}
	line.Color, line.Width = c, vg.Points(1.2)
	dots, err := plotter.NewScatter(all)
	if err != nil {
		return fmt.Errorf("plot: %s points: %w", policy, err)
	}
	dots.Color, dots.Shape, dots.Radius = c, draw.CircleGlyph{}, vg.Points(2.5)
	names, err := plotter.NewLabels(plotter.XYLabels{XYs: front, Labels: labels})
	if err != nil {
		return fmt.Errorf("plot: %s labels: %w", policy, err)
	}
	for i := range names.TextStyle {
		names.TextStyle[i].Color = c
		names.TextStyle[i].Font.Size = vg.Points(8)
	}
	names.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(2)}
	p.Add(line, dots, names)
	p.Legend.Add(policy+" (front joined)", line, dots)
	if len(defaults) > 0 {
		ring, err := plotter.NewScatter(defaults)
		if err != nil {
			return fmt.Errorf("plot: %s default: %w", policy, err)
		}
		ring.Color, ring.Shape, ring.Radius = c, draw.RingGlyph{}, vg.Points(6)
		p.Add(ring)
		p.Legend.Add(policy+" default", ring)
	}
	return nil
}

// plainTicks are gonum's default ticks labelled without trailing zeros
// ("2250", not "2250.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []gplot.Tick {
	ticks := gplot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = strconv.FormatFloat(t.Value, 'f', -1, 64)
		}
	}
	return ticks
}
