package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/printer"
	"github.com/cloudskin/cloudskin/learning/backtest"
	"github.com/cloudskin/cloudskin/learning/train"
)

func newLPModelsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "The model registry: versions, metrics, lineage, promotion and rollback",
		Long: `The model registry keeps every trained version of each Learning Plane
model: its kind and parameters, the data window it learnt from, its
held-out back-test metrics, how it compared with the production version on
the same held-out data, and which version it was trained to replace.
Agents train and register versions by themselves; 'lp train' does it from
a CSV file.`,
	}
	cmd.AddCommand(newLPModelsListCommand(g), newLPModelsShowCommand(g), newLPModelsPromoteCommand(g), newLPModelsRollbackCommand(g))
	return cmd
}

func newLPModelsListCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls [MODEL]",
		Aliases: []string{"list"},
		Short:   "List models, or one model's versions",
		Example: `  cloudskin lp models ls
  cloudskin lp models ls checkout-load -o wide`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := printer.ParseFormat(output)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if len(args) == 0 {
				ms, err := c.ListModels(cmd.Context())
				if err != nil {
					return err
				}
				return printer.Models(cmd.OutOrStdout(), format, ms)
			}
			vs, err := c.ModelVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printer.ModelVersions(cmd.OutOrStdout(), format, vs, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	return cmd
}

// parseModelRef reads "MODEL" or "MODEL@vN" / "MODEL@N"; version 0 means
// none given.
func parseModelRef(ref string) (string, int, error) {
	name, v, ok := strings.Cut(ref, "@")
	if !ok {
		return name, 0, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("%q: want MODEL@vN with N a positive integer", ref)
	}
	return name, n, nil
}

func newLPModelsShowCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "show MODEL[@vN]",
		Short: "Show one version (the production one when none is given)",
		Example: `  cloudskin lp models show checkout-load
  cloudskin lp models show checkout-load@v3 -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := printer.ParseFormat(output)
			if err != nil {
				return err
			}
			name, version, err := parseModelRef(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			mv, err := showVersion(cmd, c, name, version)
			if err != nil {
				return err
			}
			if format == printer.JSON || format == printer.YAML {
				return printer.Object(cmd.OutOrStdout(), format, mv)
			}
			return printer.DescribeModelVersion(cmd.OutOrStdout(), mv, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// showVersion fetches a version, or the production one (the newest when
// none is in production).
func showVersion(cmd *cobra.Command, c *client.Client, name string, version int) (v1alpha1.ModelVersion, error) {
	if version > 0 {
		return c.GetModelVersion(cmd.Context(), name, version)
	}
	vs, err := c.ModelVersions(cmd.Context(), name)
	if err != nil {
		return v1alpha1.ModelVersion{}, err
	}
	for _, v := range vs {
		if v.Status.Stage == v1alpha1.StageProduction {
			return v, nil
		}
	}
	return vs[len(vs)-1], nil
}

func newLPModelsPromoteCommand(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "promote MODEL@vN",
		Short: "Make a version production (only if it beat production on held-out data)",
		Long: `Promote makes a version the one predictions use. A version is promoted only
if it was back-tested against the current production version on the same
held-out data and strictly won; one that lost is marked rejected. --force
overrides the rule (the override is recorded in the version's message).`,
		Example: `  cloudskin lp models promote checkout-load@v4
  cloudskin lp models promote checkout-load@v2 --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := parseModelRef(args[0])
			if err != nil {
				return err
			}
			if version == 0 {
				return errors.New("give the version to promote: MODEL@vN")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			mv, err := c.PromoteModelVersion(cmd.Context(), name, version, force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is production: %s\n", mv.Metadata.Name, mv.Status.Message)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "promote even without a held-out win over production")
	return cmd
}

func newLPModelsRollbackCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rollback MODEL",
		Short:   "Return production to the version the current one replaced",
		Example: `  cloudskin lp models rollback checkout-load`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			mv, err := c.RollbackModel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is production again: %s\n", mv.Metadata.Name, mv.Status.Message)
			return nil
		},
	}
}

func newLPTrainCommand(g *globals) *cobra.Command {
	var (
		sf      seriesFlags
		name    string
		kind    string
		promote bool
	)
	cmd := &cobra.Command{
		Use:   "train --input FILE --name MODEL",
		Short: "Train a model version from a CSV series and register it",
		Long: `Train fits a forecaster (--model, or auto to pick by back-test) on a CSV
series, back-tests it on held-out data and, when the model has a
production version, back-tests that version's kind on the same held-out
points. The version is registered as a candidate; with --promote it
becomes production if it won (or if it is the model's first version).`,
		Example: `  cloudskin lp train --input views.csv --name page-views --promote
  cloudskin lp train --input load.csv --column rps --model holt-winters --season 1440 --name checkout-load`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			input := sf.input
			if input == "" || name == "" {
				return errors.New("give --input FILE and --name MODEL")
			}
			metric, err := backtest.ParseMetric(sf.metric)
			if err != nil {
				return err
			}
			s, err := sf.load(input, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			return trainAndRegister(cmd, c, s.Values, train.Config{
				Model: name, Kind: kind, Season: sf.season, Horizon: sf.horizon, Origins: sf.origins, Metric: metric,
				Data: trainingData(input, s.Times), TrainedBy: "cli",
			}, promote)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "model name in the registry")
	cmd.Flags().StringVar(&kind, "model", train.KindAuto, "forecaster kind, or auto to pick by back-test")
	cmd.Flags().BoolVar(&promote, "promote", false, "promote the version if it beat production on held-out data")
	return cmd
}

func trainingData(source string, times []time.Time) v1alpha1.TrainingData {
	d := v1alpha1.TrainingData{Source: source}
	if n := len(times); n > 1 {
		d.Start, d.End = &times[0], &times[n-1]
		d.Step = v1alpha1.Duration{Duration: times[1].Sub(times[0])}
	}
	return d
}

func trainAndRegister(cmd *cobra.Command, c *client.Client, y []float64, cfg train.Config, promote bool) error {
	ctx := cmd.Context()
	var current *v1alpha1.ModelVersion
	vs, err := c.ModelVersions(ctx, cfg.Model)
	if err != nil && !client.IsNotFound(err) {
		return err
	}
	for i := range vs {
		if vs[i].Status.Stage == v1alpha1.StageProduction {
			current = &vs[i]
		}
	}
	res, err := train.Candidate(y, cfg, current)
	if err != nil {
		return err
	}
	for _, n := range res.Notes {
		fmt.Fprintln(cmd.ErrOrStderr(), n)
	}
	mv, err := c.RegisterModelVersion(ctx, res.Version)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s registered: %s, held-out MASE %.4g, sMAPE %.4g\n", mv.Metadata.Name, mv.Spec.Kind, mv.Spec.Metrics["mase"], mv.Spec.Metrics["smape"])
	if ev := mv.Spec.Evaluation; ev != nil {
		fmt.Fprintf(out, "against production v%d on the same held-out data: %s %.4g vs %.4g\n", ev.Against, ev.Metric, ev.Candidate, ev.Current)
	}
	if !promote {
		return nil
	}
	p, err := c.PromoteModelVersion(ctx, mv.Spec.Model, mv.Status.Version, false)
	if err != nil {
		return fmt.Errorf("not promoted: %w", err)
	}
	fmt.Fprintf(out, "%s is production: %s\n", p.Metadata.Name, p.Status.Message)
	return nil
}
