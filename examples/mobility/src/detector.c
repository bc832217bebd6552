/*
 * detector: the stand-in for the mobility example's object detector. It
 * reads frames (see frame.h) from a stream segment with
 * cloudskin_stream_read, in order, and does real work on each: --work
 * passes of a 3x3 box blur, a 3x3 Sobel edge detector, a threshold, and a
 * connected-component labelling (8-connected, union-find) of the edges,
 * counting the objects of at least --min-area pixels and finding the
 * largest one's centroid. Every second it reports as QoS metrics
 * (cloudskin_metric):
 *
 *   fps         frames processed per second over the last second
 *   latency_ms  95th percentile, over the last second's frames, of the time
 *               from a frame's creation at the source to the end of its
 *               processing here (both CLOCK_REALTIME, so across machines it
 *               includes their clock difference)
 *   work_ms     mean processing time per frame over the last second
 *
 * It prints a line every --every frames and a summary at the end, after
 * --frames frames (0: never) or --idle seconds without one (0: never). Its
 * read position lives in its own memory, so it goes on from the right frame
 * when it is migrated.
 *
 * Build: cloudskin cell cc --migratable -O2 examples/mobility/src/detector.c -o detector.wasm
 * See examples/mobility/README.md.
 */
#include <cloudskin.h>
#include <inttypes.h>

#include "frame.h"

#define WINDOW_MAX 4096 /* latencies kept per one-second window */

struct image {
	int w, h;
	uint8_t *px;
};

/* blur is a 3x3 box blur of src into dst; the border is copied. */
static void blur(const struct image *src, struct image *dst)
{
	int w = src->w, h = src->h;
	memcpy(dst->px, src->px, (size_t)w * (size_t)h);
	for (int y = 1; y < h - 1; y++) {
		const uint8_t *a = src->px + (y - 1) * w, *b = src->px + y * w, *c = src->px + (y + 1) * w;
		uint8_t *out = dst->px + y * w;
		for (int x = 1; x < w - 1; x++) {
			int s = a[x - 1] + a[x] + a[x + 1] + b[x - 1] + b[x] + b[x + 1] + c[x - 1] + c[x] + c[x + 1];
			out[x] = (uint8_t)(s / 9);
		}
	}
}

/* edges marks where the Sobel gradient magnitude (|gx| + |gy|) reaches threshold. */
static void edges(const struct image *src, uint8_t *mask, int threshold)
{
	int w = src->w, h = src->h;
	memset(mask, 0, (size_t)w * (size_t)h);
	for (int y = 1; y < h - 1; y++) {
		const uint8_t *a = src->px + (y - 1) * w, *b = src->px + y * w, *c = src->px + (y + 1) * w;
		for (int x = 1; x < w - 1; x++) {
			int gx = (a[x + 1] + 2 * b[x + 1] + c[x + 1]) - (a[x - 1] + 2 * b[x - 1] + c[x - 1]);
			int gy = (c[x - 1] + 2 * c[x] + c[x + 1]) - (a[x - 1] + 2 * a[x] + a[x + 1]);
			int g = (gx < 0 ? -gx : gx) + (gy < 0 ? -gy : gy);
			mask[y * w + x] = g >= threshold;
		}
	}
}

struct labels {
	int32_t *label;  /* per pixel: 0, or its provisional label */
	int32_t *parent; /* union-find over labels */
	int32_t *area;
	int64_t *sumx, *sumy;
};

static int32_t find(int32_t *parent, int32_t x)
{
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

static int32_t join(int32_t *parent, int32_t a, int32_t b)
{
	a = find(parent, a);
	b = find(parent, b);
	if (a == b)
		return a;
	if (a < b) {
		parent[b] = a;
		return a;
	}
	parent[a] = b;
	return b;
}

struct objects {
	int count;       /* components of at least min_area pixels */
	int largest;     /* pixels of the largest */
	double cx, cy;   /* its centroid */
};

/* components labels mask's 8-connected components in two passes. */
static struct objects components(const uint8_t *mask, int w, int h, int min_area, struct labels *l)
{
	int32_t next = 1;
	for (int y = 0; y < h; y++) {
		for (int x = 0; x < w; x++) {
			int i = y * w + x;
			l->label[i] = 0;
			if (!mask[i])
				continue;
			int32_t lab = 0;
			/* neighbours already visited: west, north-west, north, north-east */
			int32_t nb[4] = {
				x > 0 ? l->label[i - 1] : 0,
				x > 0 && y > 0 ? l->label[i - w - 1] : 0,
				y > 0 ? l->label[i - w] : 0,
				x < w - 1 && y > 0 ? l->label[i - w + 1] : 0,
			};
			for (int k = 0; k < 4; k++)
				if (nb[k])
					lab = lab ? join(l->parent, lab, nb[k]) : find(l->parent, nb[k]);
			if (!lab) {
				lab = next++;
				l->parent[lab] = lab;
			}
			l->label[i] = lab;
		}
	}
	for (int32_t k = 1; k < next; k++) {
		l->area[k] = 0;
		l->sumx[k] = l->sumy[k] = 0;
	}
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			int32_t lab = l->label[y * w + x];
			if (!lab)
				continue;
			int32_t root = find(l->parent, lab);
			l->area[root]++;
			l->sumx[root] += x;
			l->sumy[root] += y;
		}
	struct objects o = {0, 0, 0, 0};
	for (int32_t k = 1; k < next; k++) {
		if (l->parent[k] != k || l->area[k] < min_area)
			continue;
		o.count++;
		if (l->area[k] > o.largest) {
			o.largest = l->area[k];
			o.cx = (double)l->sumx[k] / l->area[k];
			o.cy = (double)l->sumy[k] / l->area[k];
		}
	}
	return o;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* p95 is the 95th percentile of v[0..n), sorted in place. */
static double p95(double *v, int n)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, compare_doubles);
	int i = (int)(0.95 * (n - 1) + 0.5);
	return v[i];
}

/* grow makes *p hold at least n bytes; 0 when there is no memory. */
static int grow(void **p, size_t n)
{
	void *q = realloc(*p, n);
	if (q == NULL)
		return 0;
	*p = q;
	return 1;
}

int main(int argc, char **argv)
{
	const char *stream = "mobility/frames", *segment_s = "0", *frames_s = "0", *work_s = "1",
		   *threshold_s = "160", *min_area_s = "16", *every_s = "100", *idle_s = "0";
	const struct option opts[] = {
		{"stream", &stream, "scope/stream to read frames from"},
		{"segment", &segment_s, "segment to read (0 for a stream of one segment)"},
		{"frames", &frames_s, "frames to process before exiting; 0 is forever"},
		{"work", &work_s, "blur passes per frame before edge detection, to scale the work"},
		{"threshold", &threshold_s, "Sobel magnitude (|gx|+|gy|) that makes an edge"},
		{"min-area", &min_area_s, "pixels an edge component needs to count as an object"},
		{"every", &every_s, "print a line every this many frames; 0 is only at the end"},
		{"idle", &idle_s, "exit after this many seconds without a frame; 0 is never"},
		{NULL, NULL, NULL},
	};
	parse_options(argc, argv, opts);
	uint32_t segment = (uint32_t)number("segment", segment_s, 0, 4294967295.0);
	uint64_t frames = (uint64_t)number("frames", frames_s, 0, 1e15);
	int work = (int)number("work", work_s, 0, 1000);
	int threshold = (int)number("threshold", threshold_s, 1, 2040);
	int min_area = (int)number("min-area", min_area_s, 1, 1e9);
	uint64_t every = (uint64_t)number("every", every_s, 0, 1e15);
	int64_t idle_limit = (int64_t)number("idle", idle_s, 0, 1e9) * 1000000000;

	uint8_t *buf = NULL;
	uint32_t cap = 0;
	struct image img = {0, 0, NULL}, tmp = {0, 0, NULL};
	uint8_t *mask = NULL;
	struct labels l = {NULL, NULL, NULL, NULL, NULL};
	static double window_latency[WINDOW_MAX];

	uint64_t offset = 0; /* the read position: in the cell's memory, so it migrates */
	uint64_t done = 0, first = 0, last = 0, gaps = 0, dups = 0, bad = 0, errors = 0;
	double work_total = 0, latency_total = 0, latency_max = 0, window_work = 0;
	int window_n = 0, unavailable = 0;
	struct objects o = {0, 0, 0, 0};
	int64_t window = now_ns(CLOCK_MONOTONIC), last_frame = window;

	while (frames == 0 || done < frames) {
		int64_t r = cloudskin_stream_read(stream, segment, &offset, buf, cap, 1000);
		int64_t now = now_ns(CLOCK_MONOTONIC);
		if (r == 0) {
			if (idle_limit > 0 && now - last_frame >= idle_limit)
				break;
			continue;
		}
		if (CLOUDSKIN_STREAM_TOO_BIG(r)) {
			uint32_t need = CLOUDSKIN_STREAM_NEEDED(r);
			if (!grow((void **)&buf, need)) {
				fprintf(stderr, "detector: no memory for a frame of %" PRIu32 " bytes\n", need);
				return 1;
			}
			cap = need;
			continue;
		}
		if (r == CLOUDSKIN_ETRUNCATED) {
			fprintf(stderr, "detector: frames before offset %" PRIu64 " were discarded by the store; going on from there\n", offset);
			continue;
		}
		if (r == CLOUDSKIN_EUNAVAIL || r == CLOUDSKIN_ENOTFOUND) {
			/* The store is away, or the stream is not created yet: wait. */
			if (!unavailable++)
				fprintf(stderr, "detector: %s %s; waiting\n", stream, r == CLOUDSKIN_EUNAVAIL ? "is unavailable" : "does not exist");
			errors++;
			sleep_ns(200000000);
			continue;
		}
		if (r < 0) {
			fprintf(stderr, "detector: read %s: error %" PRId64 "%s\n", stream, r, r == CLOUDSKIN_ENOSTREAMS ? " (this cell has no stream store)" : "");
			return 1;
		}
		unavailable = 0;
		last_frame = now;

		struct frame_header hd;
		if (r < (int64_t)sizeof hd) {
			bad++;
			continue;
		}
		memcpy(&hd, buf, sizeof hd);
		uint64_t pixels = (uint64_t)hd.width * hd.height * hd.channels;
		if (memcmp(hd.magic, FRAME_MAGIC, 4) != 0 || hd.channels != 1 || hd.width < 3 || hd.height < 3 ||
		    (uint64_t)r != sizeof hd + pixels) {
			bad++;
			continue;
		}
		if (done > 0 && hd.seq <= last) {
			dups++;
			continue;
		}
		if (done == 0)
			first = hd.seq;
		else
			gaps += hd.seq - last - 1;
		last = hd.seq;

		if (img.w != (int)hd.width || img.h != (int)hd.height) {
			size_t n = (size_t)pixels;
			if (!grow((void **)&img.px, n) || !grow((void **)&tmp.px, n) || !grow((void **)&mask, n) ||
			    !grow((void **)&l.label, n * sizeof *l.label) || !grow((void **)&l.parent, (n + 1) * sizeof *l.parent) ||
			    !grow((void **)&l.area, (n + 1) * sizeof *l.area) || !grow((void **)&l.sumx, (n + 1) * sizeof *l.sumx) ||
			    !grow((void **)&l.sumy, (n + 1) * sizeof *l.sumy)) {
				fprintf(stderr, "detector: no memory for %" PRIu32 "x%" PRIu32 " frames\n", hd.width, hd.height);
				return 1;
			}
			img.w = tmp.w = (int)hd.width;
			img.h = tmp.h = (int)hd.height;
		}

		int64_t t0 = now_ns(CLOCK_MONOTONIC);
		memcpy(img.px, buf + sizeof hd, (size_t)pixels);
		for (int k = 0; k < work; k++) {
			blur(&img, &tmp);
			struct image swap = img;
			img = tmp;
			tmp = swap;
		}
		edges(&img, mask, threshold);
		o = components(mask, img.w, img.h, min_area, &l);
		int64_t t1 = now_ns(CLOCK_MONOTONIC);
		double work_ms = (double)(t1 - t0) / 1e6;
		double latency_ms = (double)(now_ns(CLOCK_REALTIME) - hd.created_ns) / 1e6;

		done++;
		work_total += work_ms;
		latency_total += latency_ms;
		if (latency_ms > latency_max)
			latency_max = latency_ms;
		if (window_n < WINDOW_MAX)
			window_latency[window_n] = latency_ms;
		window_n++;
		window_work += work_ms;
		if (every > 0 && done % every == 0) {
			printf("detector: frame %" PRIu64 " seq %" PRIu64 " objects %d largest %d px at (%.1f, %.1f) latency %.2f ms work %.2f ms\n",
			       done, hd.seq, o.count, o.largest, o.cx, o.cy, latency_ms, work_ms);
			fflush(stdout);
		}
		if (t1 - window >= 1000000000) {
			cloudskin_metric("fps", (double)window_n * 1e9 / (double)(t1 - window));
			cloudskin_metric("latency_ms", p95(window_latency, window_n < WINDOW_MAX ? window_n : WINDOW_MAX));
			cloudskin_metric("work_ms", window_work / window_n);
			window = t1;
			window_n = 0;
			window_work = 0;
		}
	}
	int64_t end = now_ns(CLOCK_MONOTONIC);
	if (window_n > 0 && end > window) {
		cloudskin_metric("fps", (double)window_n * 1e9 / (double)(end - window));
		cloudskin_metric("latency_ms", p95(window_latency, window_n < WINDOW_MAX ? window_n : WINDOW_MAX));
		cloudskin_metric("work_ms", window_work / window_n);
	}
	printf("detector: done frames=%" PRIu64 " first=%" PRIu64 " last=%" PRIu64 " gaps=%" PRIu64 " dups=%" PRIu64 " bad=%" PRIu64
	       " errors=%" PRIu64 " objects=%d work_ms_avg=%.3f latency_ms_avg=%.3f latency_ms_max=%.3f\n",
	       done, first, last, gaps, dups, bad, errors, o.count, done ? work_total / done : 0, done ? latency_total / done : 0, latency_max);
	return 0;
}
