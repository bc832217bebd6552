package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/continuum"
	"github.com/cloudskin/cloudskin/stream/tcp"
)

func newUpCommand(g *globals) *cobra.Command {
	var file, listen, s3Listen, streamListen string
	var authOn bool
	var streamInstances int
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole continuum on this machine",
		Long: `Run the embedded continuum in this process: the control plane's API, a node
agent for each configured site (by default an 'edge' and a 'cloud' site),
GEDS: its metadata service and its S3 gateway (--s3-listen; keys from
$CLOUDSKIN_S3_ACCESS_KEY and $CLOUDSKIN_S3_SECRET_KEY, or made once, kept
under --data and printed), and the stream store: its REST API on the control
plane's address and its TCP protocol on --stream-listen ('cloudskin stream'
uses it; empty serves none). The stream store is one store by default, the fastest
(one log whose group commit serves every stream); --stream-instances N runs
it as a cluster of 8 containers over N segment-store instances, whose count
PUT /streams/v1/instances and the Learning Plane's stream actuator change
while it runs (a data directory that holds a cluster is opened as one).

With no file, built-in defaults are used ('cloudskin config defaults' prints
them). State is kept under --data and survives restarts. Stop with Ctrl-C.`,
		Example: `  cloudskin up
  cloudskin up --listen 127.0.0.1:8080 --data /var/lib/cloudskin
  cloudskin up -f continuum.yaml
  cloudskin up --stream-listen 0.0.0.0:7072`,
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
			if cmd.Flags().Changed("s3-listen") {
				cfg.Spec.GEDS.S3Listen = s3Listen
			}
			if cmd.Flags().Changed("auth") {
				cfg.Spec.Auth.Enabled = authOn
			}
			log, err := g.logger()
			if err != nil {
				return err
			}
			if streamInstances < 0 {
				return fmt.Errorf("--stream-instances %d: want 0 (one store) or more", streamInstances)
			}
			opts := continuum.UpOptions{StreamListen: streamListen, StreamInstances: streamInstances}
			return continuum.Up(cmd.Context(), cfg, opts, log, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Continuum configuration file (YAML); defaults are used for what it leaves out")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "address of the control plane's API")
	cmd.Flags().StringVar(&s3Listen, "s3-listen", "127.0.0.1:7071", "address of the GEDS S3 gateway")
	cmd.Flags().StringVar(&streamListen, "stream-listen", tcp.DefaultAddr, "address of the stream store's TCP protocol (empty: none)")
	cmd.Flags().IntVar(&streamInstances, "stream-instances", 0, "segment-store instances of the stream store's cluster (0: one store, no cluster)")
	cmd.Flags().BoolVar(&authOn, "auth", false, "require bearer tokens with roles (admin, operator, viewer) on the API; tokens are made in --data/tokens.yaml")
	return cmd
}
