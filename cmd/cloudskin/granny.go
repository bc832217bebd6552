package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/granny"
)

func newGrannyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "granny",
		Short: "The Granny planner: generate job traces and simulate placement and migration policies",
	}
	cmd.AddCommand(newGrannySimulateCommand(), newGrannyTraceCommand())
	return cmd
}

func newGrannySimulateCommand() *cobra.Command {
	var (
		hosts, slots, jobs int
		spot               float64
		seed               uint64
		trace              string
	)
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Replay a job trace over simulated hosts with each policy on and off",
		Long: `Replay a job trace (generated, or read with --trace; the format is in
docs/formats/granny-trace.md) over simulated hosts, spot hosts among them, with
all policies, then with each policy off, and print makespan, mean job
completion time, utilisation, migrations and restarts side by side.`,
		Example: `  cloudskin granny simulate --hosts 1000 --jobs 10000
  cloudskin granny simulate --trace jobs.csv --hosts 64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			jobList := granny.Generate(granny.DefaultGenConfig(seed, jobs))
			if trace != "" {
				f, err := os.Open(trace)
				if err != nil {
					return err
				}
				defer f.Close()
				if jobList, err = granny.ParseTrace(f); err != nil {
					return fmt.Errorf("%s: %w", trace, err)
				}
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICIES\tMAKESPAN\tMEAN JCT\tUTILISATION\tMIGRATIONS\tEVACUATIONS\tGB MOVED\tRESTARTS\tTOOK")
			for _, off := range []string{"", "defragment", "spot-evacuation", "elastic"} {
				policies, err := granny.PoliciesWithout(strings.Fields(off)...)
				if err != nil {
					return err
				}
				begin := time.Now()
				r, err := granny.Simulate(granny.Scenario(hosts, slots, spot, jobList, seed, policies))
				if err != nil {
					return err
				}
				name := "all"
				if off != "" {
					name = "all but " + off
				}
				fmt.Fprintf(tw, "%s\t%.1fs\t%.2fs\t%.1f%%\t%d\t%d\t%.1f\t%d\t%s\n", name, r.Makespan, r.MeanJCT, 100*r.Utilisation,
					r.Migrations, r.Evacuations, float64(r.BytesMigrated)/1e9, r.Restarts, time.Since(begin).Round(time.Millisecond))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.IntVar(&hosts, "hosts", 1000, "simulated hosts")
	f.IntVar(&slots, "slots", 8, "core slots per host")
	f.Float64Var(&spot, "spot", 0.2, "fraction of hosts that are spot hosts")
	f.IntVar(&jobs, "jobs", 10000, "jobs to generate (without --trace)")
	f.Uint64Var(&seed, "seed", 1, "seed of the generated trace and evictions")
	f.StringVar(&trace, "trace", "", "read the jobs from this trace file instead")
	return cmd
}

func newGrannyTraceCommand() *cobra.Command {
	var jobs int
	var seed uint64
	cmd := &cobra.Command{
		Use:     "trace",
		Short:   "Write a generated job trace (CSV, docs/formats/granny-trace.md) to stdout",
		Example: "  cloudskin granny trace --jobs 10000 --seed 7 > jobs.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return granny.WriteTrace(cmd.OutOrStdout(), granny.Generate(granny.DefaultGenConfig(seed, jobs)))
		},
	}
	cmd.Flags().IntVar(&jobs, "jobs", 1000, "jobs to generate")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed")
	return cmd
}
