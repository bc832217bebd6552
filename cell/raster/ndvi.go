package raster

import "fmt"

// NDVI returns the Normalized Difference Vegetation Index of a scene,
//
//	(NIR - Red) / (NIR + Red)
//
// computed in float32, with 0 where NIR + Red is 0 (both bands' nodata).
// red and nir must be uint16 rasters of the same size. The result is the
// reference for the ndvi example: every step before the division is exact
// in float32, so a C program that computes the same in float matches it
// bit for bit.
func NDVI(red, nir *Raster) (*Raster, error) {
	if red.Type != Uint16 || nir.Type != Uint16 {
		return nil, fmt.Errorf("raster: NDVI of %s and %s bands, want uint16", red.Type, nir.Type)
	}
	if red.Width != nir.Width || red.Height != nir.Height {
		return nil, fmt.Errorf("raster: NDVI of a %dx%d red and a %dx%d NIR band", red.Width, red.Height, nir.Width, nir.Height)
	}
	if err := red.Validate(); err != nil {
		return nil, err
	}
	if err := nir.Validate(); err != nil {
		return nil, err
	}
	out, err := New(red.Width, red.Height, Float32)
	if err != nil {
		return nil, err
	}
	for i, r := range red.U16 {
		v, r := float32(nir.U16[i]), float32(r)
		if sum := v + r; sum != 0 {
			out.F32[i] = (v - r) / sum
		}
	}
	return out, nil
}
