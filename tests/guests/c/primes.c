/*
 * primes: sieve of Eratosthenes (odd numbers only) up to N = argv[1]
 * (default 1000000, at most 2000000), cross-checked against trial division
 * for the numbers up to min(N, 3000).  Prints the count, the largest prime,
 * their sum and the number of twin-prime pairs.  Uses a 1 MB .bss sieve, so
 * needs about 1.1 MiB of guest memory.  Exits 0, 1 if the cross-check
 * fails, 2 on a bad argument.
 */
#include "rt.h"

#define MAX_N 2000000UL

static uint8_t composite[MAX_N / 2 + 1];   /* composite[k] describes 2k+1 */

static int is_prime_slow(uint64_t n)
{
    if (n < 2)
        return 0;
    for (uint64_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

static int is_prime_sieve(uint64_t n)
{
    if (n < 2)
        return 0;
    if (n == 2)
        return 1;
    return (n & 1) && !composite[n / 2];
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    if (argc > 1 && (parse_u64(argv[1], &n) != 0 || n > MAX_N)) {
        print_str("usage: primes [N <= 2000000]\n");
        return 2;
    }

    for (uint64_t p = 3; p * p <= n; p += 2)
        if (!composite[p / 2])
            for (uint64_t m = p * p; m <= n; m += 2 * p)
                composite[m / 2] = 1;

    uint64_t count = 0, largest = 0, sum = 0, twins = 0, prev = 0;
    for (uint64_t k = 2; k <= n; k++) {
        if (is_prime_sieve(k)) {
            count++;
            largest = k;
            sum += k;
            if (prev && k - prev == 2)
                twins++;
            prev = k;
        }
    }

    uint64_t limit = n < 3000 ? n : 3000;
    for (uint64_t k = 0; k <= limit; k++) {
        if (is_prime_sieve(k) != is_prime_slow(k)) {
            print_str("sieve disagrees with trial division at ");
            print_u64(k);
            print_str("\n");
            return 1;
        }
    }

    print_kv_u64("n", n);
    print_kv_u64("count", count);
    print_kv_u64("largest", largest);
    print_kv_u64("sum", sum);
    print_kv_u64("twin_pairs", twins);
    return 0;
}
