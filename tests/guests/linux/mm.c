/* mm: the memory map calls directly: mappings read as zeros even where an
 * earlier one was unmapped, mremap keeps bytes, mprotect makes memory
 * read-only, madvise(DONTNEED) hands back zeros, brk memory is zero after
 * a shrink and regrow. Prints what happened. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int zeros(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(void)
{
    const size_t M = 1 << 20;
    unsigned char *a = mmap(NULL, 4 * M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap 4 MiB: %s, zeros: %s\n", a == MAP_FAILED ? "failed" : "ok", zeros(a, 4 * M) ? "yes" : "no");
    memset(a, 0x77, 4 * M);
    printf("munmap: %d\n", munmap(a, 4 * M));
    unsigned char *b = mmap(a, 4 * M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mapped again at the same place: %s, zeros: %s\n", b == a ? "yes" : "no", zeros(b, 4 * M) ? "yes" : "no");
    memset(b, 0x11, 4 * M);
    unsigned char *c = mmap(b + M, M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("MAP_FIXED over the middle: %s, zeros: %s, neighbours kept: %s\n", c == b + M ? "yes" : "no",
           zeros(c, M) ? "yes" : "no", b[M - 1] == 0x11 && b[2 * M] == 0x11 ? "yes" : "no");
    for (size_t i = 0; i < M; i++)
        b[i] = (unsigned char)(i * 13);
    unsigned char *e = mremap(b, M, 8 * M, MREMAP_MAYMOVE);
    int kept = 1;
    for (size_t i = 0; i < M; i++)
        kept &= e[i] == (unsigned char)(i * 13);
    printf("mremap grow: %s, bytes kept: %s, new part zeros: %s\n", e == MAP_FAILED ? "failed" : "ok",
           kept ? "yes" : "no", zeros(e + M, 7 * M) ? "yes" : "no");
    unsigned char *f = mremap(e, 8 * M, 2 * M, 0);
    printf("mremap shrink in place: %s\n", f == e ? "yes" : "no");
    memset(f, 0x33, 2 * M);
    printf("madvise DONTNEED: %d, zeros after: %s\n", madvise(f, 2 * M, MADV_DONTNEED),
           zeros(f, 2 * M) ? "yes" : "no");
    printf("madvise WILLNEED: %d\n", madvise(f, M, MADV_WILLNEED));
    f[0] = 9;
    printf("mprotect read-only: %d, still readable: %s\n", mprotect(f, M, PROT_READ), f[0] == 9 ? "yes" : "no");
    printf("mprotect back to read-write: %d\n", mprotect(f, M, PROT_READ | PROT_WRITE));
    f[0] = 10;
    errno = 0;
    printf("mprotect of unmapped memory: %s\n", mprotect(f + 64 * M, M, PROT_READ) ? strerror(errno) : "ok?!");
    printf("munmap all: %d %d %d\n", munmap(f, 2 * M), munmap(b + M, M), munmap(b + 2 * M, 2 * M));

    /* The break: grow, dirty, shrink, grow again: the new part reads as zeros. */
    unsigned char *brk0 = sbrk(0);
    sbrk(3 * 65536);
    memset(brk0, 0x44, 3 * 65536);
    sbrk(-2 * 65536 - 100);
    unsigned char *again = sbrk(2 * 65536 + 100);
    printf("brk regrown at the same place: %s, zeros: %s\n", again == brk0 + 65536 - 100 ? "yes" : "no",
           zeros(again, 2 * 65536 + 100) ? "yes" : "no");
    printf("page size: %ld\n", sysconf(_SC_PAGESIZE));
    return 0;
}
