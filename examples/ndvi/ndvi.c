/*
 * ndvi: the Normalized Difference Vegetation Index of a scene, in parallel.
 *
 *	ndvi RED.csr NIR.csr OUT.csr
 *
 * Rank 0 reads the red and near-infrared bands (CSR1 rasters of uint16
 * samples, e.g. Landsat 8 bands 4 and 5 converted by package cell/raster),
 * scatters their rows over all ranks (MPI_Scatterv: the first height%size
 * ranks get one row more), every rank computes
 *
 *	NDVI = (NIR - Red) / (NIR + Red)	as float32, 0 where NIR + Red == 0
 *
 * for its rows, and rank 0 gathers the result (MPI_Gatherv) and writes it as
 * a CSR1 raster of float32 samples. Rank 0 prints the phases' times,
 * measured with MPI_Wtime.
 *
 * The arithmetic is exact up to the one division: a uint16 converts to
 * float exactly, and their sum and difference (|x| < 2^17) are exact in
 * float's 24-bit significand, so the result is the correctly rounded
 * quotient and matches raster.NDVI in Go bit for bit, as a cell and as a
 * native program (mpicc) alike. Do not build with -ffast-math.
 *
 * CSR1 (see package cell/raster): a 16-byte little-endian header, magic
 * "CSR1", uint32 width, uint32 height, uint16 sample type (1 = uint16,
 * 2 = float32), uint16 reserved 0; then width*height samples, row-major,
 * little-endian. A file of another type, size or with trailing bytes is
 * refused.
 */
#include <mpi.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csr.h"

static void *alloc(size_t n)
{
	void *p = malloc(n > 0 ? n : 1);
	if (p == NULL) {
		fprintf(stderr, "ndvi: out of memory (%zu bytes)\n", n);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	return p;
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	double t0 = MPI_Wtime();

	if (argc != 4) {
		if (rank == 0)
			fprintf(stderr, "usage: ndvi RED.csr NIR.csr OUT.csr\n");
		MPI_Finalize();
		return 2;
	}
	if (!little_endian()) {
		if (rank == 0)
			fprintf(stderr, "ndvi: this program needs a little-endian host\n");
		MPI_Finalize();
		return 1;
	}

	/* Rank 0 reads both bands and tells everyone the size (0 on error). */
	uint16_t *red = NULL, *nir = NULL;
	unsigned dims[2] = {0, 0};
	if (rank == 0) {
		uint32_t rw, rh, nw, nh;
		red = read_band(argv[1], &rw, &rh);
		nir = red != NULL ? read_band(argv[2], &nw, &nh) : NULL;
		if (nir != NULL && (rw != nw || rh != nh))
			fprintf(stderr, "ndvi: red is %" PRIu32 "x%" PRIu32 ", NIR %" PRIu32 "x%" PRIu32 "\n", rw, rh, nw, nh);
		else if (nir != NULL)
			dims[0] = rw, dims[1] = rh;
	}
	MPI_Bcast(dims, 2, MPI_UNSIGNED, 0, MPI_COMM_WORLD);
	unsigned width = dims[0], height = dims[1];
	if (width == 0) {
		MPI_Finalize();
		return 1;
	}
	double t_read = MPI_Wtime();

	/*
	 * MPI counts and displacements are ints: the whole scene, in bytes of
	 * uint16, must fit one (about 1 Gpixel, more than rank 0 can hold in
	 * a cell's 4 GiB anyway).
	 */
	if ((uint64_t)width * height * sizeof(uint16_t) > INT_MAX) {
		if (rank == 0)
			fprintf(stderr, "ndvi: %ux%u is too large for MPI's int counts\n", width, height);
		MPI_Finalize();
		return 1;
	}
	/* Split rows as evenly as possible: the first height%size ranks get one more. */
	int *pixels = alloc(size * sizeof(int)), *pixel_off = alloc(size * sizeof(int));
	int *bytes = alloc(size * sizeof(int)), *byte_off = alloc(size * sizeof(int));
	split_rows(width, height, size, pixels, pixel_off, bytes, byte_off);

	int n = pixels[rank];
	uint16_t *my_red = alloc((size_t)n * sizeof *my_red);
	uint16_t *my_nir = alloc((size_t)n * sizeof *my_nir);
	float *my_out = alloc((size_t)n * sizeof *my_out);
	MPI_Scatterv(red, bytes, byte_off, MPI_BYTE, my_red, bytes[rank], MPI_BYTE, 0, MPI_COMM_WORLD);
	MPI_Scatterv(nir, bytes, byte_off, MPI_BYTE, my_nir, bytes[rank], MPI_BYTE, 0, MPI_COMM_WORLD);
	double t_scatter = MPI_Wtime();

	long long valid = ndvi(my_red, my_nir, my_out, n);
	double t_compute = MPI_Wtime();

	float *out = rank == 0 ? alloc((size_t)width * height * sizeof *out) : NULL;
	MPI_Gatherv(my_out, n, MPI_FLOAT, out, pixels, pixel_off, MPI_FLOAT, 0, MPI_COMM_WORLD);
	double t_gather = MPI_Wtime();

	long long all_valid = 0;
	MPI_Reduce(&valid, &all_valid, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
	double compute = t_compute - t_scatter, max_compute = 0;
	MPI_Reduce(&compute, &max_compute, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);

	int status = 0;
	if (rank == 0) {
		status = write_ndvi(argv[3], width, height, out) == 0 ? 0 : 1;
		double t_write = MPI_Wtime();
		printf("ndvi: %ux%u pixels on %d ranks, %lld valid\n", width, height, size, all_valid);
		printf("ndvi: read %.6f s, scatter %.6f s, compute %.6f s (slowest rank), gather %.6f s, write %.6f s, total %.6f s\n",
		       t_read - t0, t_scatter - t_read, max_compute, t_gather - t_compute, t_write - t_gather, t_write - t0);
		if (max_compute > 0)
			printf("ndvi: %.1f Mpixel/s\n", (double)width * height / max_compute / 1e6);
	}
	free(red);
	free(nir);
	free(out);
	free(my_red);
	free(my_nir);
	free(my_out);
	free(pixels);
	free(pixel_off);
	free(bytes);
	free(byte_off);
	MPI_Finalize();
	return status;
}
