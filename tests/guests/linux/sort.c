/* sort: qsort (glibc checks the machine's memory with sysinfo and takes a
 * buffer with malloc or mmap), bsearch and string sorting. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
    uint32_t *v = malloc(n * sizeof *v);
    uint32_t s = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        v[i] = s;
    }
    qsort(v, n, sizeof *v, cmp_u32);
    int sorted = 1;
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        sorted &= i == 0 || v[i - 1] <= v[i];
        h = h * 31 + v[i];
    }
    printf("%zu numbers sorted: %s, hash %016llx\n", n, sorted ? "yes" : "no", (unsigned long long)h);
    uint32_t key = v[n / 3];
    uint32_t *hit = bsearch(&key, v, n, sizeof *v, cmp_u32);
    printf("bsearch finds v[n/3]: %s\n", hit && *hit == key ? "yes" : "no");

    enum { W = 5000 };
    char **words = malloc(W * sizeof *words);
    for (int i = 0; i < W; i++) {
        char buf[16];
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        int len = 3 + (int)(s % 8);
        for (int k = 0; k < len; k++)
            buf[k] = (char)('a' + (s >> (k * 3)) % 26);
        buf[len] = 0;
        words[i] = strdup(buf);
    }
    qsort(words, W, sizeof *words, cmp_str);
    printf("first %s, middle %s, last %s\n", words[0], words[W / 2], words[W - 1]);
    free(v);
    return 0;
}
