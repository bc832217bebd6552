package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/cell/raster"
)

func newRasterCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "raster",
		Short: "Make and check CSR1 rasters, the simple raster format cells read (NDVI example)",
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:   "from-tiff IN.TIF OUT.csr",
			Short: "Convert a 16-bit grayscale GeoTIFF band to a uint16 CSR1 raster",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r, err := raster.FromTIFF(f)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				return raster.WriteFile(args[1], r)
			},
		},
		&cobra.Command{
			Use:     "generate WIDTH HEIGHT SEED RED.csr NIR.csr",
			Short:   "Write a deterministic synthetic pair of red and near-infrared bands",
			Example: "  cloudskin raster generate 8000 8000 1 red.csr nir.csr",
			Args:    cobra.ExactArgs(5),
			RunE: func(cmd *cobra.Command, args []string) error {
				w, err1 := strconv.Atoi(args[0])
				h, err2 := strconv.Atoi(args[1])
				seed, err3 := strconv.ParseInt(args[2], 10, 64)
				if err1 != nil || err2 != nil || err3 != nil || w < 1 || h < 1 {
					return fmt.Errorf("want WIDTH HEIGHT SEED as positive integers, got %q", args[:3])
				}
				red, nir := raster.Generate(w, h, seed)
				if err := raster.WriteFile(args[3], red); err != nil {
					return err
				}
				return raster.WriteFile(args[4], nir)
			},
		},
		&cobra.Command{
			Use:   "ndvi RED.csr NIR.csr OUT.csr",
			Short: "Compute NDVI with the Go reference implementation",
			Args:  cobra.ExactArgs(3),
			RunE: func(cmd *cobra.Command, args []string) error {
				red, err := raster.ReadFile(args[0])
				if err != nil {
					return err
				}
				nir, err := raster.ReadFile(args[1])
				if err != nil {
					return err
				}
				out, err := raster.NDVI(red, nir)
				if err != nil {
					return err
				}
				return raster.WriteFile(args[2], out)
			},
		},
		&cobra.Command{
			Use:   "diff A.csr B.csr",
			Short: "Exit non-zero unless two rasters are bit-identical",
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := raster.ReadFile(args[0])
				if err != nil {
					return err
				}
				b, err := raster.ReadFile(args[1])
				if err != nil {
					return err
				}
				if err := raster.Diff(a, b); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s and %s are identical (%dx%d %s)\n", args[0], args[1], a.Width, a.Height, a.Type)
				return nil
			},
		},
		&cobra.Command{
			Use:   "info FILE.csr...",
			Short: "Print each raster's size and sample type",
			Args:  cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				for _, p := range args {
					r, err := raster.ReadFile(p)
					if err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s: %dx%d %s\n", p, r.Width, r.Height, r.Type)
				}
				return nil
			},
		},
	)
	return cmd
}
