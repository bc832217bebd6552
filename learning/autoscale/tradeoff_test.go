package autoscale

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestFrontierKeepsOnlySettingsNoOtherBeats(t *testing.T) {
	points := []TradeoffPoint{
		{Policy: "hpa", Setting: "target 0.9", ReplicaHours: 90, ViolationMinutes: 30},
		{Policy: "hpa", Setting: "target 0.8", ReplicaHours: 100, ViolationMinutes: 20},
		{Policy: "hpa", Setting: "target 0.85", ReplicaHours: 100, ViolationMinutes: 25}, // same cost, more minutes
		{Policy: "hpa", Setting: "target 0.7", ReplicaHours: 120, ViolationMinutes: 22},  // dearer and worse than 0.8
		{Policy: "hpa", Setting: "target 0.6", ReplicaHours: 140, ViolationMinutes: 10},
		{Policy: "predictive", Setting: "quantile 0.9", ReplicaHours: 95, ViolationMinutes: 5},
	}
	var got []string
	for _, p := range Frontier(points, "hpa") {
		got = append(got, p.Setting)
	}
	if want := []string{"target 0.9", "target 0.8", "target 0.6"}; !slices.Equal(got, want) {
		t.Fatalf("front %v, want %v", got, want)
	}
	best, ok := BestWithin(points, "hpa", 130)
	if !ok || best.Setting != "target 0.8" {
		t.Fatalf("best within 130 h: %+v %v, want target 0.8", best, ok)
	}
	if _, ok := BestWithin(points, "hpa", 80); ok {
		t.Fatal("found a setting under the cheapest one's cost")
	}
	if best, ok := BestWithin(points, "predictive", 100); !ok || best.ViolationMinutes != 5 {
		t.Fatalf("predictive within 100 h: %+v %v", best, ok)
	}
}

func TestRunAllMatchesRunInOrder(t *testing.T) {
	load := OperatingRoomTrace(1, 3).Load
	svc := Service{Capacity: 10, StartupDelay: 2 * time.Minute, MinReplicas: 1, InitialReplicas: 1}
	targets := []float64{0.5, 0.6, 0.7, 0.8, 0.9}
	var policies []Policy
	for _, tu := range targets {
		policies = append(policies, NewHPA(HPAConfig{TargetUtilization: tu, Name: fmt.Sprintf("hpa %.1f", tu)}))
	}
	all, err := RunAll(load, time.Minute, svc, policies, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, tu := range targets {
		one, err := Run(load, time.Minute, svc, NewHPA(HPAConfig{TargetUtilization: tu}))
		if err != nil {
			t.Fatal(err)
		}
		if all[i].Policy != policies[i].Name() || all[i].ReplicaHours != one.ReplicaHours || all[i].SLOViolationMinutes != one.SLOViolationMinutes {
			t.Fatalf("result %d: %s %v h %v min, alone %v h %v min", i, all[i].Policy, all[i].ReplicaHours, all[i].SLOViolationMinutes, one.ReplicaHours, one.SLOViolationMinutes)
		}
	}
	if all[0].ReplicaHours <= all[len(all)-1].ReplicaHours {
		t.Fatal("a lower target did not cost more: the settings did not reach the policies")
	}
	if _, err := RunAll([]float64{-1}, time.Minute, svc, policies[:1], 2); err == nil {
		t.Fatal("a negative load was replayed")
	}
}

// A trade-off sweep: the HPA rule at several targets, and what the best of
// them within a budget costs and leaves unserved.
func ExampleBestWithin() {
	load := OperatingRoomTrace(2, 1).Load
	svc := Service{Capacity: 10, StartupDelay: 2 * time.Minute, MinReplicas: 1, InitialReplicas: 1}
	targets := []float64{0.5, 0.6, 0.7, 0.8, 0.9}
	var policies []Policy
	for _, tu := range targets {
		policies = append(policies, NewHPA(HPAConfig{TargetUtilization: tu}))
	}
	results, err := RunAll(load, time.Minute, svc, policies, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	var points []TradeoffPoint
	for i, r := range results {
		points = append(points, TradeoffPoint{Policy: "hpa", Setting: fmt.Sprintf("target %.1f", targets[i]), Label: fmt.Sprint(targets[i]),
			ReplicaHours: r.ReplicaHours, ViolationMinutes: r.SLOViolationMinutes})
	}
	def := points[3] // target 0.8
	best, _ := BestWithin(points, "hpa", def.ReplicaHours*1.2)
	fmt.Printf("within 20 %% more than target 0.8 costs, the fewest violation minutes: %s\n", best.Setting)
	fmt.Println(best.ViolationMinutes <= def.ViolationMinutes)
	// Output:
	// within 20 % more than target 0.8 costs, the fewest violation minutes: target 0.7
	// true
}
