package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/continuum"
	"github.com/cloudskin/cloudskin/internal/logging"
)

// globals are the flags every command shares.
type globals struct {
	server    string
	dataDir   string
	logLevel  string
	logFormat string
}

func newRootCommand() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "cloudskin",
		Short: "CloudSkin: run applications across the cloud-edge continuum",
		Long: `CloudSkin runs applications across edge and cloud sites, decides with learned
models where each piece runs, and moves work while it runs.

Start the whole continuum on this machine with 'cloudskin up', then look at it
with 'cloudskin get sites'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", "", "control plane URL (default: $CLOUDSKIN_SERVER, then the client config in --data, then "+client.DefaultServer+")")
	pf.StringVar(&g.dataDir, "data", "./.cloudskin", "data directory: state of 'up', and the client config client commands read")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&g.logFormat, "log-format", "auto", "log format: text, json, or auto (text on a terminal, JSON otherwise)")

	root.AddCommand(
		newUpCommand(g),
		newAgentCommand(g),
		newGetCommand(g),
		newApplyCommand(g),
		newDescribeCommand(g),
		newDeleteCommand(g),
		newMigrateCommand(g),
		newLogsCommand(g),
		newCellCommand(g),
		newDrainCommand(g), newDefragCommand(g),
		newGEDSCommand(g),
		newStreamCommand(g),
		newRasterCommand(),
		newGrannyCommand(),
		newLPCommand(g),
		newConfigCommand(),
		newVersionCommand(),
	)
	return root
}

func (g *globals) logger() (*slog.Logger, error) {
	return logging.New(os.Stderr, g.logLevel, logging.Format(g.logFormat))
}

// client resolves the control plane and returns a client for it.
func (g *globals) client() (*client.Client, error) {
	target, err := client.Resolve(g.server, os.Getenv, filepath.Join(g.dataDir, continuum.ClientConfigFile))
	if err != nil {
		return nil, err
	}
	return client.FromTarget(target)
}
