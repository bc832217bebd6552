package plot

import (
	"math"
	"strings"
	"testing"

	"github.com/cloudskin/cloudskin/learning/autoscale"
)

func TestTradeoffChartLabelsTheFrontsOnly(t *testing.T) {
	points := []autoscale.TradeoffPoint{
		{Policy: "hpa", Label: "0.8", Default: true, ReplicaHours: 100, ViolationMinutes: 20},
		{Policy: "hpa", Label: "0.6", ReplicaHours: 130, ViolationMinutes: 12},
		{Policy: "hpa", Label: "0.65", ReplicaHours: 140, ViolationMinutes: 15}, // behind the front
		{Policy: "predictive", Label: "0.99", Default: true, ReplicaHours: 95, ViolationMinutes: 9},
	}
	var b strings.Builder
	if err := WriteTradeoff(&b, Tradeoff{Title: "sweep", Points: points}, SVG); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	for _, want := range []string{"hpa default", "predictive default", ">0.8<", ">0.6<", ">0.99<", "replica-hours"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Contains(svg, ">0.65<") {
		t.Error("a setting behind the front is labelled")
	}
	if err := WriteTradeoff(&b, Tradeoff{}, SVG); err == nil {
		t.Error("drew a chart without points")
	}
	points[0].ViolationMinutes = math.NaN()
	if err := WriteTradeoff(&b, Tradeoff{Points: points}, SVG); err == nil || !strings.Contains(err.Error(), "hpa") {
		t.Errorf("drew NaN: %v", err)
	}
}
