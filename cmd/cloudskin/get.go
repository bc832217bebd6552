package main

import (
	"context"
	"io"
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
	cmd.AddCommand(newGetSitesCommand(g), newGetCellsCommand(g), newGetBlocksCommand(g),
		newGetApplicationsCommand(g), newGetPlacementsCommand(g), newGetMigrationsCommand(g))
	return cmd
}

// getter is what `get` needs of one kind of resource: client methods as
// method expressions, so the client comes first.
type getter[T any] struct {
	one   func(c *client.Client, ctx context.Context, name string) (T, error)
	list  func(c *client.Client, ctx context.Context) ([]T, error)
	print func(w io.Writer, f printer.Format, items []T, now time.Time) error
}

// newGetResourceCommand makes `get KIND [NAME]` with -o for one kind.
func newGetResourceCommand[T any](g *globals, cmd *cobra.Command, r getter[T]) *cobra.Command {
	var output string
	cmd.Args = cobra.MaximumNArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := printer.ParseFormat(output)
		if err != nil {
			return err
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		var items []T
		if len(args) == 1 {
			item, err := r.one(c, cmd.Context(), args[0])
			if err != nil {
				return err
			}
			items = []T{item}
		} else if items, err = r.list(c, cmd.Context()); err != nil {
			return err
		}
		return r.print(cmd.OutOrStdout(), format, items, time.Now())
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, wide, json or yaml")
	return cmd
}

func newGetSitesCommand(g *globals) *cobra.Command {
	return newGetResourceCommand(g, &cobra.Command{
		Use:     "sites [NAME]",
		Aliases: []string{"site"},
		Short:   "List sites and whether their agents are alive",
		Example: `  cloudskin get sites
  cloudskin get sites edge -o yaml
  cloudskin get sites -o wide --server http://10.0.0.5:7070`,
	}, getter[v1alpha1.Site]{
		one:   (*client.Client).GetSite,
		list:  (*client.Client).ListSites,
		print: printer.Sites,
	})
}

func newGetCellsCommand(g *globals) *cobra.Command {
	var site string
	cmd := newGetResourceCommand(g, &cobra.Command{
		Use:     "cells [NAME]",
		Aliases: []string{"cell", "cellruns"},
		Short:   "List cell runs: where they run, their phase, exit status and migrations",
		Example: `  cloudskin get cells
  cloudskin get cells --site edge -o wide
  cloudskin get cells cell-ab12cd34ef -o yaml`,
	}, getter[v1alpha1.CellRun]{
		one: (*client.Client).GetCellRun,
		list: func(c *client.Client, ctx context.Context) ([]v1alpha1.CellRun, error) {
			return c.ListCellRuns(ctx, client.CellRunQuery{Site: site})
		},
		print: printer.CellRuns,
	})
	cmd.Flags().StringVar(&site, "site", "", "only the cell runs of this site")
	return cmd
}
