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
	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/federated"
	"github.com/cloudskin/cloudskin/learning/forecast"
	"github.com/cloudskin/cloudskin/telemetry"
)

func newLPFederatedCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "federated",
		Short: "Federated training: sites train on their own telemetry and send only model parameters",
		Long: `Federated training of the recurrent network forecaster (GRU) and of
Holt-Winters. The control plane's aggregator keeps one global model per
name. For a network, each site fetches it, fine-tunes it on its own series
(a local file, or a query to the site's own Prometheus) and sends back
only the network's parameters, the number of samples and the series' mean
and spread; the aggregator averages the parameters weighted by samples
(FedAvg). For Holt-Winters, each site fits its own series and sends only
the fitted α, β, γ, level, trend and seasonal indices with the number of
samples; the aggregator merges them as sample-weighted means, and the site
back-tests the merged α, β, γ on its own series against its own fit. A
round closes once two sites have sent theirs, or on 'aggregate'. Raw
telemetry never leaves the site.`,
	}
	cmd.AddCommand(newLPFederatedCreateCommand(g), newLPFederatedListCommand(g), newLPFederatedTrainCommand(g),
		newLPFederatedAggregateCommand(g), newLPFederatedPrewarmCommand(g))
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

// isHoltWinters says whether a federated model kind is Holt-Winters.
func isHoltWinters(kind string) bool {
	return kind == forecast.KindHoltWinters || kind == forecast.KindHoltWintersMul
}

// kindOf reads a global model's kind, which an older aggregator leaves
// out for its networks.
func kindOf(gm federated.GlobalModel) string {
	if gm.Kind == "" {
		return forecast.KindGRU
	}
	return gm.Kind
}

func newLPFederatedCreateCommand(g *globals) *cobra.Command {
	var (
		cfg  forecast.RNNConfig
		kind string
	)
	cmd := &cobra.Command{
		Use:   "create MODEL --season N [--kind gru|holt-winters|holt-winters-mul]",
		Short: "Create a global model at the aggregator: a network, or Holt-Winters",
		Example: `  cloudskin lp federated create traffic --season 24 --hidden 16
  cloudskin lp federated create daily --kind holt-winters --season 24`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			switch {
			case isHoltWinters(kind):
				for _, name := range []string{"window", "hidden", "seed"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s is a setting of gru models; a %s model takes only --season", name, kind)
					}
				}
				gm, err := agg.CreateHoltWinters(cmd.Context(), args[0], federated.SeasonalityOf(kind), cfg.Season)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "federated model %s created: %s, season %d\n", gm.Name, gm.Kind, gm.Shape.Season)
				return nil
			case kind != forecast.KindGRU:
				return fmt.Errorf("--kind must be %s, %s or %s, got %q", forecast.KindGRU, forecast.KindHoltWinters, forecast.KindHoltWintersMul, kind)
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
	fl.StringVar(&kind, "kind", forecast.KindGRU, "model kind: gru (a recurrent network), holt-winters (additive) or holt-winters-mul (multiplicative)")
	fl.IntVar(&cfg.Season, "season", 0, "season length in steps (required)")
	fl.IntVar(&cfg.Window, "window", 0, "past values each prediction reads (default max(2·season, 24))")
	fl.IntVar(&cfg.Hidden, "hidden", 0, "GRU state size (default 16)")
	fl.Uint64Var(&cfg.Seed, "seed", 0, "seed of the starting weights")
	return cmd
}

func newLPFederatedListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the aggregator's models: kind, round, contributing sites, samples",
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
			fmt.Fprintln(tw, "MODEL\tKIND\tROUND\tSITES\tSAMPLES\tSEASON\tPARAMETERS")
			for _, m := range models {
				kind, params := kindOf(m), m.Shape.Params
				if isHoltWinters(kind) {
					params = 5 + m.Shape.Season // α, β, γ, level, trend and the seasonal indices
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\n", m.Name, kind, m.Round, orDash(strings.Join(m.Sites, ",")), m.Samples, m.Shape.Season, params)
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
		kind       string
		wait       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "train MODEL --site NAME (--input FILE | --prometheus URL --query PROMQL)",
		Short: "Run federated rounds at a site: train on local data, send only parameters",
		Long: `Run federated rounds at a site. For a network (gru), each round
fine-tunes the global network on the local series and sends its
parameters. For Holt-Winters, each round fits the local series from
scratch (the season is the model's) and sends the fitted state; then,
unless --wait is 0, it waits for the round to close and prints a
back-test on the local series of the merged α, β, γ against the local
fit, and which one to forecast with.`,
		Example: `  cloudskin lp federated train traffic --site edge-1 --input local-traffic.csv --rounds 3
  cloudskin lp federated train traffic --site edge-2 --prometheus http://127.0.0.1:9090 \
      --query 'sum(rate(http_requests_total[5m]))' --window 14d --step 1h
  cloudskin lp federated train daily --kind holt-winters --site edge-1 --input local-traffic.csv --time-column - --step 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if site == "" {
				return errors.New("give --site: the name this site's updates carry")
			}
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			gm, err := agg.Global(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if kind != "" && kind != kindOf(gm) {
				return fmt.Errorf("model %s is a %s model, not %s", args[0], kindOf(gm), kind)
			}
			if isHoltWinters(kindOf(gm)) {
				if sf.season != 0 && sf.season != gm.Shape.Season {
					return fmt.Errorf("--season %d, but model %s has season %d", sf.season, args[0], gm.Shape.Season)
				}
				sf.season = gm.Shape.Season
				if _, err := backtest.ParseMetric(sf.metric); err != nil {
					return err
				}
			}
			source, err := localSource(cmd, &sf, prometheus, query, window)
			if err != nil {
				return err
			}
			if isHoltWinters(kindOf(gm)) {
				return trainHoltWinters(cmd, agg, args[0], site, source, &sf, rounds, wait)
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
	fl.IntVar(&epochs, "epochs", 5, "local fine-tuning epochs per round (gru)")
	fl.StringVar(&kind, "kind", "", "the model's kind, checked against the aggregator's (default: the aggregator's)")
	fl.DurationVar(&wait, "wait", 10*time.Minute, "holt-winters: how long to wait for each round to close before back-testing the merged model; 0 sends without comparing")
	return cmd
}

// trainHoltWinters runs Holt-Winters rounds: fit the local series from
// scratch, send the state, and (wait > 0) compare the merged model with
// the local fit by back-test once the round has closed.
func trainHoltWinters(cmd *cobra.Command, agg federated.Client, model, site string, source federated.Source, sf *seriesFlags, rounds int, wait time.Duration) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	var series []float64 // what the latest round fitted, for the back-test
	tr := federated.Trainer{Site: site, Aggregator: agg, Model: model, Source: func(ctx context.Context) ([]float64, error) {
		y, err := source(ctx)
		series = y
		return y, err
	}}
	for i := range rounds {
		u, acc, err := tr.Round(ctx)
		if err != nil {
			return err
		}
		state := fmt.Sprintf("%d site(s) in, waiting for the round to close", acc.Pending)
		if acc.Averaged {
			state = "merged"
		}
		hw := u.HoltWinters
		fmt.Fprintf(out, "round %d: sent the %s state fitted on %d local samples (α %.3g, β %.3g, γ %.3g, %d seasonal indices); global round now %d (%s)\n",
			u.Round, u.Model, u.Samples, hw.Alpha, hw.Beta, hw.Gamma, len(hw.Seasonal), acc.Round, state)
		if !acc.Averaged && (wait > 0 || i < rounds-1) {
			if err := waitRoundFor(ctx, agg, model, u.Round, wait); err != nil {
				return err
			}
		}
		if wait > 0 {
			if err := compareWithGlobal(cmd, agg, model, site, series, *hw, sf); err != nil {
				return err
			}
		}
	}
	return nil
}

// waitRoundFor is waitRound for at most d (no limit when d is 0).
func waitRoundFor(ctx context.Context, agg federated.Client, model string, round int, d time.Duration) error {
	if d <= 0 {
		return waitRound(ctx, agg, model, round)
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := waitRound(wctx, agg, model, round)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("round %d of %s did not close within %s; the update is kept: another site's, or 'cloudskin lp federated aggregate %s', closes it (--wait 0 sends without waiting)",
			round, model, d, model)
	}
	return err
}

// compareWithGlobal back-tests the merged model's α, β, γ on the site's
// series y against the site's own fit (own is its fit on all of y) and
// prints both and the decision.
func compareWithGlobal(cmd *cobra.Command, agg federated.Client, model, site string, y []float64, own federated.HoltWintersState, sf *seriesFlags) error {
	gm, err := agg.Global(cmd.Context(), model)
	if err != nil {
		return err
	}
	global, err := gm.HoltWinters()
	if err != nil {
		return err
	}
	if sf.horizon == 0 {
		sf.horizon = sf.season
	}
	if sf.originStep == 0 {
		sf.originStep = sf.horizon
	}
	plan, err := sf.plan(len(y))
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "no back-test of round %d's merged model on %s's %d values: %v\n", gm.Round, site, len(y), err)
		return nil
	}
	metric, err := backtest.ParseMetric(sf.metric)
	if err != nil {
		return err
	}
	cmp, err := federated.CompareHoltWinters(y, global, plan, metric)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "back-test on %s's %d values against round %d's merged model (%d sites, %d samples): %d origins, horizon %d\n",
		site, len(y), gm.Round, len(gm.Sites), gm.Samples, len(cmp.Local.Origins), plan.Horizon)
	tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tALPHA\tBETA\tGAMMA\tMAE\tSMAPE\tMASE")
	for _, row := range []struct {
		res                backtest.Result
		alpha, beta, gamma float64
	}{{cmp.Local, own.Alpha, own.Beta, own.Gamma}, {cmp.Global, global.Alpha, global.Beta, global.Gamma}} {
		m := row.res.Mean
		fmt.Fprintf(tw, "%s\t%.3g\t%.3g\t%.3g\t%.4g\t%.4g\t%.4g\n", row.res.Model, row.alpha, row.beta, row.gamma, m.MAE, m.SMAPE, m.MASE)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	use := "forecast with the global parameters over this site's series"
	if !cmp.Decision.Promote {
		use = "forecast with the local fit"
	}
	fmt.Fprintf(out, "%s (%s)\n", use, cmp.Decision.Reason)
	return nil
}

func newLPFederatedAggregateCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "aggregate MODEL",
		Short: "Close a model's round now: merge the pending updates, however few sites sent theirs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			acc, err := agg.Aggregate(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "federated model %s: pending updates merged; global round now %d\n", args[0], acc.Round)
			return nil
		},
	}
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
