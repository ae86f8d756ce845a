/*
 * snapshot.c: bulk page access for snapshots.
 *
 * Python decides what a snapshot holds and how it is encoded; the per-byte
 * work (finding changed pages, spotting zero pages, copying page contents
 * in and out of guest memory) happens here, a page at a time.
 */
#include <string.h>

#include "internal.h"

int rv_page_is_zero(const uint8_t *p)
{
    /* Random data fails on the first word; zero pages are OR-reduced in
     * 512-byte strides, which the compiler vectorises. */
    const uint64_t *w = (const uint64_t *)(const void *)p;
    if (w[0])
        return 0;
    for (size_t i = 0; i < RV_PAGE_SIZE / 8; i += 64) {
        uint64_t acc = 0;
        for (size_t j = 0; j < 64; j++)
            acc |= w[i + j];
        if (acc)
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

/* The block table must describe exactly n_data pages in blocks_len bytes,
 * raw blocks a whole number of pages each: nothing is read past the end. */
static int table_fits(const uint64_t *table, uint64_t n_blocks, uint64_t n_data, uint64_t blocks_len)
{
    uint64_t pages = 0, bytes = 0;
    for (uint64_t i = 0; i < n_blocks; i++) {
        const uint64_t *b = table + 4 * i;
        if (b[0] == 0 || b[0] > n_data - pages || b[1] > blocks_len - bytes ||
            (b[3] && b[1] != b[0] * RV_PAGE_SIZE))
            return 0;
        pages += b[0];
        bytes += b[1];
    }
    return pages == n_data && bytes == blocks_len;
}

int rv_scatter_raw_blocks(rv_machine *m, const uint32_t *data_pages, uint64_t n_data,
                          const uint8_t *blocks, uint64_t blocks_len, const uint64_t *table,
                          uint64_t n_blocks, uint64_t *bad)
{
    if (!table_fits(table, n_blocks, n_data, blocks_len)) {
        *bad = n_blocks;
        return -1;
    }
    int err = check_writable(m, data_pages, n_data);
    if (err)
        return err;
    const uint32_t *pages = data_pages;
    for (uint64_t i = 0; i < n_blocks; i++, table += 4) {
        if (table[3]) {
            /* A corrupt block is found after its copy: the caller then drops
             * the whole machine, so nothing half-restored is ever seen. */
            uint32_t crc = rv_crc32_scatter(0, blocks, m->mem, pages, table[0]);
            mark_written(m, pages, table[0]);
            if (crc != table[2]) {
                *bad = i;
                return -1;
            }
        }
        pages += table[0];
        blocks += table[1];
    }
    return 0;
}

static int ascending_below(const uint32_t *p, uint64_t n, uint64_t limit)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] >= limit || (i && p[i] <= p[i - 1]))
            return 0;
    return 1;
}

int rv_check_page_lists(const uint32_t *data, uint64_t nd, const uint32_t *zero, uint64_t nz,
                        uint64_t npages)
{
    if (!ascending_below(data, nd, npages) || !ascending_below(zero, nz, npages))
        return -1;
    /* Both lists are sorted: one merge pass finds a page listed in both. */
    for (uint64_t i = 0, j = 0; i < nd && j < nz;) {
        if (data[i] == zero[j])
            return -1;
        if (data[i] < zero[j])
            i++;
        else
            j++;
    }
    return 0;
}
