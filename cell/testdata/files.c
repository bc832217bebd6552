// files: reads from a read-only directory, writes to a writable one, and
// checks that the read-only one refuses writes and that nothing outside the
// granted directories is reachable.
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void) {
	FILE *in = fopen("/in/input.txt", "r");
	if (!in) {
		printf("open input: %s\n", strerror(errno));
		return 1;
	}
	char buf[128] = {0};
	size_t n = fread(buf, 1, sizeof buf - 1, in);
	fclose(in);
	FILE *out = fopen("/out/result.txt", "w");
	if (!out) {
		printf("open output: %s\n", strerror(errno));
		return 1;
	}
	fprintf(out, "read %zu bytes: %s", n, buf);
	fclose(out);
	printf("write into /in: %s\n", fopen("/in/new.txt", "w") ? "allowed" : "refused");
	printf("open /etc/passwd: %s\n", fopen("/etc/passwd", "r") ? "allowed" : "refused");
	printf("open /in/../../etc/passwd: %s\n", fopen("/in/../../etc/passwd", "r") ? "allowed" : "refused");
	return 0;
}
