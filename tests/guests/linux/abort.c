/* abort: a failed assert() ends the process with SIGABRT, which rvdist
 * reports as exit code 128 + 6, as a shell would. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    (void)argv;
    printf("about to fail an assertion\n");
    fflush(stdout);
    assert(argc > 5 && "need more arguments");
    return 0;
}
