/*
 * csr.h: CSR1 rasters (see package cell/raster) and the NDVI of a pixel
 * run, shared by ndvi.c and ndvi-composite.c. Header-only: each example is
 * built from one .c file, as a cell or natively with mpicc.
 *
 * CSR1: a 16-byte little-endian header, magic "CSR1", uint32 width,
 * uint32 height, uint16 sample type (1 = uint16, 2 = float32), uint16
 * reserved 0; then width*height samples, row-major, little-endian.
 */
#ifndef CSR_H
#define CSR_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSR_HEADER_SIZE 16
#define CSR_UINT16 1
#define CSR_FLOAT32 2

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
	p[2] = v >> 16 & 0xff;
	p[3] = v >> 24 & 0xff;
}

/* Samples are stored as they are in memory, so the host must be little-endian. */
static int little_endian(void)
{
	uint16_t one = 1;
	unsigned char first;
	memcpy(&first, &one, 1);
	return first == 1;
}

/*
 * read_band reads a CSR1 raster of uint16 samples from path into a new
 * buffer. On error it prints why and returns NULL.
 */
static uint16_t *read_band(const char *path, uint32_t *width, uint32_t *height)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return NULL;
	}
	unsigned char h[CSR_HEADER_SIZE];
	uint16_t *data = NULL;
	if (fread(h, 1, sizeof h, f) != sizeof h) {
		fprintf(stderr, "%s: truncated header\n", path);
		goto fail;
	}
	if (memcmp(h, "CSR1", 4) != 0) {
		fprintf(stderr, "%s: not a CSR1 raster (bad magic)\n", path);
		goto fail;
	}
	uint32_t w = get_u32(h + 4), ht = get_u32(h + 8);
	unsigned type = h[12] | h[13] << 8, reserved = h[14] | h[15] << 8;
	if (type != CSR_UINT16 || reserved != 0) {
		fprintf(stderr, "%s: sample type %u, reserved %u: want uint16 (1), 0\n", path, type, reserved);
		goto fail;
	}
	uint64_t n = (uint64_t)w * ht;
	if (w == 0 || ht == 0 || n * sizeof *data > SIZE_MAX || n * sizeof(float) > UINT32_MAX) {
		fprintf(stderr, "%s: bad size %" PRIu32 "x%" PRIu32 "\n", path, w, ht);
		goto fail;
	}
	data = malloc((size_t)n * sizeof *data);
	if (data == NULL) {
		fprintf(stderr, "%s: out of memory for %" PRIu32 "x%" PRIu32 "\n", path, w, ht);
		goto fail;
	}
	if (fread(data, sizeof *data, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "%s: truncated: want %" PRIu64 " samples\n", path, n);
		goto fail;
	}
	if (fgetc(f) != EOF) {
		fprintf(stderr, "%s: trailing data after %" PRIu64 " samples\n", path, n);
		goto fail;
	}
	fclose(f);
	*width = w;
	*height = ht;
	return data;
fail:
	free(data);
	fclose(f);
	return NULL;
}

/* write_ndvi writes a CSR1 raster of float32 samples; it returns 0 on success. */
static int write_ndvi(const char *path, uint32_t width, uint32_t height, const float *data)
{
	unsigned char h[CSR_HEADER_SIZE] = {'C', 'S', 'R', '1'};
	put_u32(h + 4, width);
	put_u32(h + 8, height);
	h[12] = CSR_FLOAT32;
	FILE *f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	size_t n = (size_t)width * height;
	int bad = fwrite(h, 1, sizeof h, f) != sizeof h || fwrite(data, sizeof *data, n, f) != n;
	bad |= fclose(f) != 0;
	if (bad)
		perror(path);
	return bad ? -1 : 0;
}

/* ndvi computes n samples; it returns how many had NIR + Red != 0. */
static long long ndvi(const uint16_t *red, const uint16_t *nir, float *out, int n)
{
	long long valid = 0;
	for (int i = 0; i < n; i++) {
		float r = red[i], v = nir[i];
		float sum = v + r;
		if (sum == 0) {
			out[i] = 0;
		} else {
			out[i] = (v - r) / sum;
			valid++;
		}
	}
	return valid;
}

/*
 * split_rows shares height rows of width pixels among size ranks as evenly
 * as possible (the first height%size ranks get one row more): rank r gets
 * pixels[r] pixels from pixel_off[r], which are bytes[r] bytes from
 * byte_off[r] in a uint16 band, as MPI_Scatterv and MPI_Gatherv want them.
 */
static void split_rows(unsigned width, unsigned height, int size, int *pixels, int *pixel_off, int *bytes, int *byte_off)
{
	unsigned row = 0;
	for (int r = 0; r < size; r++) {
		unsigned rows = height / size + ((unsigned)r < height % size);
		pixels[r] = (int)(rows * width);
		pixel_off[r] = (int)(row * width);
		bytes[r] = pixels[r] * (int)sizeof(uint16_t);
		byte_off[r] = pixel_off[r] * (int)sizeof(uint16_t);
		row += rows;
	}
}

#endif
