package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/agent"
	"github.com/cloudskin/cloudskin/api/v1alpha1"
	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/continuum"
)

func newAgentCommand(g *globals) *cobra.Command {
	var (
		file, name, siteType, memory, disk, listen, rankListen string
		cores                                                  int
		labels                                                 map[string]string
		interval                                               time.Duration
		allowProcesses                                         bool
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node agent that serves one site of a remote control plane",
		Long: `Run a node agent on this host: it registers the site with the control plane
(--server, $CLOUDSKIN_SERVER or the client config) and heartbeats. Describe the
site with flags, or with a Site resource in a file (-f).

The agent serves its own /metrics, /healthz and /readyz on --listen.`,
		Example: `  cloudskin agent --name pole-7 --type edge --cores 4 --memory 8Gi --label gpu=true
  cloudskin agent -f site.yaml --server http://10.0.0.5:7070`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			site, err := agentSite(file, name, siteType, cores, memory, disk, labels)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			a, err := agent.New(site, interval, c.Server())
			if err != nil {
				return err
			}
			a.SetToken(c.Token())
			a.AllowProcesses(allowProcesses)
			a.SetRankListen(rankListen)
			log, err := g.logger()
			if err != nil {
				return err
			}
			rt, err := continuum.Listen(continuum.Options{Listen: listen, Log: log, Out: cmd.OutOrStdout()})
			if err != nil {
				return err
			}
			a.SetMetricsURL(rt.URL() + "/metrics")
			fmt.Fprintf(cmd.OutOrStdout(), "cloudskin agent: site %s, control plane %s, metrics at %s/metrics\n", site.Metadata.Name, c.Server(), rt.URL())
			return rt.Run(cmd.Context(), a)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "Site resource (YAML) describing the site; replaces the site flags")
	f.StringVar(&name, "name", "", "site name (a DNS label)")
	f.StringVar(&siteType, "type", "edge", "site type: edge or cloud")
	f.IntVar(&cores, "cores", 2, "cores the site offers")
	f.StringVar(&memory, "memory", "2Gi", "memory the site offers")
	f.StringVar(&disk, "disk", "0", "disk the site offers")
	f.StringToStringVar(&labels, "label", nil, "site labels, e.g. --label gpu=true,region=eu")
	f.DurationVar(&interval, "interval", 2*time.Second, "heartbeat interval")
	f.StringVar(&listen, "listen", "127.0.0.1:7072", "address for the agent's metrics and health endpoints")
	f.StringVar(&rankListen, "rank-listen", "127.0.0.1:0", "address where other sites' agents fetch single MPI ranks moving there from this one (cell migrate --rank); give one they can reach")
	f.BoolVar(&allowProcesses, "allow-processes", false, "also run blocks of type process: native programs with this agent's rights, no sandbox")
	return cmd
}

// agentSite builds the Site from a file or from flags.
func agentSite(file, name, siteType string, cores int, memory, disk string, labels map[string]string) (v1alpha1.Site, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return v1alpha1.Site{}, err
		}
		var site v1alpha1.Site
		if err := config.Decode(file, data, v1alpha1.KindSite, &site); err != nil {
			return v1alpha1.Site{}, err
		}
		return site, site.Validate()
	}
	if name == "" {
		return v1alpha1.Site{}, fmt.Errorf("--name is required (or give a Site file with -f)")
	}
	mem, err := v1alpha1.ParseQuantity(memory)
	if err != nil {
		return v1alpha1.Site{}, fmt.Errorf("--memory: %w", err)
	}
	dsk, err := v1alpha1.ParseQuantity(disk)
	if err != nil {
		return v1alpha1.Site{}, fmt.Errorf("--disk: %w", err)
	}
	site := v1alpha1.NewSite(name, v1alpha1.SiteSpec{
		Type:     v1alpha1.SiteType(siteType),
		Capacity: v1alpha1.Capacity{Cores: cores, Memory: mem, Disk: dsk},
	})
	site.Metadata.Labels = labels
	return site, site.Validate()
}
