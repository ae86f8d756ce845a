/*
 * rewrite_pages: writes the same pages over and over in phases, printing a
 * checksum of all of them after each phase, so snapshot/restore tests can
 * compare memory states at phase boundaries.  16 pages of .bss plus one page
 * of initialised .data are involved:
 *   phase 1  fill every bss page (pattern A)
 *   phase 2  rewrite every bss page with pattern B, and the data page
 *   phase 3  rewrite only the even bss pages (pattern C)
 *   phase 4  zero every bss page but page 5, and rewrite the data page
 *   phase 5  pattern A again and the data page restored: memory is the same
 *            as after phase 1, and so must the checksum be
 * Exits 0, or 1 if phase 5's checksum differs from phase 1's.
 */
#include "rt.h"

#define PAGE 4096
#define NPAGES 16
#define WORDS (PAGE / 8)

static uint64_t pages[NPAGES][WORDS] __attribute__((aligned(PAGE)));

/* Starts as a known ramp; lives in .data so the ELF carries its contents. */
static uint64_t table[WORDS] __attribute__((aligned(PAGE))) = {
#define R4(n) (n), (n) + 1, (n) + 2, (n) + 3
#define R16(n) R4(n), R4((n) + 4), R4((n) + 8), R4((n) + 12)
    R16(0x1000), R16(0x1010), R16(0x1020), R16(0x1030),
};

static uint64_t pattern(uint64_t seed, uint64_t page, uint64_t word)
{
    uint64_t x = seed ^ (page << 32) ^ word;
    x *= 0xff51afd7ed558ccdUL;
    return x ^ (x >> 33);
}

static void fill_page(int p, uint64_t seed)
{
    for (int w = 0; w < WORDS; w++)
        pages[p][w] = pattern(seed, (uint64_t)p, (uint64_t)w);
}

static uint64_t checksum(void)
{
    uint64_t h = 0xcbf29ce484222325UL;
    for (int p = 0; p < NPAGES; p++)
        for (int w = 0; w < WORDS; w++)
            h = (h ^ pages[p][w]) * 0x100000001b3UL;
    for (int w = 0; w < WORDS; w++)
        h = (h ^ table[w]) * 0x100000001b3UL;
    return h;
}

static uint64_t report(int phase)
{
    uint64_t h = checksum();
    print_str("phase ");
    print_u64((uint64_t)phase);
    print_str(" checksum=");
    print_hex64(h);
    print_str("\n");
    return h;
}

int main(void)
{
    uint64_t saved[WORDS];

    report(0);                      /* the state as loaded */

    for (int p = 0; p < NPAGES; p++)
        fill_page(p, 0xa);
    uint64_t first = report(1);

    for (int w = 0; w < WORDS; w++)
        saved[w] = table[w];
    for (int p = 0; p < NPAGES; p++)
        fill_page(p, 0xb);
    for (int w = 0; w < WORDS; w++)
        table[w] = ~table[w];
    report(2);

    for (int p = 0; p < NPAGES; p += 2)
        fill_page(p, 0xc);
    report(3);

    for (int p = 0; p < NPAGES; p++)
        if (p != 5)
            for (int w = 0; w < WORDS; w++)
                pages[p][w] = 0;
    for (int w = 0; w < WORDS; w++)
        table[w] = pattern(0xd, 99, (uint64_t)w);
    report(4);

    for (int p = 0; p < NPAGES; p++)
        fill_page(p, 0xa);
    for (int w = 0; w < WORDS; w++)
        table[w] = saved[w];
    uint64_t again = report(5);

    print_str(again == first ? "phase 5 matches phase 1\n" : "phase 5 DIFFERS from phase 1\n");
    return again == first ? 0 : 1;
}
