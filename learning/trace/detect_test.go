package trace

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDetectSeasonFindsTheCycleInTheData(t *testing.T) {
	// Minutes with a daily cycle and a trend: the day wins over the hour.
	daily := make([]float64, 3*1440)
	for i := range daily {
		daily[i] = 0.01*float64(i) + 50*math.Sin(2*math.Pi*float64(i)/1440) + 3*noise(i)
	}
	m, why, err := DetectSeason(daily, time.Minute)
	if err != nil || m != 1440 || !strings.Contains(why, "day") {
		t.Fatalf("daily minutes: season %d (%s, %v), want 1440", m, why, err)
	}
	// Days with a weekly pattern.
	weekly := make([]float64, 200)
	for i := range weekly {
		weekly[i] = 100 + float64(i) + []float64{0, 5, 5, 5, 5, -20, -30}[i%7]
	}
	if m, _, _ := DetectSeason(weekly, 24*time.Hour); m != 7 {
		t.Fatalf("weekly days: season %d, want 7", m)
	}
	// Noise has no season.
	noise2 := noise
	noise := make([]float64, 500)
	for i := range noise {
		noise[i] = 10 * noise2(i)
	}
	if m, why, _ := DetectSeason(noise, time.Hour); m != 1 || !strings.Contains(why, "no clear cycle") {
		t.Fatalf("noise: season %d (%s), want 1", m, why)
	}
	// Too short for a day of minutes: the hour is the only candidate.
	short := daily[:200]
	if _, why, _ := DetectSeason(short, time.Minute); !strings.Contains(why, "day (1440 steps) needs 2881 values") {
		t.Fatalf("short series: %s", why)
	}
	if _, _, err := DetectSeason(daily, 7*time.Second); err == nil {
		t.Fatal("a 7 s step matched a sampling")
	}
}

// noise is a fixed pseudo-random number in [-1, 1) for step i.
func noise(i int) float64 {
	x := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	x ^= x >> 31
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 29
	return float64(x>>11)/float64(1<<52) - 1
}
