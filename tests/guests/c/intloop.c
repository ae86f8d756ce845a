/*
 * intloop: the interpreter speed benchmark.  A register-only mixing loop
 * (xorshift step, multiply, shifts, adds and one data-dependent branch) with
 * no memory traffic inside it.  argv[1] = iteration count (decimal); the
 * default gives roughly 1.5e9 executed instructions.  Prints the 64-bit
 * checksum in hex and exits 0 (2 on a bad argument).
 */
#include "rt.h"

#define DEFAULT_ITERS 100000000UL   /* ~15 instructions per iteration */

/* noinline keeps the loop in one clearly visible function for profiling. */
static __attribute__((noinline)) uint64_t mix(uint64_t n)
{
    uint64_t x = 0x9e3779b97f4a7c15UL;
    uint64_t h = 0x243f6a8885a308d3UL;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        h = (h ^ x) * 0xff51afd7ed558ccdUL;
        if (x & 0x10)               /* taken about half the time */
            h += h >> 29;
        else
            h ^= i;
    }
    return h ^ x;
}

int main(int argc, char **argv)
{
    uint64_t n = DEFAULT_ITERS;
    if (argc > 1 && parse_u64(argv[1], &n) != 0) {
        print_str("usage: intloop [iterations]\n");
        return 2;
    }
    uint64_t h = mix(n);
    print_str("iterations=");
    print_u64(n);
    print_str("\nchecksum=");
    print_hex64(h);
    print_str("\n");
    return 0;
}
