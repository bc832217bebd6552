/*
 * hello: the smallest cell. Prints a greeting, its arguments and the
 * environment variable HELLO_NAME, then exits 0. It needs nothing from the
 * host but WASI's args, environ and stdout.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *name = getenv("HELLO_NAME");
	if (name == NULL || name[0] == '\0')
		name = "world";
	printf("hello, %s, from a CloudSkin cell\n", name);
	printf("argc = %d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	return 0;
}
