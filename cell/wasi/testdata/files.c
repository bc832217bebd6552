// files.c exercises the WASI host from a real C program built with
// clang --target=wasm32-wasi and wasi-libc. It prints one "key: value"
// line per check on stdout, for the Go test to compare, and exits with
// the code given as argv[1].
//
// Expected preopens: /ro (read-only, holds hello.txt and sub/) and /rw
// (writable, empty).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

// list prints a directory's entries, sorted, on one line.
static void list(const char *dir) {
	DIR *d = opendir(dir);
	if (!d) {
		printf("list %s: error %s\n", dir, strerror(errno));
		return;
	}
	char *names[64];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 64) {
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("list %s:", dir);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

// try prints the errno name of a call that should fail.
static void try(const char *what, int rc) {
	if (rc >= 0) {
		printf("%s: unexpectedly succeeded\n", what);
		if (rc > 2) close(rc);
		return;
	}
	printf("%s: %s\n", what, strerror(errno));
}

int main(int argc, char **argv) {
	// Args and environment.
	printf("argc: %d\n", argc);
	for (int i = 0; i < argc; i++) printf("argv[%d]: %s\n", i, argv[i]);
	const char *greeting = getenv("GREETING");
	printf("GREETING: %s\n", greeting ? greeting : "(unset)");

	// Read a file from the read-only preopen.
	FILE *f = fopen("/ro/hello.txt", "r");
	char line[256];
	if (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = 0;
		printf("hello.txt: %s\n", line);
	} else {
		printf("hello.txt: error %s\n", strerror(errno));
	}
	if (f) fclose(f);

	// The read-only preopen refuses changes.
	try("create in ro", open("/ro/new.txt", O_WRONLY | O_CREAT, 0644));
	try("write-open in ro", open("/ro/hello.txt", O_RDWR));
	try("unlink in ro", unlink("/ro/hello.txt"));
	try("mkdir in ro", mkdir("/ro/d", 0755));
	// Nothing escapes a preopen.
	try("escape", open("/ro/../secret.txt", O_RDONLY));
	try("escape symlink", open("/ro/outside", O_RDONLY));

	// Write a file in the writable preopen, seek, read back.
	int fd = open("/rw/out.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		printf("open out.txt: %s\n", strerror(errno));
		return 100;
	}
	const char *msg = "0123456789abcdef";
	printf("write: %zd\n", write(fd, msg, strlen(msg)));
	printf("lseek end: %lld\n", (long long)lseek(fd, 0, SEEK_END));
	printf("lseek 10: %lld\n", (long long)lseek(fd, 10, SEEK_SET));
	char buf[32] = {0};
	ssize_t n = read(fd, buf, 3);
	printf("read at 10: %zd %.*s\n", n, (int)n, buf);
	printf("tell: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	n = pread(fd, buf, 4, 0);
	printf("pread at 0: %zd %.*s\n", n, (int)n, buf);
	struct stat st;
	fstat(fd, &st);
	printf("fstat size: %lld regular: %d\n", (long long)st.st_size, S_ISREG(st.st_mode));
	close(fd);

	// O_APPEND through stdio.
	f = fopen("/rw/out.txt", "a");
	fputs("+tail", f);
	fclose(f);
	f = fopen("/rw/out.txt", "r");
	if (fgets(line, sizeof line, f)) printf("after append: %s\n", line);
	fclose(f);

	// Directory operations.
	printf("mkdir: %d\n", mkdir("/rw/dir", 0755));
	f = fopen("/rw/dir/a.txt", "w");
	fputs("a", f);
	fclose(f);
	printf("rename: %d\n", rename("/rw/dir/a.txt", "/rw/dir/b.txt"));
	list("/rw/dir");
	try("rmdir non-empty", rmdir("/rw/dir"));
	printf("unlink: %d\n", unlink("/rw/dir/b.txt"));
	printf("rmdir: %d\n", rmdir("/rw/dir"));
	list("/ro");
	list("/ro/sub");

	// Clocks: monotonic goes forward across a sleep.
	struct timespec t0, t1, rt;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct timespec nap = {0, 5 * 1000 * 1000};
	nanosleep(&nap, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long long slept = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	printf("slept >= 5ms: %d\n", slept >= 5000000);
	clock_gettime(CLOCK_REALTIME, &rt);
	printf("realtime after 2020: %d\n", rt.tv_sec > 1577836800);

	// stdin, all of it.
	size_t total = 0;
	int lines = 0;
	while (fgets(line, sizeof line, stdin)) {
		total += strlen(line);
		lines++;
	}
	printf("stdin: %zu bytes, %d lines\n", total, lines);

	fprintf(stderr, "this goes to stderr\n");
	fflush(stdout);
	return argc > 1 ? atoi(argv[1]) : 0;
}
