/*
 * snapshot.c: bulk page access for snapshots.
 *
 * Python decides what a snapshot holds and how it is encoded; the per-byte
 * work (finding changed pages, spotting zero pages, copying page contents
 * in and out of guest memory) happens here, a page at a time.
 */
#include <string.h>

#include "internal.h"

static int page_is_zero(const uint8_t *p)
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
        if (page_is_zero(m->mem + (p << RV_PAGE_SHIFT)))
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

int rv_scatter_pages(rv_machine *m, const uint32_t *pages, uint64_t n, const uint8_t *data)
{
    for (uint64_t i = 0; i < n; i++) {
        if (pages[i] >= m->npages)
            return RV_ERR_STORE;
        if (m->page_flags[pages[i]] & (RV_PAGE_EXEC | RV_PAGE_FROZEN))
            return RV_ERR_WRITE_READONLY;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *dst = m->mem + ((uint64_t)pages[i] << RV_PAGE_SHIFT);
        if (data)
            memcpy(dst, data + i * RV_PAGE_SIZE, RV_PAGE_SIZE);
        else if (!page_is_zero(dst))
            memset(dst, 0, RV_PAGE_SIZE);   /* reading a fresh page allocates nothing */
        m->page_flags[pages[i]] |= RV_PAGE_TOUCHED;
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
