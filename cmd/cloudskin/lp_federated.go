package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/learning/agent"
	"github.com/cloudskin/cloudskin/learning/federated"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/telemetry"
)

func newLPFederatedCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federated",
		Short: "Federated training: sites train on their own telemetry and send only model parameters",
		Long: `Federated training of the recurrent network forecaster (GRU). The control
plane's aggregator keeps one global network per model; each site fetches
it, fine-tunes it on its own series (a local file, or a query to the
site's own Prometheus) and sends back only the network's parameters, the
number of samples and the series' mean and spread. The aggregator
averages the parameters weighted by samples (FedAvg) once two sites have
sent a round. Raw telemetry never leaves the site.`,
	}
	cmd.AddCommand(newLPFederatedCreateCommand(g), newLPFederatedListCommand(g), newLPFederatedTrainCommand(g), newLPFederatedPrewarmCommand(g))
	return cmd
}

// aggregator returns a client of the control plane's aggregator that
// sends the client configuration's token.
func aggregator(g *globals) (federated.Client, error) {
	c, err := g.client()
	if err != nil {
		return federated.Client{}, err
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	if tok := c.Token(); tok != "" {
		hc.Transport = bearer{token: tok, next: http.DefaultTransport}
	}
	return federated.Client{BaseURL: c.Server(), HTTP: hc}, nil
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func newLPFederatedCreateCommand(g *globals) *cobra.Command {
	var cfg forecast.RNNConfig
	cmd := &cobra.Command{
		Use:     "create MODEL --season N",
		Short:   "Create a global network at the aggregator",
		Example: `  cloudskin lp federated create traffic --season 24 --hidden 16`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			gm, err := agg.Create(cmd.Context(), args[0], cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "federated model %s created: season %d, window %d, hidden %d, %d parameters\n",
				gm.Name, gm.Shape.Season, gm.Shape.Window, gm.Shape.Hidden, gm.Shape.Params)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&cfg.Season, "season", 0, "season length in steps (required)")
	fl.IntVar(&cfg.Window, "window", 0, "past values each prediction reads (default max(2·season, 24))")
	fl.IntVar(&cfg.Hidden, "hidden", 0, "GRU state size (default 16)")
	fl.Uint64Var(&cfg.Seed, "seed", 0, "seed of the starting weights")
	return cmd
}

func newLPFederatedListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the aggregator's models: round, contributing sites, samples",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			models, err := agg.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "MODEL\tROUND\tSITES\tSAMPLES\tSEASON\tPARAMETERS")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%d\n", m.Name, m.Round, orDash(strings.Join(m.Sites, ",")), m.Samples, m.Shape.Season, m.Shape.Params)
			}
			return tw.Flush()
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newLPFederatedTrainCommand(g *globals) *cobra.Command {
	var (
		sf         seriesFlags
		site       string
		prometheus string
		query      string
		window     time.Duration
		rounds     int
		epochs     int
	)
	cmd := &cobra.Command{
		Use:   "train MODEL --site NAME (--input FILE | --prometheus URL --query PROMQL)",
		Short: "Run federated rounds at a site: fine-tune on local data, send only parameters",
		Example: `  cloudskin lp federated train traffic --site edge-1 --input local-traffic.csv --rounds 3
  cloudskin lp federated train traffic --site edge-2 --prometheus http://127.0.0.1:9090 \
      --query 'sum(rate(http_requests_total[5m]))' --window 14d --step 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			source, err := localSource(cmd, &sf, prometheus, query, window)
			if err != nil {
				return err
			}
			if site == "" {
				return errors.New("give --site: the name this site's updates carry")
			}
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			tr := federated.Trainer{Site: site, Aggregator: agg, Model: args[0], Source: source, Epochs: epochs}
			for i := range rounds {
				u, acc, err := tr.Round(cmd.Context())
				if err != nil {
					return err
				}
				state := fmt.Sprintf("%d site(s) in, waiting for the round to close", acc.Pending)
				if acc.Averaged {
					state = "averaged"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "round %d: sent %d parameters trained on %d local samples; global round now %d (%s)\n",
					u.Round, len(u.Params), u.Samples, acc.Round, state)
				if i < rounds-1 && !acc.Averaged {
					if err := waitRound(cmd.Context(), agg, args[0], u.Round); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	sf.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&site, "site", "", "this site's name")
	fl.StringVar(&prometheus, "prometheus", "", "this site's own Prometheus (instead of --input)")
	fl.StringVar(&query, "query", "", "PromQL for the series, with --prometheus")
	fl.DurationVar(&window, "window", 7*24*time.Hour, "history read with --query, at --step")
	fl.IntVar(&rounds, "rounds", 1, "rounds to take part in")
	fl.IntVar(&epochs, "epochs", 5, "local fine-tuning epochs per round")
	return cmd
}

// localSource reads the site's series from a file or its own Prometheus.
func localSource(cmd *cobra.Command, sf *seriesFlags, prometheus, query string, window time.Duration) (federated.Source, error) {
	switch {
	case sf.input != "" && prometheus != "":
		return nil, errors.New("give --input or --prometheus, not both")
	case sf.input != "":
		s, err := sf.load(sf.input, cmd.ErrOrStderr())
		if err != nil {
			return nil, err
		}
		return func(context.Context) ([]float64, error) { return s.Values, nil }, nil
	case prometheus != "" && query != "":
		return prometheusSeries(prometheus, query, window, sf.spacing)
	}
	return nil, errors.New("give the local series: --input FILE, or --prometheus URL with --query PROMQL")
}

// prometheusSeries reads a series from the site's own Prometheus: query
// over the last window at step, read at each call.
func prometheusSeries(prometheus, query string, window, step time.Duration) (federated.Source, error) {
	remote, err := telemetry.NewRemote(prometheus, nil)
	if err != nil {
		return nil, err
	}
	sensor := v1alpha1.Sensor{Name: "local", Query: query, Window: v1alpha1.Duration{Duration: window}, Step: v1alpha1.Duration{Duration: step}}
	return func(ctx context.Context) ([]float64, error) {
		rd, err := agent.ReadSensor(ctx, remote, sensor, time.Now())
		return rd.Values, err
	}, nil
}

// waitRound waits until the aggregator has moved past round.
func waitRound(ctx context.Context, agg federated.Client, model string, round int) error {
	for {
		g, err := agg.Global(ctx, model)
		if err != nil {
			return err
		}
		if g.Round > round {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}
