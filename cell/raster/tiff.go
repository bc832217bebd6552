package raster

import (
	"fmt"
	"image"
	"io"

	"golang.org/x/image/tiff"
)

// FromTIFF converts a grayscale (Geo)TIFF to a raster of uint16 samples:
// 16-bit samples as they are, 8-bit ones widened. Georeferencing tags are
// ignored. Other images (colour, float samples) are an error.
func FromTIFF(r io.Reader) (*Raster, error) {
	img, err := tiff.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("raster: %w", err)
	}
	b := img.Bounds()
	ras, err := New(b.Dx(), b.Dy(), Uint16)
	if err != nil {
		return nil, err
	}
	switch m := img.(type) {
	case *image.Gray16:
		for y := range ras.Height {
			row := m.Pix[y*m.Stride : y*m.Stride+2*ras.Width]
			for x := range ras.Width {
				ras.U16[y*ras.Width+x] = uint16(row[2*x])<<8 | uint16(row[2*x+1]) // Gray16 is big-endian
			}
		}
	case *image.Gray:
		for y := range ras.Height {
			row := m.Pix[y*m.Stride : y*m.Stride+ras.Width]
			for x := range ras.Width {
				ras.U16[y*ras.Width+x] = uint16(row[x])
			}
		}
	default:
		return nil, fmt.Errorf("raster: TIFF decodes to %T, want 16- or 8-bit grayscale", img)
	}
	return ras, nil
}
