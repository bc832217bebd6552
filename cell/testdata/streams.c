/*
 * streams: the "cloudskin" module's metric and stream calls, for
 * hostapi_test.go. Modes:
 *
 *   append STREAM N SIZE     append N events "event NNNNNN" padded to SIZE
 *                            bytes with a pattern of the event's number
 *   read STREAM N CAP WAIT   read N events of segment 0 from offset 0,
 *                            check each one's number and pattern, print
 *                            "NNNNNN LEN OFFSET" per event
 *   flood STREAM N SIZE      append the same SIZE bytes N times (for
 *                            benchmarks)
 *   drain STREAM N CAP       read N events of segment 0 without checking
 *                            them (for benchmarks)
 *   metrics                  report samples with good and bad names
 *   errors STREAM            print each error case's code as name=code
 *   truncated STREAM         read from offset 0 of a truncated stream
 *   fork STREAM              fork; parent and child each append an event
 *                            and report a metric
 */
#include <cloudskin.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill(char *buf, int n, int size)
{
	snprintf(buf, size, "event %06d", n);
	for (int i = 12; i < size; i++)
		buf[i] = (char)('a' + (n + i) % 26);
}

static int check(const char *buf, int64_t len, int n)
{
	char want[16];
	snprintf(want, sizeof want, "event %06d", n);
	if (len < 12 || memcmp(buf, want, 12) != 0)
		return 0;
	for (int64_t i = 12; i < len; i++)
		if (buf[i] != (char)('a' + (n + i) % 26))
			return 0;
	return 1;
}

static int appendMode(const char *stream, int n, int size)
{
	char *buf = malloc(size);
	for (int i = 0; i < n; i++) {
		fill(buf, i, size);
		int r = cloudskin_stream_append(stream, "key", buf, size);
		if (r != 0) {
			printf("append %d: %d\n", i, r);
			return 1;
		}
	}
	printf("appended %d\n", n);
	return 0;
}

static int readMode(const char *stream, int n, int cap, int wait)
{
	char *buf = malloc(cap);
	uint64_t offset = 0;
	for (int i = 0; i < n;) {
		int64_t r = cloudskin_stream_read(stream, 0, &offset, buf, cap, wait);
		if (r == 0)
			continue; /* nothing yet: wait again */
		if (r < 0) {
			printf("read %d: %" PRId64 "\n", i, r);
			return 1;
		}
		if (!check(buf, r, i)) {
			printf("event %d: wrong content %.12s\n", i, buf);
			return 2;
		}
		printf("%06d %" PRId64 " %" PRIu64 "\n", i, r, offset);
		i++;
	}
	return 0;
}

static int floodMode(const char *stream, int n, int size)
{
	char *buf = malloc(size);
	fill(buf, 0, size);
	for (int i = 0; i < n; i++) {
		int r = cloudskin_stream_append(stream, "key", buf, size);
		if (r != 0) {
			printf("append %d: %d\n", i, r);
			return 1;
		}
	}
	return 0;
}

static int drainMode(const char *stream, int n, int cap)
{
	char *buf = malloc(cap);
	uint64_t offset = 0;
	for (int i = 0; i < n;) {
		int64_t r = cloudskin_stream_read(stream, 0, &offset, buf, cap, 1000);
		if (r < 0) {
			printf("read %d: %" PRId64 "\n", i, r);
			return 1;
		}
		i += r > 0;
	}
	return 0;
}

static int metricsMode(void)
{
	char long_name[70];
	memset(long_name, 'x', 65);
	long_name[65] = 0;
	printf("fps=%d\n", cloudskin_metric("fps", 25.5));
	printf("latency_ms=%d\n", cloudskin_metric("latency_ms", 3.25));
	printf("space=%d\n", cloudskin_metric("bad name", 1));
	printf("digit=%d\n", cloudskin_metric("9lives", 1));
	printf("empty=%d\n", cloudskin_metric("", 1));
	printf("long=%d\n", cloudskin_metric(long_name, 1));
	long_name[64] = 0;
	printf("max=%d\n", cloudskin_metric(long_name, 64));
	printf("outside=%d\n", cloudskin_metric((const char *)0xfffffff0u, 1));
	return 0;
}

static int errorsMode(const char *stream)
{
	char buf[200];
	uint64_t offset = 0;
	/* An append to a stream that does not exist makes it (one segment). */
	printf("append_creates=%d\n", cloudskin_stream_append("made/bythecell", "", "x", 1));
	printf("append_badname=%d\n", cloudskin_stream_append("Not A Stream", "", "x", 1));
	printf("append_outside=%d\n", cloudskin_stream_append(stream, "", (const void *)0xfffffff0u, 100));
	printf("read_unknown=%" PRId64 "\n", cloudskin_stream_read("nosuch/stream", 0, &offset, buf, sizeof buf, 0));
	printf("read_segment=%" PRId64 "\n", cloudskin_stream_read(stream, 7, &offset, buf, sizeof buf, 0));
	printf("read_badoffset=%" PRId64 "\n", cloudskin_stream_read_slice(stream, 0, (uint64_t *)0xfffffffcu, buf, sizeof buf, 0));
	int64_t r = cloudskin_stream_read(stream, 0, &offset, buf, 10, 0);
	printf("read_small=%d needed=%" PRIu32 " offset=%" PRIu64 "\n", CLOUDSKIN_STREAM_TOO_BIG(r), CLOUDSKIN_STREAM_NEEDED(r), offset);
	r = cloudskin_stream_read(stream, 0, &offset, buf, sizeof buf, 0);
	printf("read=%" PRId64 " advanced=%d\n", r, offset > 0);
	uint64_t end = offset;
	printf("read_end=%" PRId64 " same=%d\n", cloudskin_stream_read(stream, 0, &offset, buf, sizeof buf, 250), offset == end);
	offset = 1;
	printf("read_midevent=%" PRId64 "\n", cloudskin_stream_read(stream, 0, &offset, buf, sizeof buf, 0));
	return 0;
}

static int truncatedMode(const char *stream)
{
	char buf[64];
	uint64_t offset = 0;
	int64_t r = cloudskin_stream_read(stream, 0, &offset, buf, sizeof buf, 0);
	printf("truncated=%" PRId64 " offset=%" PRIu64 "\n", r, offset);
	r = cloudskin_stream_read(stream, 0, &offset, buf, sizeof buf, 0);
	printf("then=%.12s\n", r > 0 ? buf : "nothing");
	return 0;
}

static int forkMode(const char *stream)
{
	int child = cloudskin_fork();
	const char *who = child == 0 ? "child" : "parent";
	int a = cloudskin_stream_append(stream, who, who, (uint32_t)strlen(who));
	int m = cloudskin_metric(who, child);
	printf("%s fork=%d append=%d metric=%d\n", who, child, a, m);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "append") == 0)
		return appendMode(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 6 && strcmp(argv[1], "read") == 0)
		return readMode(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	if (argc == 5 && strcmp(argv[1], "flood") == 0)
		return floodMode(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "drain") == 0)
		return drainMode(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 2 && strcmp(argv[1], "metrics") == 0)
		return metricsMode();
	if (argc == 3 && strcmp(argv[1], "errors") == 0)
		return errorsMode(argv[2]);
	if (argc == 3 && strcmp(argv[1], "truncated") == 0)
		return truncatedMode(argv[2]);
	if (argc == 3 && strcmp(argv[1], "fork") == 0)
		return forkMode(argv[2]);
	fprintf(stderr, "usage: streams append|flood|read|drain|metrics|errors|truncated|fork ...\n");
	return 64;
}
