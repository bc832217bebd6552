// Package metrics makes the Prometheus registry every CloudSkin server
// exposes at /metrics. All CloudSkin metrics carry the cloudskin_ prefix,
// added here once so no component spells it out.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Prefix is put in front of every metric a component registers.
const Prefix = "cloudskin_"

// Registry pairs the registry that /metrics gathers from with the prefixed
// registerer components use.
type Registry struct {
	// Gatherer is what the /metrics handler serves.
	Gatherer prometheus.Gatherer
	// Registerer adds the cloudskin_ prefix to everything registered on it.
	Registerer prometheus.Registerer
}

// New returns a registry with the Go runtime and process collectors
// (standard names go_* and process_*, as every Prometheus exporter has) and
// a build-info gauge.
func New(version, commit string) Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	prefixed := prometheus.WrapRegistererWithPrefix(Prefix, reg)
	prefixed.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit},
	}, func() float64 { return 1 }))
	return Registry{Gatherer: reg, Registerer: prefixed}
}

// Registration is a set of collectors registered together on one registry,
// so that a component that closes (and may be opened again in the same
// process) can take them all off again.
type Registration struct {
	reg prometheus.Registerer
	cs  []prometheus.Collector
}

// RegisterAll registers every collector on reg or, if one fails, none, and
// returns reg.Register's error unchanged.
func RegisterAll(reg prometheus.Registerer, cs ...prometheus.Collector) (*Registration, error) {
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, err
		}
	}
	return &Registration{reg: reg, cs: cs}, nil
}

// Unregister takes the collectors off their registry; on a nil
// Registration it does nothing.
func (r *Registration) Unregister() {
	if r == nil {
		return
	}
	for _, c := range r.cs {
		r.reg.Unregister(c)
	}
}
