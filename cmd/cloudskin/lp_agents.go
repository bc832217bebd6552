package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/internal/printer"
)

func newLPAgentsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agents",
		Short: "Learning Plane agents: what they watch, decide and do",
		Long: `Agents are created with 'cloudskin apply -f agent.yaml' (kind Agent) and
deleted with 'cloudskin delete agent NAME'. Each tick an agent reads its
sensors, predicts with its model, decides with its policy and acts through
its actuator (or only logs, with dryRun); 'lp agents logs' shows the ticks.`,
	}
	cmd.AddCommand(newLPAgentsListCommand(g), newLPAgentsLogsCommand(g))
	return cmd
}

func newLPAgentsListCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls [NAME]",
		Aliases: []string{"list"},
		Short:   "List agents with their last decision",
		Example: `  cloudskin lp agents ls
  cloudskin lp agents ls detector-scaler -o yaml`,
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
			var as []v1alpha1.Agent
			if len(args) == 1 {
				a, err := c.GetAgent(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				as = append(as, a)
			} else if as, err = c.ListAgents(cmd.Context()); err != nil {
				return err
			}
			return printer.Agents(cmd.OutOrStdout(), format, as, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	return cmd
}

func newLPAgentsLogsCommand(g *globals) *cobra.Command {
	var (
		output string
		tail   int
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show an agent's ticks: inputs, prediction, decision, action",
		Example: `  cloudskin lp agents logs detector-scaler
  cloudskin lp agents logs detector-scaler --tail 5 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := printer.ParseFormat(output)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			ts, err := c.AgentTicks(cmd.Context(), args[0], tail)
			if err != nil {
				return err
			}
			return printer.AgentTicks(cmd.OutOrStdout(), format, ts)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	cmd.Flags().IntVar(&tail, "tail", 20, "the last N ticks (0: all kept)")
	return cmd
}
