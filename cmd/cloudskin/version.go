package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/internal/printer"
	"github.com/cloudskin/cloudskin/internal/version"
)

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := printer.ParseFormat(output)
			if err != nil {
				return err
			}
			v := version.Get()
			text := fmt.Sprintf("cloudskin %s\ncommit:   %s\ngo:       %s\nplatform: %s\n", v.Version, v.Commit, v.GoVersion, v.Platform)
			return printer.Version(cmd.OutOrStdout(), format, v, text)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}
