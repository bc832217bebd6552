package recommend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/qos"
	"github.com/cloudskin/cloudskin/telemetry"
)

// The series the QoS model learns from, as the scraper stores them: the
// orchestrator's site gauges, the agents' cell counts and the cells' usage
// and QoS.
const (
	seriesSiteCores = "cloudskin_site_capacity_cores"    // {site, type}
	seriesCells     = "cloudskin_agent_cells_running"    // {site}
	seriesCellCPU   = "cloudskin_cell_cpu_seconds_total" // {site, block, ...}
	seriesCellMem   = "cloudskin_cell_memory_bytes"      // {site, block, ...}
	seriesQoS       = "cloudskin_cell_qos"               // {site, block, metric, ...}
	seriesSiteReady = "cloudskin_site_ready"             // {site, type}
)

// samplesPerWindow is how many intervals the window is cut into for
// training: each (block, site, interval) with a report is one sample.
const samplesPerWindow = 48

// minStep keeps intervals at least a few scrapes long.
const minStep = 15 * time.Second

// trainingStep is the interval of the training samples for a window.
func trainingStep(window time.Duration) time.Duration {
	return max(window/samplesPerWindow, minStep)
}

// siteState is a site at one time; NaN is unknown.
type siteState struct {
	cores, usedCores, cells, edge float64
}

func unknownState() siteState { n := math.NaN(); return siteState{n, n, n, n} }

// siteStates holds each site's state by time (Unix milliseconds), and its
// latest.
type siteStates struct {
	at     map[string]map[int64]siteState
	latest map[string]siteState
}

// profile is a block's replica profile: CPU millicores and memory bytes.
type profile struct{ cpuMillicores, memoryBytes float64 }

// inputs assembles what RankWith needs beyond the history: a QoS model
// per metric trained on observed placements, the block's features at each
// candidate site now, and the request's costs.
func (s *Service) inputs(ctx context.Context, q telemetry.Querier, req v1alpha1.PlacementRecommendationRequest, h History, window time.Duration, now time.Time) (Inputs, error) {
	in := Inputs{
		Predictors: map[string]*qos.Model{}, Features: map[string]qos.Features{}, NoModel: map[string]error{},
		Costs: req.Costs, CostWeight: req.CostWeight,
	}
	step := trainingStep(window)
	start := now.Add(-window)
	states, err := readSiteStates(ctx, q, start, now, step)
	if err != nil {
		return in, err
	}
	profiles, err := readProfiles(ctx, q, window, now)
	if err != nil {
		return in, err
	}
	if _, ok := profiles[req.Block]; !ok && req.Resources != nil {
		// A block that never ran: what it asks for stands in for what it uses.
		profiles[req.Block] = profile{
			cpuMillicores: float64(req.Resources.CPU.MilliValue()),
			memoryBytes:   req.Resources.Memory.AsApproximateFloat64(),
		}
	}
	latency := func(site string) float64 {
		if d, ok := req.DataSourceLatency[site]; ok {
			return float64(d.Duration) / float64(time.Millisecond)
		}
		return math.NaN()
	}
	for _, site := range req.Sites {
		st, ok := states.latest[site]
		if !ok {
			st = unknownState()
		}
		in.Features[site] = features(profiles, req.Block, st, latency(site))
	}
	for metric := range h {
		samples, err := readSamples(ctx, q, metric, start, now, step, states, profiles, latency)
		if err != nil {
			return in, err
		}
		m, err := qos.Fit(metric, localFirst(samples, req.Block))
		if err != nil {
			in.NoModel[metric] = err
			continue
		}
		in.Predictors[metric] = m
	}
	return in, nil
}

// labelledSample is a training sample and the block it was observed for.
type labelledSample struct {
	qos.Sample
	block string
}

// localFirst trains on the block's own placements when there are enough
// of them (other blocks reach other levels of the same metric), else on
// every block's.
func localFirst(samples []labelledSample, block string) []qos.Sample {
	var own, all []qos.Sample
	for _, s := range samples {
		all = append(all, s.Sample)
		if s.block == block {
			own = append(own, s.Sample)
		}
	}
	if len(own) >= qos.MinSamples {
		return own
	}
	return all
}

func features(profiles map[string]profile, block string, st siteState, latencyMs float64) qos.Features {
	p, ok := profiles[block]
	if !ok {
		p = profile{math.NaN(), math.NaN()}
	}
	free := st.cores - st.usedCores
	if math.IsNaN(st.usedCores) {
		free = st.cores // nothing reported used: all of it is free
	}
	return qos.Features{
		CPUMillicores: p.cpuMillicores, MemoryBytes: p.memoryBytes,
		SiteCores: st.cores, SiteFreeCores: free, SiteCells: st.cells, Edge: st.edge, DataLatencyMs: latencyMs,
	}
}

// readSamples reads the metric's mean per (block, site, interval) and
// pairs each with the features at the time.
func readSamples(ctx context.Context, q telemetry.Querier, metric string, start, end time.Time, step time.Duration,
	states siteStates, profiles map[string]profile, latency func(string) float64) ([]labelledSample, error) {
	expr := fmt.Sprintf(`avg by (block, site) (avg_over_time(%s{metric=%q}[%s]))`, seriesQoS, metric, promDuration(step))
	series, err := q.QueryRange(ctx, expr, start, end, step)
	if err != nil {
		return nil, fmt.Errorf("recommend: training samples of %s: %w", metric, err)
	}
	var out []labelledSample
	for _, sr := range series {
		site, block := sr.Labels["site"], sr.Labels["block"]
		if site == "" || block == "" {
			continue
		}
		for _, p := range sr.Points {
			st, ok := states.at[site][p.T.UnixMilli()]
			if !ok {
				st = unknownState()
			}
			out = append(out, labelledSample{
				Sample: qos.Sample{Features: features(profiles, block, st, latency(site)), Value: p.V, Group: site},
				block:  block,
			})
		}
	}
	return out, nil
}

// readSiteStates reads capacity, used CPU and running cells per site and
// interval; a site's latest state takes each field's last known value.
func readSiteStates(ctx context.Context, q telemetry.Querier, start, end time.Time, step time.Duration) (siteStates, error) {
	st := siteStates{at: map[string]map[int64]siteState{}, latest: map[string]siteState{}}
	d := promDuration(step)
	queries := []struct {
		expr string
		put  func(*siteState, float64, map[string]string)
	}{
		{fmt.Sprintf(`max by (site, type) (last_over_time(%s[%s]))`, seriesSiteCores, d), func(s *siteState, v float64, l map[string]string) {
			s.cores, s.edge = v, 0
			if l["type"] == string(v1alpha1.SiteEdge) {
				s.edge = 1
			}
		}},
		{fmt.Sprintf(`sum by (site) (last_over_time(%s[%s]))`, seriesCells, d), func(s *siteState, v float64, _ map[string]string) { s.cells = v }},
		{fmt.Sprintf(`sum by (site) (rate(%s[%s]))`, seriesCellCPU, promDuration(max(step, time.Minute))), func(s *siteState, v float64, _ map[string]string) { s.usedCores = v }},
	}
	for _, qq := range queries {
		series, err := q.QueryRange(ctx, qq.expr, start, end, step)
		if err != nil {
			return st, fmt.Errorf("recommend: site state: %w", err)
		}
		for _, sr := range series {
			site := sr.Labels["site"]
			if site == "" {
				continue
			}
			if st.at[site] == nil {
				st.at[site] = map[int64]siteState{}
			}
			latest, ok := st.latest[site]
			if !ok {
				latest = unknownState()
			}
			for _, p := range sr.Points { // oldest first: the last one put wins
				v, ok := st.at[site][p.T.UnixMilli()]
				if !ok {
					v = unknownState()
				}
				qq.put(&v, p.V, sr.Labels)
				st.at[site][p.T.UnixMilli()] = v
				if !math.IsNaN(p.V) {
					qq.put(&latest, p.V, sr.Labels)
				}
			}
			st.latest[site] = latest
		}
	}
	return st, nil
}

// readProfiles reads each block's mean CPU (millicores) and memory per
// replica over the window.
func readProfiles(ctx context.Context, q telemetry.Querier, window time.Duration, now time.Time) (map[string]profile, error) {
	out := map[string]profile{}
	d := promDuration(window)
	for i, expr := range []string{
		fmt.Sprintf(`1000 * avg by (block) (rate(%s[%s]))`, seriesCellCPU, d),
		fmt.Sprintf(`avg by (block) (avg_over_time(%s[%s]))`, seriesCellMem, d),
	} {
		res, err := q.Query(ctx, expr, now)
		if err != nil {
			return nil, fmt.Errorf("recommend: block profiles: %w", err)
		}
		for _, smp := range res.Samples {
			b := smp.Labels["block"]
			if b == "" {
				continue
			}
			p, ok := out[b]
			if !ok {
				p = profile{math.NaN(), math.NaN()}
			}
			if i == 0 {
				p.cpuMillicores = smp.Value
			} else {
				p.memoryBytes = smp.Value
			}
			out[b] = p
		}
	}
	return out, nil
}

// promDuration spells d for PromQL in whole seconds (at least one).
func promDuration(d time.Duration) string {
	return fmt.Sprintf("%ds", max(int64(d/time.Second), 1))
}

var errNoTelemetry = errors.New("recommend: no telemetry to learn from")
