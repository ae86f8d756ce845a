/* alloc: malloc, calloc, realloc and free from tiny blocks to big ones
 * (mmap'd by glibc past 128 KiB), memory handed back and taken again, and
 * calloc's promise that fresh memory reads as zeros. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash(const unsigned char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(void)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    enum { N = 2000 };
    static unsigned char *blocks[N];
    static size_t sizes[N];
    unsigned seed = 12345;
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 8) % (i % 97 == 0 ? 300000 : 600);
            free(blocks[i]);
            blocks[i] = malloc(n);
            sizes[i] = n;
            memset(blocks[i], (int)(i + round), n);
        }
        for (int i = 0; i < N; i += 3) {
            free(blocks[i]);
            blocks[i] = NULL;
        }
        for (int i = 1; i < N; i += 3)
            h = hash(blocks[i], sizes[i], h);
        printf("round %d: hash %016llx\n", round, (unsigned long long)h);
    }
    for (int i = 0; i < N; i++) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
    malloc_trim(0);

    /* Big blocks: each is its own mapping; freed ones leave holes that new
     * mappings reuse, and calloc must still see zeros there. */
    int zero_ok = 1;
    for (int k = 0; k < 6; k++) {
        size_t n = (size_t)(k + 1) << 20;
        unsigned char *p = malloc(n);
        memset(p, 0xa5, n);
        free(p);
        unsigned char *q = calloc(1, n);
        zero_ok &= all_zero(q, n);
        q[n - 1] = 1;
        free(q);
    }
    printf("big calloc zeroed: %s\n", zero_ok ? "yes" : "NO");

    /* The heap shrinks (trim) and grows again: calloc of fresh heap memory. */
    unsigned char *small[64];
    for (int i = 0; i < 64; i++) {
        small[i] = malloc(60000);
        memset(small[i], 0x5a, 60000);
    }
    for (int i = 0; i < 64; i++)
        free(small[i]);
    malloc_trim(0);
    int heap_ok = 1;
    for (int i = 0; i < 64; i++) {
        small[i] = calloc(60000, 1);
        heap_ok &= all_zero(small[i], 60000);
    }
    for (int i = 0; i < 64; i++)
        free(small[i]);
    printf("regrown heap zeroed: %s\n", heap_ok ? "yes" : "NO");

    /* realloc of a big block grows it in place or moves it (mremap). */
    size_t n = 200000;
    unsigned char *r = malloc(n);
    for (size_t i = 0; i < n; i++)
        r[i] = (unsigned char)(i * 7);
    uint64_t before = hash(r, n, 1);
    for (int k = 0; k < 5; k++) {
        r = realloc(r, n * 2);
        memset(r + n, 0, n);
        n *= 2;
    }
    printf("realloc kept the bytes: %s\n", hash(r, 200000, 1) == before ? "yes" : "NO");
    uint64_t head = hash(r, 1000, 1);
    r = realloc(r, 1000);
    printf("shrunk, bytes kept: %s\n", hash(r, 1000, 1) == head ? "yes" : "NO");
    free(r);
    printf("final hash %016llx\n", (unsigned long long)h);
    return 0;
}
