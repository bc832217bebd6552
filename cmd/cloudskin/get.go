package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/internal/printer"
)

func newGetCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show resources of the continuum",
	}
	cmd.AddCommand(newGetSitesCommand(g), newGetCellsCommand(g))
	return cmd
}

func newGetSitesCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "sites [NAME]",
		Aliases: []string{"site"},
		Short:   "List sites and whether their agents are alive",
		Example: `  cloudskin get sites
  cloudskin get sites edge -o yaml
  cloudskin get sites -o wide --server http://10.0.0.5:7070`,
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
			var sites []v1alpha1.Site
			if len(args) == 1 {
				s, err := c.GetSite(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				sites = []v1alpha1.Site{s}
			} else if sites, err = c.ListSites(cmd.Context()); err != nil {
				return err
			}
			return printer.Sites(cmd.OutOrStdout(), format, sites, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	return cmd
}

func newGetCellsCommand(g *globals) *cobra.Command {
	var output, site string
	cmd := &cobra.Command{
		Use:     "cells [NAME]",
		Aliases: []string{"cell", "cellruns"},
		Short:   "List cell runs: where they run, their phase, exit status and migrations",
		Example: `  cloudskin get cells
  cloudskin get cells --site edge -o wide
  cloudskin get cells cell-ab12cd34ef -o yaml`,
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
			var runs []v1alpha1.CellRun
			if len(args) == 1 {
				r, err := c.GetCellRun(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				runs = []v1alpha1.CellRun{r}
			} else if runs, err = c.ListCellRuns(cmd.Context(), client.CellRunQuery{Site: site}); err != nil {
				return err
			}
			return printer.CellRuns(cmd.OutOrStdout(), format, runs, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	cmd.Flags().StringVar(&site, "site", "", "only the cell runs of this site")
	return cmd
}
