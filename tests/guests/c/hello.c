/*
 * hello: prints "hello from rvdist", then argv[1..argc-1] one per line, and
 * exits with argc.  argv[0] is not printed because it is whatever path the
 * runner chose, which would make the expected output runner-dependent.
 */
#include "rt.h"

int main(int argc, char **argv)
{
    print_str("hello from rvdist\n");
    for (int i = 1; i < argc; i++) {
        print_str(argv[i]);
        print_str("\n");
    }
    return argc;
}
