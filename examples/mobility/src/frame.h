/*
 * frame.h: what frame-source and detector share: the frame as it lies in
 * the stream, the clocks, and a small --name value option parser.
 *
 * A frame is one stream event: a 32-byte header, then width*height*channels
 * bytes of pixels, row by row (channels is 1: 8-bit grey). Integers are
 * little-endian, as in a wasm32 cell's memory.
 */
#ifndef MOBILITY_FRAME_H
#define MOBILITY_FRAME_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_MAGIC "CSF1"

struct frame_header {
	char magic[4];      /* "CSF1" */
	uint32_t width;     /* pixels */
	uint32_t height;    /* pixels */
	uint32_t channels;  /* 1: 8-bit grey */
	uint64_t seq;       /* 0, 1, 2, ... in the order the source made them */
	int64_t created_ns; /* CLOCK_REALTIME when the source made the frame */
};
_Static_assert(sizeof(struct frame_header) == 32, "frame header is 32 bytes");

static inline int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void sleep_ns(int64_t ns)
{
	if (ns <= 0)
		return;
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	nanosleep(&ts, NULL);
}

/*
 * An option: --name value. Every option takes a value; opts ends with a
 * NULL name. parse_options exits with status 2 on anything else.
 */
struct option {
	const char *name; /* without the leading -- */
	const char **value;
	const char *help;
};

static inline void usage(const char *prog, const struct option *opts)
{
	fprintf(stderr, "usage: %s", prog);
	for (const struct option *o = opts; o->name; o++)
		fprintf(stderr, " [--%s %s]", o->name, *o->value);
	fprintf(stderr, "\n");
	for (const struct option *o = opts; o->name; o++)
		fprintf(stderr, "  --%-10s %s\n", o->name, o->help);
}

static inline void parse_options(int argc, char **argv, const struct option *opts)
{
	for (int i = 1; i < argc; i++) {
		const struct option *o = opts;
		while (o->name && !(strncmp(argv[i], "--", 2) == 0 && strcmp(argv[i] + 2, o->name) == 0))
			o++;
		if (!o->name || i + 1 >= argc) {
			fprintf(stderr, "%s: %s %s\n", argv[0], o->name ? "no value for" : "unknown option", argv[i]);
			usage(argv[0], opts);
			exit(2);
		}
		*o->value = argv[++i];
	}
}

/* number parses an option's value, exiting with status 2 when it is not a number in [lo, hi]. */
static inline double number(const char *name, const char *s, double lo, double hi)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "--%s %s: want a number from %g to %g\n", name, s, lo, hi);
		exit(2);
	}
	return v;
}

#endif
