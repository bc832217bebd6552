package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/learning/federated"
	"github.com/cloudskin/cloudskin/learning/trace"
)

// newLPFederatedPrewarmCommand groups the pre-warm statistics pool's
// commands: sites report idle-time histograms, anyone reads the merge.
func newLPFederatedPrewarmCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prewarm",
		Short: "Pool pre-warm statistics: sites send idle-time histograms, never their invocations",
		Long: `The control plane's aggregator keeps, per application, each site's latest
histogram of idle times (minutes between invocations, in one-minute bins),
adds them up and runs the hybrid pre-warm policy (Shahrad et al., ATC'20)
on the sum, so that sites too quiet on their own get a histogram-based
window. A site computes its histogram from its own per-minute invocation
counts and sends only that.`,
	}
	cmd.AddCommand(newLPPrewarmReportCommand(g), newLPPrewarmStatsCommand(g))
	return cmd
}

func newLPPrewarmReportCommand(g *globals) *cobra.Command {
	var (
		input, column, timeColumn string
		site, prometheus, query   string
		window                    time.Duration
		rangeMin                  int
	)
	cmd := &cobra.Command{
		Use:   "report APP --site NAME (--input FILE | --prometheus URL --query PROMQL)",
		Short: "Send this site's idle-time histogram of an application to the pool",
		Long: `Reads this site's invocations of APP per minute (a CSV or Parquet file with
one row per minute, or a PromQL query to the site's own Prometheus), turns
them into the histogram of idle times and sends only that histogram to the
control plane's aggregator, replacing the one this site sent before.`,
		Example: `  cloudskin lp federated prewarm report thumbnailer --site edge-1 --input invocations.csv --column count
  cloudskin lp federated prewarm report thumbnailer --site edge-2 --prometheus http://127.0.0.1:9090 \
      --query 'sum(increase(cloudskin_invocations_total{app="thumbnailer"}[1m]))' --window 4h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if site == "" {
				return errors.New("give --site: the name this site reports as")
			}
			var source federated.CountSource
			switch {
			case input != "" && prometheus != "":
				return errors.New("give --input or --prometheus, not both")
			case input != "":
				source = fileCounts(input, column, timeColumn)
			case prometheus != "" && query != "":
				series, err := prometheusSeries(prometheus, query, window, time.Minute)
				if err != nil {
					return err
				}
				source = countsOf(series)
			default:
				return errors.New("give the invocations per minute: --input FILE, or --prometheus URL with --query PROMQL")
			}
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			rep := federated.HistogramReporter{Site: site, App: args[0], Aggregator: agg, Range: rangeMin, Source: source}
			h, st, err := rep.Report(cmd.Context())
			if err != nil {
				return err
			}
			sent := h.OutOfBounds
			for _, c := range h.Bins {
				sent += c
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sent %d idle times in %d one-minute bins for %s from %s\n", sent, len(h.Bins), args[0], site)
			return printPrewarmStats(cmd, st)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&input, "input", "", "invocations per minute: a CSV (header row) or Parquet file, one row per minute")
	fl.StringVar(&column, "column", "", "count column (default: the last column that is not the time column)")
	fl.StringVar(&timeColumn, "time-column", "", `time column, which must step by one minute (default: "ds", "time", "timestamp", "date" or "datetime" if present; "-" for none)`)
	fl.StringVar(&site, "site", "", "this site's name")
	fl.StringVar(&prometheus, "prometheus", "", "this site's own Prometheus (instead of --input)")
	fl.StringVar(&query, "query", "", "PromQL for the invocations per minute, with --prometheus")
	fl.DurationVar(&window, "window", 4*time.Hour, "history read with --query")
	fl.IntVar(&rangeMin, "range", 0, "histogram range in minutes (default 240, the hybrid policy's)")
	return cmd
}

// fileCounts reads per-minute invocation counts from a trace file.
func fileCounts(path, column, timeColumn string) federated.CountSource {
	return countsOf(func(context.Context) ([]float64, error) {
		s, err := trace.ReadSeriesFile(path, trace.SeriesOptions{Column: column, TimeColumn: timeColumn})
		if err != nil {
			return nil, err
		}
		if len(s.Times) > 2 {
			if step := medianSpacing(s.Times); step != time.Minute {
				return nil, fmt.Errorf("%s: rows are %s apart; idle-time bins are minutes, so give one row per minute", path, step)
			}
		}
		return s.Values, nil
	})
}

// countsOf reads a series of per-minute invocation counts as integers.
func countsOf(series federated.Source) federated.CountSource {
	return func(ctx context.Context) ([]int, error) {
		vs, err := series(ctx)
		if err != nil {
			return nil, err
		}
		counts := make([]int, len(vs))
		for i, v := range vs {
			if math.IsNaN(v) || v < 0 {
				return nil, fmt.Errorf("row %d: %v is not an invocation count", i+1, v)
			}
			counts[i] = int(math.Round(v))
		}
		return counts, nil
	}
}

func newLPPrewarmStatsCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "stats [APP]",
		Short: "Show the pool: applications, or one application's sites, merged histogram and decision",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			agg, err := aggregator(g)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				st, err := agg.PrewarmStats(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printPrewarmStats(cmd, st)
			}
			apps, err := agg.PrewarmApps(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "APP\tSITES\tIDLE TIMES\tRANGE")
			for _, a := range apps {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%dm\n", a.App, a.Sites, a.IdleTimes, a.Range)
			}
			return tw.Flush()
		},
	}
}

// printPrewarmStats prints an application's sites and the decision on
// their merged histogram.
func printPrewarmStats(cmd *cobra.Command, st federated.PrewarmStats) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "SITE\tIDLE TIMES\tREPORTED")
	for _, s := range st.Sites {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", s.Site, s.IdleTimes, s.ReportedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	d := st.Decision
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %d idle times from %d site(s); %s decision (%s): pre-warm %d min after an invocation, keep alive until %d min\n",
		st.App, st.IdleTimes, len(st.Sites), d.Policy, d.Mode, d.PrewarmAfter, d.KeepAliveUntil)
	return nil
}
