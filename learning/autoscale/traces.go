package autoscale

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Trace is a load series to evaluate policies on.
type Trace struct {
	Name string
	// Source says where the load comes from: "generated (seed N)" or the
	// real data set it was read from.
	Source string
	// Interval is the time one value stands for.
	Interval time.Duration
	// Season is the length of the trace's main cycle in values (a day of
	// minutes for the generated traces).
	Season int
	// Load is demand in requests per second, one value per Interval.
	Load []float64
}

// minutesPerDay is the season of the generated minute-level traces.
const minutesPerDay = 24 * 60

// The generated traces are GENERATED, not measured: seeded synthetic
// shapes for edge workloads the shared data set has no minute-level trace
// of. Each is a deterministic function of its seed.

// OperatingRoomTrace is a hospital operating-room service (video and
// instrument telemetry analysed at the edge): near idle at night, busy from
// 07:30 to 18:00 on weekdays and at a quarter of that at weekends, with
// short bursts (an imaging series, a few minutes at two to four times the
// load). Minute level, req/s, days ≥ 1; day 0 is a Monday.
func OperatingRoomTrace(days int, seed uint64) Trace {
	rng := rand.New(rand.NewPCG(seed, 0x0a))
	n := max(days, 1) * minutesPerDay
	load := make([]float64, n)
	burstLeft, burstLevel := 0, 0.0
	for t := range load {
		day, minute := t/minutesPerDay, t%minutesPerDay
		h := float64(minute) / 60
		busy := smoothstep(7, 8, h) * (1 - smoothstep(17.5, 18.5, h)) // the surgical day
		lunch := 1 - 0.3*math.Exp(-sq((h-12.5)/0.5))                  // a dip at midday
		level := 2 + 160*busy*lunch
		if day%7 >= 5 {
			level = 2 + 40*busy // weekend: emergencies only
		}
		if burstLeft == 0 && busy > 0.5 && rng.Float64() < 0.01 {
			burstLeft, burstLevel = 2+rng.IntN(6), 1+rng.Float64()*3
		}
		if burstLeft > 0 {
			level *= burstLevel
			burstLeft--
		}
		load[t] = math.Max(level*(1+0.05*rng.NormFloat64()), 0)
	}
	return Trace{Name: "operating-room", Source: sourceGenerated(seed), Interval: time.Minute, Season: minutesPerDay, Load: load}
}

// RoadCameraTrace is a road camera's vehicle detection service: a smooth
// daily traffic cycle with morning and evening rush-hour peaks (smaller at
// weekends) and a growth trend of 2 % a week. Minute level, req/s.
func RoadCameraTrace(days int, seed uint64) Trace {
	rng := rand.New(rand.NewPCG(seed, 0x0b))
	n := max(days, 1) * minutesPerDay
	load := make([]float64, n)
	for t := range load {
		day, h := t/minutesPerDay, float64(t%minutesPerDay)/60
		base := 20 + 60*math.Max(math.Sin(math.Pi*(h-5)/18), 0) // daylight traffic 05:00–23:00
		rush := 120*math.Exp(-sq((h-8)/0.7)) + 100*math.Exp(-sq((h-17.5)/0.9))
		if day%7 >= 5 {
			rush *= 0.3
		}
		trend := 1 + 0.02*float64(t)/(7*minutesPerDay)
		load[t] = math.Max((base+rush)*trend*(1+0.04*rng.NormFloat64()), 0)
	}
	return Trace{Name: "road-camera", Source: sourceGenerated(seed), Interval: time.Minute, Season: minutesPerDay, Load: load}
}

// ServerlessTrace is a bursty serverless function: a weak daily cycle and
// bursts arriving at random (a Poisson process, about eight a day) that
// jump to five to twenty times the base load and decay over minutes, the
// shape the Azure Functions trace shows for event-triggered functions.
// Minute level, req/s.
func ServerlessTrace(days int, seed uint64) Trace {
	rng := rand.New(rand.NewPCG(seed, 0x0c))
	n := max(days, 1) * minutesPerDay
	load := make([]float64, n)
	burst := 0.0
	for t := range load {
		h := float64(t%minutesPerDay) / 60
		base := 10 + 8*math.Sin(2*math.Pi*(h-9)/24)
		if rng.Float64() < 8.0/minutesPerDay {
			burst += base * (5 + 15*rng.Float64())
		}
		burst *= 0.8 // about five minutes to fade
		load[t] = math.Max(base*(1+0.1*rng.NormFloat64())+burst, 0)
	}
	return Trace{Name: "serverless-bursty", Source: sourceGenerated(seed), Interval: time.Minute, Season: minutesPerDay, Load: load}
}

// GeneratedTraces are the three generated traces, two weeks each.
func GeneratedTraces(seed uint64) []Trace {
	return []Trace{OperatingRoomTrace(14, seed), RoadCameraTrace(14, seed), ServerlessTrace(14, seed)}
}

// Resample holds each value of load for factor steps: minute data replayed
// at a 15 s decision interval has factor 4.
func Resample(load []float64, factor int) []float64 {
	factor = max(factor, 1)
	out := make([]float64, 0, len(load)*factor)
	for _, v := range load {
		for range factor {
			out = append(out, v)
		}
	}
	return out
}

func sourceGenerated(seed uint64) string {
	return fmt.Sprintf("generated (seed %d)", seed)
}

func sq(x float64) float64 { return x * x }

// smoothstep rises from 0 at a to 1 at b.
func smoothstep(a, b, x float64) float64 {
	u := math.Min(math.Max((x-a)/(b-a), 0), 1)
	return u * u * (3 - 2*u)
}
