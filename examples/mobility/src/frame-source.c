/*
 * frame-source: a camera stand-in for the mobility example. It makes
 * synthetic 8-bit grey frames (a gradient, bright shapes moving and
 * bouncing off the edges, noise), the same for the same --seed, stamps each
 * with its sequence number and creation time (CLOCK_REALTIME), and appends
 * it to a stream at --fps frames per second (0: as fast as the store takes
 * them), --frames of them (0: forever). Every second it reports the frame
 * rate it achieved as the QoS metric "fps" (cloudskin_metric).
 *
 * Build: cloudskin cell cc --migratable -O2 examples/mobility/src/frame-source.c -o frame-source.wasm
 * See examples/mobility/README.md.
 */
#include <cloudskin.h>
#include <inttypes.h>

#include "frame.h"

#define MAX_SHAPES 16

struct shape {
	int x0, y0;   /* position at frame 0 */
	int vx, vy;   /* pixels per frame */
	int r;        /* radius or half side */
	int value;    /* brightness */
	int round;    /* disc, or square */
};

/* xorshift32: small, fast and the same everywhere. */
static uint32_t next_random(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* bounce is where a point moving v per frame from p0 is at frame n, inside [lo, hi]. */
static int bounce(int p0, int v, uint64_t n, int lo, int hi)
{
	int64_t span = hi - lo;
	if (span <= 0)
		return lo;
	int64_t p = ((int64_t)(p0 - lo) + (int64_t)v * (int64_t)(n % (uint64_t)(2 * span))) % (2 * span);
	if (p < 0)
		p += 2 * span;
	return (int)(lo + (p <= span ? p : 2 * span - p));
}

static void make_shapes(struct shape *s, int n, uint32_t seed, int w, int h)
{
	uint32_t rnd = seed * 2654435761u | 1;
	int side = w < h ? w : h;
	for (int i = 0; i < n; i++) {
		s[i].r = side / 24 + (int)(next_random(&rnd) % (uint32_t)(side / 12 + 1));
		s[i].x0 = (int)(next_random(&rnd) % (uint32_t)w);
		s[i].y0 = (int)(next_random(&rnd) % (uint32_t)h);
		s[i].vx = (int)(next_random(&rnd) % 9) - 4;
		s[i].vy = (int)(next_random(&rnd) % 7) - 3;
		s[i].value = 170 + (int)(next_random(&rnd) % 86);
		s[i].round = (int)(next_random(&rnd) & 1);
	}
}

static void draw(uint8_t *px, int w, int h, const struct shape *shapes, int nshapes, uint64_t seq, uint32_t seed)
{
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			px[y * w + x] = (uint8_t)(30 + 60 * (x + y) / (w + h));
	for (int i = 0; i < nshapes; i++) {
		const struct shape *s = &shapes[i];
		int cx = bounce(s->x0, s->vx, seq, s->r, w - 1 - s->r);
		int cy = bounce(s->y0, s->vy, seq, s->r, h - 1 - s->r);
		for (int y = cy - s->r; y <= cy + s->r; y++) {
			if (y < 0 || y >= h)
				continue;
			for (int x = cx - s->r; x <= cx + s->r; x++) {
				if (x < 0 || x >= w)
					continue;
				int dx = x - cx, dy = y - cy;
				if (!s->round || dx * dx + dy * dy <= s->r * s->r)
					px[y * w + x] = (uint8_t)s->value;
			}
		}
	}
	uint32_t rnd = (uint32_t)(seq * 0x9e3779b9u) ^ seed ^ 0x5bd1e995u;
	if (rnd == 0)
		rnd = 1;
	for (int i = 0; i < w * h; i++) {
		int v = px[i] + (int)(next_random(&rnd) % 17) - 8;
		px[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
	}
}

int main(int argc, char **argv)
{
	const char *stream = "mobility/frames", *key = "camera-1", *fps_s = "25", *frames_s = "0",
		   *width_s = "640", *height_s = "360", *seed_s = "1", *shapes_s = "4", *every_s = "0";
	const struct option opts[] = {
		{"stream", &stream, "scope/stream to append frames to"},
		{"key", &key, "routing key of the frames (picks the segment)"},
		{"fps", &fps_s, "frames per second to aim at; 0 is as fast as the store takes them"},
		{"frames", &frames_s, "frames to send; 0 is forever"},
		{"width", &width_s, "frame width in pixels"},
		{"height", &height_s, "frame height in pixels"},
		{"seed", &seed_s, "seed of the scene and its noise"},
		{"shapes", &shapes_s, "moving shapes in the scene (0 to 16)"},
		{"every", &every_s, "print a line every this many frames; 0 is only at the end"},
		{NULL, NULL, NULL},
	};
	parse_options(argc, argv, opts);
	double fps = number("fps", fps_s, 0, 10000);
	uint64_t frames = (uint64_t)number("frames", frames_s, 0, 1e15);
	int w = (int)number("width", width_s, 16, 7680), h = (int)number("height", height_s, 16, 4320);
	uint32_t seed = (uint32_t)number("seed", seed_s, 0, 4294967295.0);
	int nshapes = (int)number("shapes", shapes_s, 0, MAX_SHAPES);
	uint64_t every = (uint64_t)number("every", every_s, 0, 1e15);

	size_t size = sizeof(struct frame_header) + (size_t)w * (size_t)h;
	uint8_t *frame = malloc(size);
	if (frame == NULL) {
		fprintf(stderr, "frame-source: no memory for a %dx%d frame\n", w, h);
		return 1;
	}
	struct shape shapes[MAX_SHAPES];
	make_shapes(shapes, nshapes, seed, w, h);

	int64_t period = fps > 0 ? (int64_t)(1e9 / fps) : 0;
	int64_t start = now_ns(CLOCK_MONOTONIC), due = start;
	int64_t window = start;
	uint64_t in_window = 0, sent = 0, dropped = 0;
	for (uint64_t seq = 0; frames == 0 || seq < frames; seq++) {
		struct frame_header hd = {.width = (uint32_t)w, .height = (uint32_t)h, .channels = 1, .seq = seq};
		memcpy(hd.magic, FRAME_MAGIC, 4);
		draw(frame + sizeof hd, w, h, shapes, nshapes, seq, seed);
		hd.created_ns = now_ns(CLOCK_REALTIME);
		memcpy(frame, &hd, sizeof hd);

		int r = cloudskin_stream_append(stream, key, frame, (uint32_t)size);
		switch (r) {
		case 0:
			sent++;
			in_window++;
			break;
		case CLOUDSKIN_EUNAVAIL:
			/* The store is busy or away: a camera drops the frame and goes on. */
			if (dropped++ == 0)
				fprintf(stderr, "frame-source: the stream store is unavailable; dropping frames until it is back\n");
			break;
		default:
			fprintf(stderr, "frame-source: append to %s: error %d (%s)\n", stream, r,
				r == CLOUDSKIN_ENOSTREAMS ? "this cell has no stream store" : r == CLOUDSKIN_ENOTFOUND ? "no such stream: create it first" : r == CLOUDSKIN_ETOOBIG ? "frame too large" : "bad stream name");
			return 1;
		}
		if (every > 0 && (seq + 1) % every == 0) {
			printf("frame-source: frame %" PRIu64 " sent %" PRIu64 " dropped %" PRIu64 "\n", seq, sent, dropped);
			fflush(stdout);
		}

		int64_t now = now_ns(CLOCK_MONOTONIC);
		if (now - window >= 1000000000) {
			cloudskin_metric("fps", (double)in_window * 1e9 / (double)(now - window));
			window = now;
			in_window = 0;
		}
		if (period > 0) {
			due += period;
			if (now - due > period)
				due = now; /* behind by more than a frame: do not burst to catch up */
			sleep_ns(due - now);
		}
	}
	int64_t end = now_ns(CLOCK_MONOTONIC);
	if (in_window > 0 && end > window)
		cloudskin_metric("fps", (double)in_window * 1e9 / (double)(end - window));
	double secs = (double)(end - start) / 1e9;
	printf("frame-source: sent %" PRIu64 " frames of %dx%d, dropped %" PRIu64 ", in %.3f s, %.1f fps\n", sent, w, h, dropped, secs, secs > 0 ? (double)sent / secs : 0);
	return 0;
}
