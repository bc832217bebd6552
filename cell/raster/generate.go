package raster

import "fmt"

// Generate returns a synthetic red and near-infrared band pair of the given
// size, the same for the same arguments on every machine: benchmark inputs
// of any size without shipping data. It uses integer arithmetic only.
//
// A smooth vegetation field (random values on a lattice every 64 pixels,
// interpolated bilinearly) drives both bands, red falling and NIR rising
// with vegetation, plus up to 255 of per-pixel noise; a triangle at the
// top-left corner is nodata (both bands 0), as at the edge of a scene. The
// values look like Landsat 8 reflectance (red 6000-14500, NIR 6000-31000).
//
// Generate panics if width or height is below 1 or the NDVI of that size
// (float32) would not fit a CSR1 raster.
func Generate(width, height int, seed int64) (red, nir *Raster) {
	var err error
	if red, err = New(width, height, Uint16); err == nil {
		nir, err = New(width, height, Float32) // checks the NDVI's size too
	}
	if err != nil {
		panic(fmt.Sprintf("raster.Generate: %v", err))
	}
	nir.Type, nir.F32, nir.U16 = Uint16, nil, make([]uint16, width*height)

	const cell = 64 // pixels between lattice points
	gw, gh := width/cell+2, height/cell+2
	lattice := make([]uint32, gw*gh) // vegetation 0..1023
	for j := range gh {
		for i := range gw {
			lattice[j*gw+i] = uint32(hash(seed, i, j, 1) % 1024)
		}
	}
	edge := min(width, height) / 8
	for y := range height {
		j, fy := y/cell, uint32(y%cell)
		for x := range width {
			k := y*width + x
			if x+y < edge {
				continue // nodata: both 0
			}
			i, fx := x/cell, uint32(x%cell)
			v := (lattice[j*gw+i]*(cell-fx)*(cell-fy) +
				lattice[j*gw+i+1]*fx*(cell-fy) +
				lattice[(j+1)*gw+i]*(cell-fx)*fy +
				lattice[(j+1)*gw+i+1]*fx*fy) / (cell * cell)
			noise := hash(seed, x, y, 2)
			red.U16[k] = uint16(6000 + (1023-v)*8 + uint32(noise&0xff))
			nir.U16[k] = uint16(6000 + v*24 + uint32(noise>>8&0xff))
		}
	}
	return red, nir
}

// hash mixes its arguments with SplitMix64's finalizer.
func hash(seed int64, x, y, stream int) uint64 {
	z := uint64(seed) + uint64(x)*0x9e3779b97f4a7c15 + uint64(y)*0xd1b54a32d192ed03 + uint64(stream)*0xa0761d6478bd642f
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}
