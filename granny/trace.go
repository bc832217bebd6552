package granny

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// TraceHeader is the first record of a trace (docs/formats/granny-trace.md).
const TraceHeader = "arrival,ranks,duration,memory_mib,elastic"

const (
	mib          = 1 << 20
	maxRanks     = 1 << 16
	maxMemoryMiB = 1 << 30
)

var traceFields = strings.Split(TraceHeader, ",")

// ParseError says where a trace is wrong.
type ParseError struct {
	Line  int    // 1-based
	Field string // "" when the line as a whole is wrong
	Err   error
}

func (e *ParseError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("trace line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("trace line %d, field %s: %v", e.Line, e.Field, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseTrace reads a trace: a header line, then one job per line. Blank
// lines and lines starting with '#' are skipped. Job IDs are the record
// order, from 0.
func ParseTrace(r io.Reader) ([]Job, error) {
	sc := bufio.NewScanner(r)
	var jobs []Job
	line, header := 0, false
	last := 0.0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !header {
			if strings.Join(fields, ",") != TraceHeader {
				return nil, &ParseError{Line: line, Err: fmt.Errorf("header must be %q, have %q", TraceHeader, text)}
			}
			header = true
			continue
		}
		if len(fields) != len(traceFields) {
			return nil, &ParseError{Line: line, Err: fmt.Errorf("%d fields, want %d", len(fields), len(traceFields))}
		}
		j := Job{ID: len(jobs)}
		var err error
		fail := func(i int, e error) error { return &ParseError{Line: line, Field: traceFields[i], Err: e} }
		if j.Arrival, err = parseSeconds(fields[0], true); err != nil {
			return nil, fail(0, err)
		}
		if j.Arrival < last {
			return nil, fail(0, fmt.Errorf("%v is before the previous arrival %v", j.Arrival, last))
		}
		last = j.Arrival
		if j.Ranks, err = parseInt(fields[1], 1, maxRanks); err != nil {
			return nil, fail(1, err)
		}
		if j.Duration, err = parseSeconds(fields[2], false); err != nil {
			return nil, fail(2, err)
		}
		m, err := parseInt(fields[3], 0, maxMemoryMiB)
		if err != nil {
			return nil, fail(3, err)
		}
		j.MemoryPerRank = int64(m) * mib
		switch fields[4] {
		case "true":
			j.Elastic = true
		case "false":
		default:
			return nil, fail(4, fmt.Errorf("%q is neither true nor false", fields[4]))
		}
		jobs = append(jobs, j)
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Line: line + 1, Err: err}
	}
	if !header {
		return nil, &ParseError{Line: line, Err: errors.New("no header")}
	}
	return jobs, nil
}

func parseSeconds(s string, zero bool) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if math.IsInf(v, 0) || math.IsNaN(v) || v < 0 || (!zero && v == 0) {
		if zero {
			return 0, fmt.Errorf("%q must be finite and ≥ 0", s)
		}
		return 0, fmt.Errorf("%q must be finite and > 0", s)
	}
	return v, nil
}

func parseInt(s string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is not an integer in [%d, %d]", s, lo, hi)
	}
	return v, nil
}

// WriteTrace writes jobs in the trace format. Numbers are written in the
// shortest form that reads back to the same float64, so a written trace
// parses to the same jobs.
func WriteTrace(w io.Writer, jobs []Job) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(TraceHeader + "\n")
	for _, j := range jobs {
		if j.MemoryPerRank%mib != 0 {
			return fmt.Errorf("granny: job %d: memory %d is not whole MiB", j.ID, j.MemoryPerRank)
		}
		fmt.Fprintf(bw, "%s,%d,%s,%d,%t\n", strconv.FormatFloat(j.Arrival, 'f', -1, 64), j.Ranks,
			strconv.FormatFloat(j.Duration, 'f', -1, 64), j.MemoryPerRank/mib, j.Elastic)
	}
	return bw.Flush()
}

// GenConfig describes a synthetic workload.
type GenConfig struct {
	Seed uint64
	Jobs int
	// MeanInterarrival is the mean gap between arrivals (Poisson process).
	MeanInterarrival float64
	// RankWeights[i] is the weight of jobs with RankSizes[i] ranks.
	RankSizes   []int
	RankWeights []float64
	// Durations are log-normal: median DurationMedian seconds, the log's
	// standard deviation DurationSigma.
	DurationMedian, DurationSigma float64
	// MemoryMiB lists per-rank memory sizes, drawn uniformly.
	MemoryMiB       []int64
	ElasticFraction float64
}

// DefaultGenConfig is a mixed HPC-like workload: mostly small jobs, a tail
// of 8- and 16-rank MPI worlds, minute-long runs with a log-normal tail.
// It offers about 10,000 slot-seconds per second (4.4 ranks × 79.5 s mean
// every 0.035 s), 1.25× what 1,000 hosts of 8 slots hold, so jobs queue.
func DefaultGenConfig(seed uint64, jobs int) GenConfig {
	return GenConfig{
		Seed: seed, Jobs: jobs,
		MeanInterarrival: 0.035,
		RankSizes:        []int{1, 2, 4, 8, 16},
		RankWeights:      []float64{30, 25, 20, 15, 10},
		DurationMedian:   60, DurationSigma: 0.75,
		MemoryMiB:       []int64{64, 128, 256, 512},
		ElasticFraction: 0.1,
	}
}

// Generate draws a trace; the same config gives the same trace. Times are
// rounded to milliseconds so written traces stay readable.
func Generate(c GenConfig) []Job {
	rng := rand.New(rand.NewPCG(c.Seed, 0x6772616e6e79)) // "granny"
	total := 0.0
	for _, w := range c.RankWeights {
		total += w
	}
	ms := func(x float64) float64 { return math.Round(x*1000) / 1000 }
	jobs := make([]Job, c.Jobs)
	t := 0.0
	for i := range jobs {
		t += rng.ExpFloat64() * c.MeanInterarrival
		ranks := 1
		if len(c.RankSizes) > 0 {
			x := rng.Float64() * total
			ranks = c.RankSizes[len(c.RankSizes)-1]
			for k, w := range c.RankWeights {
				if x < w {
					ranks = c.RankSizes[k]
					break
				}
				x -= w
			}
		}
		var mem int64
		if len(c.MemoryMiB) > 0 {
			mem = c.MemoryMiB[rng.IntN(len(c.MemoryMiB))] * mib
		}
		jobs[i] = Job{
			ID:            i,
			Arrival:       ms(t),
			Ranks:         ranks,
			Duration:      math.Max(0.001, ms(c.DurationMedian*math.Exp(c.DurationSigma*rng.NormFloat64()))),
			MemoryPerRank: mem,
			Elastic:       rng.Float64() < c.ElasticFraction,
		}
	}
	return jobs
}

// Cluster makes n hosts of slots slots; the last round(n·spotFraction) are
// spot hosts.
func Cluster(n, slots int, spotFraction float64) []Host {
	hosts := make([]Host, n)
	spot := n - int(math.Round(float64(n)*spotFraction))
	for i := range hosts {
		hosts[i] = Host{ID: i, Slots: slots, Spot: i >= spot}
	}
	return hosts
}

// GenerateEvictions draws reclaims of the spot hosts until horizon: per
// host, notices come after exponential gaps of mean meanGap, the host is
// gone notice seconds after its notice and offered again outage seconds
// later.
func GenerateEvictions(seed uint64, hosts []Host, horizon, meanGap, notice, outage float64) []Eviction {
	rng := rand.New(rand.NewPCG(seed, 0x73706f74)) // "spot"
	var out []Eviction
	for _, h := range hosts {
		if !h.Spot {
			continue
		}
		for t := rng.ExpFloat64() * meanGap; t < horizon; {
			e := Eviction{Host: h.ID, Notice: t, Deadline: t + notice, Return: t + notice + outage}
			out = append(out, e)
			t = e.Return + rng.ExpFloat64()*meanGap
		}
	}
	return out
}
