package autoscale

// THROWAWAY: exploration harness, not to be committed.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// orWithBursts is OperatingRoomTrace plus, per minute, the minutes since the
// burst started (-1 outside a burst).
func orWithBursts(days int, seed uint64) ([]float64, []int, []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x0a))
	n := max(days, 1) * minutesPerDay
	load := make([]float64, n)
	inBurst := make([]int, n)
	base := make([]float64, n)
	burstLeft, burstLevel, since := 0, 0.0, 0
	for t := range load {
		day, minute := t/minutesPerDay, t%minutesPerDay
		h := float64(minute) / 60
		busy := smoothstep(7, 8, h) * (1 - smoothstep(17.5, 18.5, h))
		lunch := 1 - 0.3*math.Exp(-sq((h-12.5)/0.5))
		level := 2 + 160*busy*lunch
		if day%7 >= 5 {
			level = 2 + 40*busy
		}
		base[t] = level
		if burstLeft == 0 && busy > 0.5 && rng.Float64() < 0.01 {
			burstLeft, burstLevel = 2+rng.IntN(6), 1+rng.Float64()*3
			since = 0
		}
		inBurst[t] = -1
		if burstLeft > 0 {
			level *= burstLevel
			burstLeft--
			inBurst[t] = since
			since++
		}
		load[t] = math.Max(level*(1+0.05*rng.NormFloat64()), 0)
	}
	return load, inBurst, base
}

type cliSetup struct {
	load []float64
	svc  Service
	pred PredictiveConfig
	hpa  HPAConfig
}

func setupLike(rows []float64, season int) cliSetup {
	const interval = 15 * time.Second
	step := time.Minute
	resolution := step * time.Duration((season+287)/288)
	modelSeason := max(int(time.Duration(season)*step/resolution), 1)
	blockSteps := int(resolution / interval)
	load := Resample(rows, 4)
	pred := PredictiveConfig{Resolution: resolution, Season: modelSeason, History: 4 * modelSeason,
		RefitEvery: blockSteps, StartupDelay: 2 * time.Minute, ScaleDownAfter: DefaultDownscaleWindow, MinReplicas: 1}
	warmup := time.Duration(2*modelSeason+1) * resolution
	initial := max(int(load[0]/(10*0.8))+1, 1)
	svc := Service{Capacity: 10, StartupDelay: 2 * time.Minute, MinReplicas: 1, InitialReplicas: initial, Warmup: int(warmup / interval)}
	return cliSetup{load: load, svc: svc, pred: pred, hpa: HPAConfig{DownscaleWindow: DefaultDownscaleWindow, MinReplicas: 1}}
}

func traceFor(name string, seed uint64) Trace {
	switch name {
	case "operating-room":
		return OperatingRoomTrace(14, seed)
	case "road-camera":
		return RoadCameraTrace(14, seed)
	}
	return ServerlessTrace(14, seed)
}

func TestZZExploreClassify(t *testing.T) {
	if os.Getenv("EXPLORE") != "classify" {
		t.Skip()
	}
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	rows, burst, _ := orWithBursts(14, uint64(seed))
	s := setupLike(rows, 1440)
	pols := []Policy{NewHPA(s.hpa)}
	for _, m := range strings.Split(os.Getenv("MODELS"), ",") {
		c := s.pred
		c.Model = m
		pols = append(pols, NewPredictive(c))
	}
	nb := 0
	for i := range burst {
		if burst[i] == 0 && i >= s.svc.Warmup/4 {
			nb++
		}
	}
	fmt.Printf("scored bursts: %d\n", nb)
	for _, p := range pols {
		r := Simulate(s.load, 15*time.Second, s.svc, p)
		cat := map[string]float64{}
		for i := s.svc.Warmup; i < len(s.load); i++ {
			if s.load[i] <= r.Series.ReadyCapacity[i]*(1+1e-12) {
				continue
			}
			m := i / 4
			k := "no burst"
			if burst[m] >= 0 {
				q := burst[m]*4 + i%4 // interval within the burst
				if q < 9 {
					k = "burst first 2.25m"
				} else {
					k = "burst later"
				}
			} else if m > 0 && burst[m-1] >= 0 {
				k = "just after burst"
			} else {
				h := float64(m%minutesPerDay) / 60
				k = fmt.Sprintf("no burst h%02d", int(h))
			}
			cat[k] += 0.25
		}
		fmt.Printf("%s: viol %.2f rh %.1f ev %d cold %d\n", r.Policy, r.SLOViolationMinutes, r.ReplicaHours, r.ScalingEvents, r.ColdStarts)
		for k, v := range cat {
			fmt.Printf("   %-22s %.2f\n", k, v)
		}
	}
}

// oracle knows the burst-free level of every step and chases bursts.
type oracle struct {
	base      []float64 // per 15 s step
	k, target float64
	hold      int
	chaseTill int
	chaseN    int
	noChase   bool
}

func (o *oracle) Name() string { return fmt.Sprintf("oracle k=%.2f", o.k) }
func (o *oracle) Decide(ob Observation) Decision {
	t := ob.Step
	hi := 0.0
	for i := t + 1; i <= t+10 && i < len(o.base); i++ {
		hi = math.Max(hi, o.base[i])
	}
	n := int(math.Ceil(o.k * hi / 10))
	now := latest(ob.Load)
	if !o.noChase && now > o.base[t]*1.3 {
		o.chaseN = max(o.chaseN, int(math.Ceil(now/(10*o.target))))
		o.chaseTill = t + o.hold
	}
	if t < o.chaseTill {
		n = max(n, o.chaseN)
	} else {
		o.chaseN = 0
	}
	return Decision{Replicas: max(n, 1)}
}

func TestZZExploreOracle(t *testing.T) {
	if os.Getenv("EXPLORE") != "oracle" {
		t.Skip()
	}
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	rows, _, base := orWithBursts(14, uint64(seed))
	s := setupLike(rows, 1440)
	b4 := Resample(base, 4)
	for _, nc := range []bool{false, true} {
		for _, hold := range []int{1, 4, 20} {
			for _, k := range []float64{1.1, 1.25, 1.5, 1.75, 2, 2.5} {
				p := &oracle{base: b4, k: k, target: 0.9, hold: hold, noChase: nc}
				r := Simulate(s.load, 15*time.Second, s.svc, p)
				fmt.Printf("nochase=%v hold=%d k=%.2f viol %.2f rh %.1f ev %d\n", nc, hold, k, r.SLOViolationMinutes, r.ReplicaHours, r.ScalingEvents)
			}
		}
	}
}

// oracle2: cover bursts fully when the base is cheap.
type oracle2 struct {
	base         []float64
	kLow, kHigh  float64
	thresh       float64
	chaseTill    int
	chaseN, hold int
}

func (o *oracle2) Name() string { return "oracle2" }
func (o *oracle2) Decide(ob Observation) Decision {
	t := ob.Step
	n := 0
	for i := t + 1; i <= t+10 && i < len(o.base); i++ {
		k := o.kHigh
		if o.base[i] < o.thresh {
			k = o.kLow
		}
		n = max(n, int(math.Ceil(k*o.base[i]/10)))
	}
	now := latest(ob.Load)
	if now > o.base[t]*1.3 {
		o.chaseN = max(o.chaseN, int(math.Ceil(now/(10*0.9))))
		o.chaseTill = t + o.hold
	}
	if t < o.chaseTill {
		n = max(n, o.chaseN)
	} else {
		o.chaseN = 0
	}
	return Decision{Replicas: max(n, 1)}
}

func TestZZExploreOracle2(t *testing.T) {
	if os.Getenv("EXPLORE") != "oracle2" {
		t.Skip()
	}
	seed, _ := strconv.Atoi(os.Getenv("SEED"))
	rows, _, base := orWithBursts(14, uint64(seed))
	s := setupLike(rows, 1440)
	b4 := Resample(base, 4)
	for _, kh := range []float64{1.15, 1.25} {
		for _, kl := range []float64{2.5, 3, 4} {
			for _, th := range []float64{30, 50, 80, 120} {
				p := &oracle2{base: b4, kLow: kl, kHigh: kh, thresh: th, hold: 1}
				r := Simulate(s.load, 15*time.Second, s.svc, p)
				fmt.Printf("kh=%.2f kl=%.1f th=%.0f viol %.2f rh %.1f ev %d\n", kh, kl, th, r.SLOViolationMinutes, r.ReplicaHours, r.ScalingEvents)
			}
		}
	}
}
