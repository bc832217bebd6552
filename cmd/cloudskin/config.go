package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/internal/printer"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print and check Continuum configuration files",
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "defaults",
			Short: "Print the built-in configuration of 'cloudskin up', with comments, to start a file from",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := cmd.OutOrStdout().Write(config.DefaultsYAML())
				return err
			},
		},
		newConfigViewCommand(),
	)
	return cmd
}

func newConfigViewCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Check a configuration file and print the configuration 'up' would run with",
		Example: `  cloudskin config view -f continuum.yaml
  cloudskin config view            # the defaults, without comments`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadContinuum(file)
			if err != nil {
				return err
			}
			if file != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s: valid %s\n", file, cfg.Kind)
			}
			return printer.Object(cmd.OutOrStdout(), printer.YAML, cfg)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "Continuum configuration file (YAML)")
	return cmd
}
