/*
 * ndvi-composite: the maximum-value NDVI composite of a time series of
 * scenes (Holben 1986), in parallel: for every pixel, the largest NDVI
 * over all dates, which keeps the clearest, greenest observation and
 * drops clouds. Crop monitoring builds one per week or month.
 *
 *	ndvi-composite OUT.csr RED1.csr NIR1.csr [RED2.csr NIR2.csr ...]
 *
 * For each date, rank 0 reads both bands (CSR1 rasters of uint16, as
 * ndvi.c) and scatters their rows over all ranks (MPI_Scatterv: the first
 * height%size ranks get one row more); every rank computes the NDVI of its
 * rows exactly as ndvi.c does and keeps the maximum per pixel. At the end
 * rank 0 gathers the composite (MPI_Gatherv) and writes it as a CSR1
 * raster of float32. The result is exact (a maximum of correctly rounded
 * quotients), so it matches a Go reference bit for bit whatever the number
 * of ranks, and whether or not the job was moved between hosts on the way:
 * every date's scatter is a collective on MPI_COMM_WORLD, where a running
 * world can be stopped, moved and resumed.
 *
 * Rank 0 prints the dates, the valid pixels and the time per date.
 */
#include <mpi.h>
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
		fprintf(stderr, "ndvi-composite: out of memory (%zu bytes)\n", n);
		MPI_Abort(MPI_COMM_WORLD, 1);
	}
	return p;
}

/*
 * read_date reads one date's bands on rank 0 and checks that they are
 * width x height (any size for the first date: *width == 0). It returns 0
 * on success; on error it prints why.
 */
static int read_date(const char *red_path, const char *nir_path, unsigned *width, unsigned *height,
		     uint16_t **red, uint16_t **nir)
{
	uint32_t rw, rh, nw, nh;
	*red = read_band(red_path, &rw, &rh);
	*nir = *red != NULL ? read_band(nir_path, &nw, &nh) : NULL;
	if (*nir == NULL)
		return -1;
	if (rw != nw || rh != nh || (*width != 0 && (rw != *width || rh != *height))) {
		fprintf(stderr, "ndvi-composite: %s is %" PRIu32 "x%" PRIu32 ", %s %" PRIu32 "x%" PRIu32 ", the series %ux%u\n",
			red_path, rw, rh, nir_path, nw, nh, *width, *height);
		return -1;
	}
	*width = rw, *height = rh;
	return 0;
}

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	double t0 = MPI_Wtime();

	if (argc < 4 || argc % 2 != 0) {
		if (rank == 0)
			fprintf(stderr, "usage: ndvi-composite OUT.csr RED1.csr NIR1.csr [RED2.csr NIR2.csr ...]\n");
		MPI_Finalize();
		return 2;
	}
	if (!little_endian()) {
		if (rank == 0)
			fprintf(stderr, "ndvi-composite: this program needs a little-endian host\n");
		MPI_Finalize();
		return 1;
	}
	int dates = (argc - 2) / 2;
	unsigned width = 0, height = 0;
	int *pixels = alloc(size * sizeof(int)), *pixel_off = alloc(size * sizeof(int));
	int *bytes = alloc(size * sizeof(int)), *byte_off = alloc(size * sizeof(int));
	uint16_t *my_red = NULL, *my_nir = NULL;
	float *my_ndvi = NULL, *my_max = NULL;
	long long valid = 0;
	int n = 0;

	for (int d = 0; d < dates; d++) {
		double td = MPI_Wtime();
		/* Rank 0 reads the date and tells everyone its size (0: error). */
		uint16_t *red = NULL, *nir = NULL;
		unsigned dims[2] = {0, 0};
		if (rank == 0 && read_date(argv[2 + 2 * d], argv[3 + 2 * d], &width, &height, &red, &nir) == 0)
			dims[0] = width, dims[1] = height;
		MPI_Bcast(dims, 2, MPI_UNSIGNED, 0, MPI_COMM_WORLD);
		if (dims[0] == 0) {
			MPI_Finalize();
			return 1;
		}
		if (d == 0) {
			width = dims[0], height = dims[1];
			if ((uint64_t)width * height * sizeof(float) > INT_MAX) {
				if (rank == 0)
					fprintf(stderr, "ndvi-composite: %ux%u is too large for MPI's int counts\n", width, height);
				MPI_Finalize();
				return 1;
			}
			split_rows(width, height, size, pixels, pixel_off, bytes, byte_off);
			n = pixels[rank];
			my_red = alloc((size_t)n * sizeof *my_red);
			my_nir = alloc((size_t)n * sizeof *my_nir);
			my_ndvi = alloc((size_t)n * sizeof *my_ndvi);
			my_max = alloc((size_t)n * sizeof *my_max);
		}
		MPI_Scatterv(red, bytes, byte_off, MPI_BYTE, my_red, bytes[rank], MPI_BYTE, 0, MPI_COMM_WORLD);
		MPI_Scatterv(nir, bytes, byte_off, MPI_BYTE, my_nir, bytes[rank], MPI_BYTE, 0, MPI_COMM_WORLD);
		free(red);
		free(nir);
		long long v = ndvi(my_red, my_nir, my_ndvi, n);
		if (d == 0) {
			memcpy(my_max, my_ndvi, (size_t)n * sizeof *my_max);
			valid = v;
		} else {
			for (int i = 0; i < n; i++)
				if (my_ndvi[i] > my_max[i])
					my_max[i] = my_ndvi[i];
		}
		if (rank == 0)
			printf("ndvi-composite: date %d of %d, %.6f s\n", d + 1, dates, MPI_Wtime() - td);
	}

	float *out = rank == 0 ? alloc((size_t)width * height * sizeof *out) : NULL;
	MPI_Gatherv(my_max, n, MPI_FLOAT, out, pixels, pixel_off, MPI_FLOAT, 0, MPI_COMM_WORLD);
	long long all_valid = 0;
	MPI_Reduce(&valid, &all_valid, 1, MPI_LONG_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
	int status = 0;
	if (rank == 0) {
		status = write_ndvi(argv[1], width, height, out) == 0 ? 0 : 1;
		printf("ndvi-composite: %ux%u pixels, %d dates, on %d ranks, %lld valid on the first date, %.6f s\n",
		       width, height, dates, size, all_valid, MPI_Wtime() - t0);
	}
	free(out);
	free(my_red);
	free(my_nir);
	free(my_ndvi);
	free(my_max);
	free(pixels);
	free(pixel_off);
	free(bytes);
	free(byte_off);
	MPI_Finalize();
	return status;
}
