// hello: argv, environment, stdin and exit status, the basics of a cell.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
	printf("hello from %s with %d args:", argv[0], argc - 1);
	for (int i = 1; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	const char *g = getenv("GREETING");
	printf("GREETING=%s\n", g ? g : "(unset)");
	char line[256];
	if (fgets(line, sizeof line, stdin))
		printf("stdin: %s", line);
	fprintf(stderr, "to stderr\n");
	return argc > 1 ? atoi(argv[1]) : 0;
}
