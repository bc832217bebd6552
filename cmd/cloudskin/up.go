package main

import (
	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/continuum"
)

func newUpCommand(g *globals) *cobra.Command {
	var file, listen string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole continuum on this machine",
		Long: `Run the embedded continuum in this process: the control plane's API, and a node
agent for each configured site (by default an 'edge' and a 'cloud' site).

With no file, built-in defaults are used ('cloudskin config defaults' prints
them). State is kept under --data and survives restarts. Stop with Ctrl-C.`,
		Example: `  cloudskin up
  cloudskin up --listen 127.0.0.1:8080 --data /var/lib/cloudskin
  cloudskin up -f continuum.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadContinuum(file)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("listen") {
				cfg.Spec.Listen = listen
			}
			if cmd.Flags().Changed("data") {
				cfg.Spec.DataDir = g.dataDir
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			return continuum.Up(cmd.Context(), cfg, log, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Continuum configuration file (YAML); defaults are used for what it leaves out")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "address of the control plane's API")
	return cmd
}
