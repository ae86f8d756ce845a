/* hello: stdio, arguments, the environment and the exit code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    printf("hello from glibc, argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d] = \"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));
    const char *who = getenv("WHO");
    printf("WHO=%s\n", who ? who : "(unset)");
    fputs("a line on stderr\n", stderr);
    puts("done");
    return argc + 40;
}
