/*
 * snapshot.c: bulk page access for snapshots.
 *
 * Python decides what a snapshot holds, and snapformat.c checks its
 * encoding; the per-byte work (finding changed pages, spotting zero pages,
 * copying page contents in and out of guest memory) happens here, a page at
 * a time.
 */
#include <string.h>

#include "internal.h"

/* 16-byte vectors (SSE2 or NEON, always there) in four independent OR
 * chains keep several loads in flight, where one scalar chain managed a
 * word per cycle, a third of what the caches deliver. */
typedef uint64_t rv_vec __attribute__((vector_size(16), may_alias));

int rv_page_is_zero(const uint8_t *p)
{
    /* Random data fails on the first word; zero pages are OR-reduced in
     * 512-byte strides. */
    const uint64_t *w = (const uint64_t *)(const void *)p;
    if (w[0])
        return 0;
    const rv_vec *v = (const rv_vec *)(const void *)p;
    for (size_t i = 0; i < RV_PAGE_SIZE / sizeof(rv_vec); i += 32) {
        rv_vec a = v[i] | v[i + 1], b = v[i + 2] | v[i + 3], c = v[i + 4] | v[i + 5];
        rv_vec d = v[i + 6] | v[i + 7];
        for (size_t j = i + 8; j < i + 32; j += 8) {
            a |= v[j] | v[j + 1];
            b |= v[j + 2] | v[j + 3];
            c |= v[j + 4] | v[j + 5];
            d |= v[j + 6] | v[j + 7];
        }
        a |= b | c | d;
        if (a[0] | a[1])
            return 0;
    }
    return 1;
}

void rv_list_pages(const rv_machine *m, uint32_t mask, uint32_t *data_pages, uint64_t *n_data,
                   uint32_t *zero_pages, uint64_t *n_zero)
{
    uint64_t nd = 0, nz = 0;
    for (uint64_t p = 0; p < m->npages; p++) {
        if (!(m->page_flags[p] & mask))
            continue;
        if (rv_page_is_zero(m->mem + (p << RV_PAGE_SHIFT)))
            zero_pages[nz++] = (uint32_t)p;
        else
            data_pages[nd++] = (uint32_t)p;
    }
    *n_data = nd;
    *n_zero = nz;
}

void rv_gather_pages(const rv_machine *m, const uint32_t *pages, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++)
        memcpy(out + i * RV_PAGE_SIZE, m->mem + ((uint64_t)pages[i] << RV_PAGE_SHIFT), RV_PAGE_SIZE);
}

/* Scattering checks every page before it writes any. */
static int check_writable(const rv_machine *m, const uint32_t *pages, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        if (pages[i] >= m->npages)
            return RV_ERR_STORE;
        if (m->page_flags[pages[i]] & (RV_PAGE_EXEC | RV_PAGE_FROZEN))
            return RV_ERR_WRITE_READONLY;
    }
    return 0;
}

/* Written pages are TOUCHED, and no longer stale (see rv_new_stale). */
static void mark_written(rv_machine *m, const uint32_t *pages, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        m->page_flags[pages[i]] |= RV_PAGE_TOUCHED;
        rv_bit_clear(m->stale, pages[i]);
        rv_bit_clear(m->zeroed, pages[i]);
    }
}

/* Whether page p holds only zeros, known without reading it: nothing wrote
 * it since it came clean from the kernel or the pool, or a restore zeroed
 * it and nothing wrote it since. A sparse snapshot lists many zero pages;
 * reading each (a TLB miss and 4 KiB) would cost more than the rest. */
static int known_zero(const rv_machine *m, uint64_t p)
{
    if (rv_bit_test(m->zeroed, p))
        return 1;
    return !(m->page_flags[p] & RV_PAGE_TOUCHED) && !rv_bit_test(m->used, p) &&
           !rv_bit_test(m->stale, p);
}

static void zero_fill(rv_machine *m, uint64_t p)
{
    uint8_t *dst = m->mem + (p << RV_PAGE_SHIFT);
    if (!known_zero(m, p) && !rv_page_is_zero(dst))
        memset(dst, 0, RV_PAGE_SIZE);   /* reading a fresh page allocates nothing */
    m->page_flags[p] |= RV_PAGE_TOUCHED;
    rv_bit_clear(m->stale, p);
    /* It stays known zero until written; the first write to a page that is
     * not DIRTY goes through rv_store_check, which clears the bit. */
    if (!(m->page_flags[p] & RV_PAGE_DIRTY))
        rv_bit_set(m->zeroed, p);
}

int rv_scatter_pages(rv_machine *m, const uint32_t *pages, uint64_t n, const uint8_t *data)
{
    int err = check_writable(m, pages, n);
    if (err)
        return err;
    if (!data) {
        for (uint64_t i = 0; i < n; i++)
            zero_fill(m, pages[i]);
        return 0;
    }
    for (uint64_t i = 0; i < n; i++)
        memcpy(m->mem + ((uint64_t)pages[i] << RV_PAGE_SHIFT), data + i * RV_PAGE_SIZE, RV_PAGE_SIZE);
    mark_written(m, pages, n);
    return 0;
}

static uint32_t entry(const uint8_t *table, uint64_t block, int field)
{
    return rv_rd32(table + block * RV_SNAP_BLOCK_ENTRY + 4 * field);
}

int rv_scatter_raw_blocks(rv_machine *m, const uint32_t *data_pages, uint64_t n_data,
                          const uint8_t *blocks, uint64_t blocks_len, const uint8_t *table,
                          uint64_t n_blocks, uint64_t *bad)
{
    /* rv_snap_decode checked the table already; a second look keeps every
     * read inside blocks_len whoever the caller is. */
    uint64_t bytes, n_raw;
    if (!rv_snap_blocks_sound(table, n_blocks, n_data, &bytes, &n_raw) || bytes != blocks_len) {
        *bad = n_blocks;
        return -1;
    }
    int err = check_writable(m, data_pages, n_data);
    if (err)
        return err;
    const uint32_t *pages = data_pages;
    for (uint64_t i = 0; i < n_blocks; i++) {
        uint32_t count = entry(table, i, 0);
        if (entry(table, i, 3)) {
            /* A corrupt block is found after its copy: the caller then drops
             * the whole machine, so nothing half-restored is ever seen. */
            uint32_t crc = rv_crc32_scatter(0, blocks, m->mem, pages, count);
            mark_written(m, pages, count);
            if (crc != entry(table, i, 2)) {
                *bad = i;
                return -1;
            }
        }
        pages += count;
        blocks += entry(table, i, 1);
    }
    return 0;
}
