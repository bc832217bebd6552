package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newDrainCommand(g *globals) *cobra.Command {
	var deadline time.Duration
	cmd := &cobra.Command{
		Use:   "drain SITE [--deadline 2m]",
		Short: "Move the running cells off a site that goes away (an eviction notice, maintenance)",
		Long: `Tell the control plane that SITE goes away within --deadline. The Granny
planner's spot-evacuation policy picks, for each running cell of the site, a
Ready site with a free core that the move can reach before the deadline, and
each cell is asked to migrate there (cells built with cell cc --migratable
move at their next migration point; an MPI world moves whole). Prints each
decision with its reason, and the cells that stay and why.`,
		Example: "  cloudskin drain edge --deadline 30s",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.DrainSite(cmd.Context(), args[0], deadline)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, m := range out.Moves {
				fmt.Fprintf(w, "moving %s: %s → %s (%s: %s)\n", m.Cell, m.From, m.To, m.Policy, m.Reason)
			}
			for _, s := range out.Stays {
				fmt.Fprintf(w, "staying %s: %s\n", s.Cell, s.Reason)
			}
			if len(out.Moves)+len(out.Stays) == 0 {
				fmt.Fprintf(w, "site %s runs no cells\n", out.Site)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&deadline, "deadline", 2*time.Minute, "when the site goes away, from now")
	return cmd
}
