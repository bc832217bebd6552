package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newDefragCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "defrag",
		Short: "Gather the ranks of MPI worlds spread over sites where cores are free",
		Long: `Ask the control plane's Granny planner which running MPI worlds have ranks
on several sites (cell mpirun --sites, cell migrate --rank) and would run
faster gathered at their world's site, now that cores are free there: each
rank it gathers is asked to come home (as cell migrate --rank N --to SITE
would). Prints each decision with its reason, and what stays and why. Run
it when cores free up (from cron, say): it moves nothing otherwise.`,
		Example: "  cloudskin defrag",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.Defragment(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, m := range out.Moves {
				fmt.Fprintf(w, "moving rank %d of %s: %s → %s (%s: %s)\n", *m.Rank, m.Cell, m.From, m.To, m.Policy, m.Reason)
			}
			for _, s := range out.Stays {
				fmt.Fprintf(w, "staying %s: %s\n", s.Cell, s.Reason)
			}
			if len(out.Moves)+len(out.Stays) == 0 {
				fmt.Fprintln(w, "nothing to gather: no world is spread, or none would gain")
			}
			return nil
		},
	}
}
