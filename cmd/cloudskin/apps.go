package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/cell/toolchain"
	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/client/manifest"
	"github.com/cloudskin/cloudskin/internal/printer"
)

func newApplyCommand(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR...",
		Short: "Create or update sites, blocks and applications from YAML manifests",
		Long: `Apply Kubernetes-style manifests: every document of each file, and every .yaml
or .yml file of each directory. Sites go first, then blocks, then applications.
A cell block's spec.cell.module may name a .wasm file or C/C++ sources (paths
relative to the manifest): apply compiles sources with 'cell cc --migratable',
uploads the module and publishes the block with its digest.`,
		Example: `  cloudskin apply -f examples/mobility/
  cloudskin apply -f app.yaml -f blocks.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return errors.New("-f FILE|DIR is required")
			}
			rs, err := manifest.Load(files)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			results, err := manifest.Apply(cmd.Context(), c, rs, loadModule(cmd.ErrOrStderr()))
			for _, r := range results {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", r.Resource.Name(), r.Action)
			}
			return err
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "manifest file or directory (repeatable)")
	return cmd
}

// loadModule reads a .wasm module or compiles sources into a migratable one.
func loadModule(progress io.Writer) manifest.ModuleLoader {
	return func(ctx context.Context, paths string) ([]byte, error) {
		sources := strings.Fields(paths)
		if len(sources) == 1 && strings.HasSuffix(sources[0], ".wasm") {
			return os.ReadFile(sources[0])
		}
		tc, err := toolchain.Find()
		if err != nil {
			return nil, err
		}
		dir, err := os.MkdirTemp("", "cloudskin-apply-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "module.wasm")
		fmt.Fprintf(progress, "compiling %s\n", strings.Join(sources, " "))
		if err := tc.Compile(ctx, toolchain.Options{Sources: sources, Output: out, OptLevel: "-O2", SIMD: true, Migratable: true}); err != nil {
			return nil, err
		}
		return os.ReadFile(out)
	}
}

func newGetBlocksCommand(g *globals) *cobra.Command {
	var q client.BlockQuery
	var typ string
	cmd := newGetResourceCommand(g, &cobra.Command{
		Use:     "blocks [NAME[@VERSION]]",
		Aliases: []string{"block", "catalog"},
		Short:   "List the catalog of blocks (newest version of each)",
		Example: `  cloudskin get blocks
  cloudskin get blocks --search video --all-versions
  cloudskin get blocks detector@1.0.0 -o yaml`,
	}, getter[v1alpha1.Block]{
		one: (*client.Client).GetBlock,
		list: func(c *client.Client, ctx context.Context) ([]v1alpha1.Block, error) {
			q.Type = v1alpha1.BlockType(typ)
			return c.ListBlocks(ctx, q)
		},
		print: printer.Blocks,
	})
	cmd.Flags().StringVar(&q.Search, "search", "", "only blocks whose name, description or labels contain this")
	cmd.Flags().StringVar(&typ, "type", "", "only blocks of this type: cell, process or kubernetes")
	cmd.Flags().BoolVar(&q.AllVersions, "all-versions", false, "every version, not only the newest")
	return cmd
}

func newGetApplicationsCommand(g *globals) *cobra.Command {
	return newGetResourceCommand(g, &cobra.Command{
		Use:     "applications [NAME]",
		Aliases: []string{"application", "apps", "app"},
		Short:   "List applications: phase and replicas ready",
		Example: `  cloudskin get applications
  cloudskin get app mobility -o yaml`,
	}, getter[v1alpha1.Application]{
		one:   (*client.Client).GetApplication,
		list:  (*client.Client).ListApplications,
		print: printer.Applications,
	})
}

func newGetPlacementsCommand(g *globals) *cobra.Command {
	return newGetResourceCommand(g, &cobra.Command{
		Use:     "placements [APPLICATION]",
		Aliases: []string{"placement"},
		Short:   "Show where each replica was placed and why",
		Example: `  cloudskin get placements
  cloudskin get placement mobility -o yaml   # every site considered, with reasons`,
	}, getter[v1alpha1.Placement]{
		one:   (*client.Client).GetPlacement,
		list:  (*client.Client).ListPlacements,
		print: printer.Placements,
	})
}

func newGetMigrationsCommand(g *globals) *cobra.Command {
	return newGetResourceCommand(g, &cobra.Command{
		Use:     "migrations [NAME]",
		Aliases: []string{"migration"},
		Short:   "List migrations with their method and downtime",
	}, getter[v1alpha1.Migration]{
		one:   (*client.Client).GetMigration,
		list:  (*client.Client).ListMigrations,
		print: printer.Migrations,
	})
}

func newDescribeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "describe application NAME",
		Short:   "Show an application in detail: components, replicas, conditions, placement, migrations",
		Example: `  cloudskin describe application mobility`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if k := args[0]; k != "application" && k != "app" && k != "applications" {
				return fmt.Errorf("describe %s: only applications can be described; use get %s %s -o yaml", k, k, args[1])
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := c.GetApplication(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			p, err := c.GetPlacement(cmd.Context(), args[1])
			if err != nil && !client.IsNotFound(err) {
				return err
			}
			ms, err := c.ListMigrations(cmd.Context())
			if err != nil {
				return err
			}
			return printer.DescribeApplication(cmd.OutOrStdout(), a, p, ms, time.Now())
		},
	}
}

func newDeleteCommand(g *globals) *cobra.Command {
	var files []string
	cmd := &cobra.Command{
		Use:   "delete (application|block|site) NAME | delete -f FILE|DIR",
		Short: "Delete applications (their replicas stop), blocks or sites",
		Example: `  cloudskin delete application mobility
  cloudskin delete block detector@1.0.0
  cloudskin delete -f examples/mobility/`,
		Args: cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if len(files) > 0 {
				rs, err := manifest.Load(files)
				if err != nil {
					return err
				}
				for i := len(rs) - 1; i >= 0; i-- { // applications before their blocks
					if err := deleteResource(ctx, c, rs[i]); err != nil && !client.IsNotFound(err) {
						return fmt.Errorf("%s: %w", rs[i].Name(), err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", rs[i].Name())
				}
				return nil
			}
			if len(args) != 2 {
				return errors.New("give KIND NAME, or -f FILE|DIR")
			}
			switch args[0] {
			case "application", "applications", "app":
				err = c.DeleteApplication(ctx, args[1])
			case "block", "blocks":
				err = c.DeleteBlock(ctx, args[1])
			case "site", "sites":
				err = c.DeleteSite(ctx, args[1])
			case "agent", "agents":
				err = c.DeleteAgent(ctx, args[1])
			default:
				return fmt.Errorf("delete %s: want application, block, site or agent", args[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s/%s deleted\n", strings.TrimSuffix(args[0], "s"), args[1])
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "delete what these manifests define")
	return cmd
}

func deleteResource(ctx context.Context, c *client.Client, r manifest.Resource) error {
	switch {
	case r.Site != nil:
		return c.DeleteSite(ctx, r.Site.Metadata.Name)
	case r.Block != nil:
		return c.DeleteBlock(ctx, r.Block.Ref())
	case r.Agent != nil:
		return c.DeleteAgent(ctx, r.Agent.Metadata.Name)
	default:
		return c.DeleteApplication(ctx, r.Application.Metadata.Name)
	}
}

func newMigrateCommand(g *globals) *cobra.Command {
	var (
		to      string
		replica int
		wait    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "migrate APPLICATION/COMPONENT --to SITE",
		Short: "Move a component's replicas to another site while the application runs",
		Long: `Move the replicas of an application's component to SITE. A migratable cell moves
live: it stops at its next host call and resumes at SITE from its snapshot. Any
other replica moves by start-new-then-stop-old. The orchestrator records the
downtime; 'get migrations' lists it.`,
		Example: `  cloudskin migrate mobility/detector --to cloud
  cloudskin migrate mobility/detector --to edge --replica 0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, comp, ok := strings.Cut(args[0], "/")
			if !ok || app == "" || comp == "" {
				return fmt.Errorf("%q: want APPLICATION/COMPONENT", args[0])
			}
			if to == "" {
				return errors.New("--to SITE is required")
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			m := v1alpha1.Migration{Spec: v1alpha1.MigrationSpec{Application: app, Component: comp, To: to}}
			if replica >= 0 {
				m.Spec.Replica = &replica
			}
			m, err = c.CreateMigration(cmd.Context(), m)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "migration/%s created; waiting for it\n", m.Metadata.Name)
			return waitMigration(cmd, c, m.Metadata.Name, wait)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "destination site")
	cmd.Flags().IntVar(&replica, "replica", -1, "move only this replica (default: all not at SITE)")
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for the move; 0 returns at once")
	return cmd
}

func waitMigration(cmd *cobra.Command, c *client.Client, name string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), wait)
	defer cancel()
	for {
		m, err := c.GetMigration(ctx, name)
		if err != nil {
			return err
		}
		switch m.Status.Phase {
		case v1alpha1.MigrationSucceeded:
			fmt.Fprintf(cmd.OutOrStdout(), "migration/%s succeeded: %s\n", name, m.Status.Message)
			return nil
		case v1alpha1.MigrationFailed:
			return fmt.Errorf("migration/%s failed: %s", name, m.Status.Message)
		}
		select {
		case <-ctx.Done():
			if wait == 0 {
				return nil
			}
			return fmt.Errorf("migration/%s is %s after %s: %s", name, m.Status.Phase, wait, m.Status.Message)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func newLogsCommand(g *globals) *cobra.Command {
	var replica int
	cmd := &cobra.Command{
		Use:   "logs APPLICATION[/COMPONENT]",
		Short: "Print the output of an application's replicas, as their agents last reported it",
		Example: `  cloudskin logs mobility
  cloudskin logs mobility/detector --replica 0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, comp, _ := strings.Cut(args[0], "/")
			c, err := g.client()
			if err != nil {
				return err
			}
			logs, err := c.ApplicationLogs(cmd.Context(), app, comp, replica)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, e := range logs.Entries {
				if len(logs.Entries) > 1 {
					fmt.Fprintf(w, "==> %s/%d %s (%s at %s) <==\n", e.Component, e.Replica, e.Workload, e.Phase, e.Site)
				}
				io.WriteString(w, e.Output)
				if e.Output != "" && !strings.HasSuffix(e.Output, "\n") {
					fmt.Fprintln(w)
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&replica, "replica", -1, "only this replica")
	return cmd
}
