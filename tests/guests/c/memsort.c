/*
 * memsort: memory-heavy benchmark.  Fills an array of uint64 (taken from the
 * heap with brk) with a xorshift generator, sorts it in place with a
 * quicksort, verifies the order and that the multiset of values is
 * unchanged, and prints an order-dependent checksum.
 *
 * argv[1] = array size: "8" means 8 MiB, "64k" means 64 KiB (default 8 MiB).
 * Memory needed: the array plus about 64 KiB (program, stack), so the
 * default runs in a 16 MiB guest and comfortably in 32 MiB.
 * Exit codes: 0 ok, 1 not sorted, 2 values changed, 3 brk refused, 4 usage.
 */
#include "rt.h"

static uint64_t rng_state = 0x853c49e6748fea9bUL;

static uint64_t xorshift64(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static void insertion_sort(uint64_t *a, long n)
{
    for (long i = 1; i < n; i++) {
        uint64_t v = a[i];
        long j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

static inline void swap(uint64_t *a, uint64_t *b)
{
    uint64_t t = *a;
    *a = *b;
    *b = t;
}

/*
 * Hoare partitioning around the median of first/middle/last.  Ordering those
 * three first puts an element <= pivot at the front and >= pivot at the back,
 * which bounds both scans and guarantees both parts are non-empty.  Recursing
 * into the smaller part only keeps the stack depth O(log n).
 */
static void quicksort(uint64_t *a, long n)
{
    while (n > 16) {
        long mid = n / 2;
        if (a[mid] < a[0])
            swap(&a[mid], &a[0]);
        if (a[n - 1] < a[0])
            swap(&a[n - 1], &a[0]);
        if (a[n - 1] < a[mid])
            swap(&a[n - 1], &a[mid]);
        uint64_t pivot = a[mid];
        long i = -1, j = n;
        for (;;) {
            do
                i++;
            while (a[i] < pivot);
            do
                j--;
            while (a[j] > pivot);
            if (i >= j)
                break;
            swap(&a[i], &a[j]);
        }
        long left = j + 1, right = n - left;
        if (left < right) {
            quicksort(a, left);
            a += left;
            n = right;
        } else {
            quicksort(a + left, right);
            n = left;
        }
    }
    insertion_sort(a, n);
}

/* "N" = N MiB, "Nk" = N KiB; returns 0 on a bad argument. */
static uint64_t parse_size(const char *s)
{
    char buf[24];
    size_t len = rt_strlen(s);
    uint64_t unit = 1UL << 20, v;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len + 1);
    if (buf[len - 1] == 'k' || buf[len - 1] == 'K') {
        unit = 1UL << 10;
        buf[len - 1] = 0;
    }
    if (parse_u64(buf, &v) != 0 || v == 0 || v > (1UL << 32))
        return 0;
    return v * unit;
}

int main(int argc, char **argv)
{
    uint64_t bytes = 8UL << 20;
    if (argc > 1 && (bytes = parse_size(argv[1])) == 0) {
        print_str("usage: memsort [MiB | KiBk]\n");
        return 4;
    }
    long n = (long)(bytes / sizeof(uint64_t));

    uintptr_t base = (sys_brk(0) + 15) & ~15UL;
    uintptr_t end = base + n * sizeof(uint64_t);
    if (sys_brk(end) != end) {
        print_str("brk refused: not enough guest memory\n");
        return 3;
    }
    uint64_t *a = (uint64_t *)base;

    uint64_t sum = 0, xr = 0;
    for (long i = 0; i < n; i++) {
        uint64_t v = xorshift64();
        a[i] = v;
        sum += v;
        xr ^= v;
    }

    quicksort(a, n);

    uint64_t sum2 = 0, xr2 = 0, h = 0xcbf29ce484222325UL;
    int sorted = 1;
    for (long i = 0; i < n; i++) {
        if (i > 0 && a[i - 1] > a[i])
            sorted = 0;
        sum2 += a[i];
        xr2 ^= a[i];
        h = (h ^ a[i]) * 0x100000001b3UL;
    }

    print_kv_u64("elements", (uint64_t)n);
    print_kv_hex("min", a[0]);
    print_kv_hex("median", a[n / 2]);
    print_kv_hex("max", a[n - 1]);
    print_kv_hex("checksum", h);
    print_str(sorted ? "sorted=yes\n" : "sorted=NO\n");
    if (!sorted)
        return 1;
    if (sum != sum2 || xr != xr2) {
        print_str("values changed while sorting\n");
        return 2;
    }
    return 0;
}
