package plot

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Scaling is a scaling simulation to draw: the demand, and for each policy
// compared the capacity of its ready replicas and its replica count, one
// value per step.
type Scaling struct {
	Title    string
	Interval time.Duration // time one step stands for
	Load     []float64     // demand, req/s
	Runs     []ScalingRun
}

// ScalingRun is one policy's part of a Scaling chart.
type ScalingRun struct {
	Name          string
	ReadyCapacity []float64 // req/s the ready replicas serve
	Replicas      []int     // replicas ready or starting (what is paid for)
}

// maxPoints bounds the points drawn per line, so a month at 15 s stays a
// small file: longer series are cut into buckets, drawing each bucket's
// highest load and lowest capacity (the view that hides no violation) and
// highest replica count.
const maxPoints = 1500

// WriteScaling writes the chart in format f: load and capacities on top,
// replica counts below, hours on the x axis.
func WriteScaling(w io.Writer, s Scaling, f Format) error {
	top, bottom, err := scalingPlots(s)
	if err != nil {
		return err
	}
	return render(w, f, 1.4*height, top, bottom)
}

// SaveScaling writes the chart to path, as SVG or PNG by its extension.
func SaveScaling(path string, s Scaling) error {
	return save(path, func(w io.Writer, f Format) error { return WriteScaling(w, s, f) })
}

func scalingPlots(s Scaling) (*gplot.Plot, *gplot.Plot, error) {
	n := len(s.Load)
	if n == 0 || len(s.Runs) == 0 {
		return nil, nil, errors.New("plot: scaling chart needs a load and at least one run")
	}
	if s.Interval <= 0 {
		return nil, nil, fmt.Errorf("plot: scaling chart interval %s must be positive", s.Interval)
	}
	if err := checkFinite(s.Load); err != nil {
		return nil, nil, err
	}
	bucket := (n + maxPoints - 1) / maxPoints
	hours := func(i int) float64 { return float64(i) * s.Interval.Hours() }
	top, bottom := gplot.New(), gplot.New()
	top.Title.Text = s.Title
	top.Y.Label.Text = "req/s"
	bottom.Y.Label.Text = "replicas"
	bottom.X.Label.Text = "hours"
	top.Add(plotter.NewGrid())
	bottom.Add(plotter.NewGrid())
	if err := addLine(top, "load", downsample(s.Load, bucket, hours, math.Max), blue, false); err != nil {
		return nil, nil, err
	}
	for i, r := range s.Runs {
		if len(r.ReadyCapacity) != n || len(r.Replicas) != n {
			return nil, nil, fmt.Errorf("plot: run %q has %d capacities and %d replica counts for %d load values", r.Name, len(r.ReadyCapacity), len(r.Replicas), n)
		}
		if err := checkFinite(r.ReadyCapacity); err != nil {
			return nil, nil, fmt.Errorf("plot: run %q: %w", r.Name, err)
		}
		c := palette[i%len(palette)]
		if err := addLine(top, r.Name+" capacity", downsample(r.ReadyCapacity, bucket, hours, math.Min), c, i > 0); err != nil {
			return nil, nil, err
		}
		replicas := make([]float64, n)
		for j, v := range r.Replicas {
			replicas[j] = float64(v)
		}
		if err := addLine(bottom, r.Name, downsample(replicas, bucket, hours, math.Max), c, i > 0); err != nil {
			return nil, nil, err
		}
	}
	top.Legend.Top = true
	top.Legend.Left = true
	bottom.Legend.Top = true
	bottom.Legend.Left = true
	bottom.Y.Min = 0
	top.Y.Min = 0
	for _, p := range []*gplot.Plot{top, bottom} {
		p.Legend.TextStyle.Font.Size = vg.Points(9)
	}
	return top, bottom, nil
}

// downsample keeps one point per bucket of steps, combining its values with
// pick (math.Max or math.Min), at the bucket's first step.
func downsample(v []float64, bucket int, x func(int) float64, pick func(a, b float64) float64) plotter.XYs {
	bucket = max(bucket, 1)
	xy := make(plotter.XYs, 0, (len(v)+bucket-1)/bucket)
	for i := 0; i < len(v); i += bucket {
		y := v[i]
		for _, w := range v[i+1 : min(i+bucket, len(v))] {
			y = pick(y, w)
		}
		xy = append(xy, plotter.XY{X: x(i), Y: y})
	}
	return xy
}
