/*
 * mm.c: the guest's memory map: brk, mmap, munmap, mremap, mprotect and
 * madvise over the machine's flat memory.
 *
 * Layout, low to high: the NULL guard, the program image, the heap (brk,
 * from brk_min up), free space, and the stack room at the top (from
 * brk_max up). mmap places mappings top-down in the free space between the
 * break and the stack; the break never grows into a mapping, and a mapping
 * is never placed below the break.
 *
 * Memory a mapping or a growing break hands out reads as zeros, always:
 * glibc's malloc relies on it (calloc skips clearing fresh memory), even
 * where an earlier mapping or a shrunk heap left bytes behind.
 *
 * Protection lives in the page flags the interpreter already checks on
 * stores: a page without PROT_WRITE is read-only (RV_PAGE_FROZEN). Loads
 * never check page flags (the fast path must not get slower), so PROT_NONE
 * memory is read-only here, not unreadable. Only the program's own code is
 * executable: W^X and decoded code rest on code pages never changing, so
 * PROT_EXEC anywhere else is refused with EACCES. Read-only pages of the
 * image (read-only segments, and RELRO once protected) stay read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "os.h"

#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4

#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_SHARED_VALIDATE 3
#define MAP_TYPE 0xf
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_FIXED_NOREPLACE 0x100000
/* Every flag Linux knows for riscv64 (asm-generic/mman*.h): the rest are
 * refused by MAP_SHARED_VALIDATE. */
#define MAP_KNOWN (MAP_TYPE | MAP_FIXED | MAP_ANONYMOUS | 0x100 | 0x800 | 0x1000 | 0x2000 |   \
                   0x4000 | 0x8000 | 0x10000 | 0x20000 | 0x40000 | 0x80000 |                \
                   MAP_FIXED_NOREPLACE | 0x4000000 | 0xfc000000u)

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#define MREMAP_DONTUNMAP 4

#define MADV_DONTNEED 4
#define MADV_REMOVE 9

#define PAGE_MASK ((uint64_t)RV_PAGE_SIZE - 1)

/* Round up to a page; 0 when that overflows (no length rounds to 0 here). */
static uint64_t page_up(uint64_t x)
{
    return x > UINT64_MAX - PAGE_MASK ? 0 : (x + PAGE_MASK) & ~PAGE_MASK;
}

/* Where mappings may go: between the (page-rounded) break and the stack. */
static uint64_t zone_lo(const rv_machine *m)
{
    return page_up(m->brk);
}

static int overlaps(const rv_os *os, uint64_t a, uint64_t b)
{
    for (uint64_t i = 0; i < os->nmaps; i++)
        if (os->maps[i].start < b && os->maps[i].end > a)
            return 1;
    return 0;
}

static void set_frozen(rv_machine *m, uint64_t a, uint64_t b, int frozen)
{
    for (uint64_t p = a >> RV_PAGE_SHIFT; p < b >> RV_PAGE_SHIFT; p++) {
        if (frozen)
            m->page_flags[p] |= RV_PAGE_FROZEN;
        else
            m->page_flags[p] &= (uint8_t)~RV_PAGE_FROZEN;
    }
}

static int reserve(rv_os *os, uint64_t n)
{
    if (n <= os->maps_cap)
        return 0;
    uint64_t cap = os->maps_cap ? 2 * os->maps_cap : 16;
    while (cap < n)
        cap *= 2;
    rv_map *p = realloc(os->maps, cap * sizeof *p);
    if (!p)
        return -1;
    os->maps = p;
    os->maps_cap = cap;
    return 0;
}

/* Join neighbours that touch and have the same protection: the table
 * stays as small as the map it describes. */
static void coalesce(rv_os *os)
{
    uint64_t out = 0;
    for (uint64_t i = 0; i < os->nmaps; i++) {
        if (out && os->maps[out - 1].end == os->maps[i].start &&
            os->maps[out - 1].prot == os->maps[i].prot)
            os->maps[out - 1].end = os->maps[i].end;
        else
            os->maps[out++] = os->maps[i];
    }
    os->nmaps = out;
}

/* Split the mapping that contains x strictly inside, so x is a boundary. */
static int split_at(rv_os *os, uint64_t x)
{
    for (uint64_t i = 0; i < os->nmaps; i++) {
        rv_map *e = &os->maps[i];
        if (e->start < x && x < e->end) {
            if (reserve(os, os->nmaps + 1))
                return -1;
            e = &os->maps[i];
            memmove(e + 2, e + 1, (os->nmaps - i - 1) * sizeof *e);
            e[1] = (rv_map){x, e->end, e->prot};
            e->end = x;
            os->nmaps++;
            return 0;
        }
    }
    return 0;
}

/* Remove [a, b) from the table; its pages become plain memory again. */
static int unmap_range(rv_machine *m, uint64_t a, uint64_t b)
{
    rv_os *os = m->os;
    if (split_at(os, a) || split_at(os, b))
        return -1;
    uint64_t out = 0;
    for (uint64_t i = 0; i < os->nmaps; i++) {
        rv_map e = os->maps[i];
        if (e.start >= a && e.end <= b)
            set_frozen(m, e.start, e.end, 0);
        else
            os->maps[out++] = e;
    }
    os->nmaps = out;
    return 0;
}

static int add_map(rv_machine *m, uint64_t a, uint64_t b, uint64_t prot)
{
    rv_os *os = m->os;
    if (reserve(os, os->nmaps + 1))
        return -1;
    uint64_t i = 0;
    while (i < os->nmaps && os->maps[i].start < a)
        i++;
    memmove(&os->maps[i + 1], &os->maps[i], (os->nmaps - i) * sizeof os->maps[0]);
    os->maps[i] = (rv_map){a, b, prot};
    os->nmaps++;
    coalesce(os);
    set_frozen(m, a, b, !(prot & PROT_WRITE));
    return 0;
}

/* The highest free range of len bytes in the zone, or the hint if it is
 * free; 0 if there is none. */
static uint64_t find_free(const rv_machine *m, uint64_t len, uint64_t hint)
{
    const rv_os *os = m->os;
    uint64_t lo = zone_lo(m), hi = m->brk_max;
    if (lo > hi || hi - lo < len)
        return 0;
    hint = page_up(hint);
    if (hint && hint >= lo && hint <= hi - len && !overlaps(os, hint, hint + len))
        return hint;
    uint64_t top = hi;
    for (uint64_t i = os->nmaps; i-- > 0;) {
        if (top >= os->maps[i].end && top - os->maps[i].end >= len)
            return top - len;
        top = os->maps[i].start;
    }
    return top >= lo && top - lo >= len ? top - len : 0;
}

uint64_t rv_mm_mapped(const rv_machine *m)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < m->os->nmaps; i++)
        n += m->os->maps[i].end - m->os->maps[i].start;
    return n;
}

int64_t rv_sys_brk(rv_machine *m)
{
    uint64_t want = m->x[10], cur = m->brk;
    if (want < m->brk_min || want > m->brk_max)
        return (int64_t)cur;
    if (want > cur) {
        if (overlaps(m->os, cur, want))
            return (int64_t)cur;
        /* Pages new to the heap get its default protection back. */
        uint64_t from = page_up(cur), to = page_up(want);
        if (from < to)
            set_frozen(m, from, to, 0);
        rv_fill(m, cur, NULL, want - cur);
    }
    m->brk = want;
    return (int64_t)want;
}

int64_t rv_sys_mmap(rv_machine *m)
{
    uint64_t addr = m->x[10], len = m->x[11], prot = m->x[12], flags = m->x[13];
    int64_t fd = (int32_t)m->x[14];
    uint64_t off = m->x[15];
    uint64_t type = flags & MAP_TYPE;
    if (len == 0 || (prot & ~(uint64_t)7) || (off & PAGE_MASK) ||
        (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE))
        return -RV_EINVAL;
    if (type == MAP_SHARED_VALIDATE && (flags & ~(uint64_t)MAP_KNOWN))
        return -RV_EOPNOTSUPP;
    uint64_t size = page_up(len);
    if (size == 0 || size > m->mem_size)
        return -RV_ENOMEM;
    if (prot & PROT_EXEC)
        return -RV_EACCES;
    const uint8_t *data = NULL;
    uint64_t n = 0;
    if (!(flags & MAP_ANONYMOUS)) {
        int64_t r = rv_vfs_map_source(m, fd, off, prot, flags, &data, &n);
        if (r < 0)
            return r;
        if (n > size)
            n = size;
    }
    uint64_t at;
    if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
        at = addr;
        if (at & PAGE_MASK)
            return -RV_EINVAL;
        if (at < zone_lo(m) || at > m->brk_max || m->brk_max - at < size)
            return -RV_ENOMEM;
        if (!(flags & MAP_FIXED) && overlaps(m->os, at, at + size))
            return -RV_EEXIST;
        if (unmap_range(m, at, at + size))
            return -RV_ENOMEM;
    } else {
        at = find_free(m, size, addr);
        if (!at)
            return -RV_ENOMEM;
    }
    if (add_map(m, at, at + size, prot))
        return -RV_ENOMEM;
    if (n)
        rv_fill(m, at, data, n);
    rv_fill(m, at + n, NULL, size - n);
    return (int64_t)at;
}

int64_t rv_sys_munmap(rv_machine *m)
{
    uint64_t addr = m->x[10], len = m->x[11];
    uint64_t size = page_up(len);
    if ((addr & PAGE_MASK) || len == 0 || size == 0)
        return -RV_EINVAL;
    /* Only the space mappings live in: the image, heap and stack stay. */
    if (addr < zone_lo(m) || addr > m->brk_max || m->brk_max - addr < size)
        return -RV_EINVAL;
    return unmap_range(m, addr, addr + size) ? -RV_ENOMEM : 0;
}

int64_t rv_sys_mremap(rv_machine *m)
{
    uint64_t old = m->x[10], olen = page_up(m->x[11]), nlen = page_up(m->x[12]);
    uint64_t flags = m->x[13], naddr = m->x[14];
    if ((old & PAGE_MASK) || (flags & ~(uint64_t)(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) ||
        ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)) || (flags & MREMAP_DONTUNMAP) ||
        olen == 0 || nlen == 0)
        return -RV_EINVAL;
    rv_os *os = m->os;
    const rv_map *src = NULL;
    for (uint64_t i = 0; i < os->nmaps; i++)
        if (os->maps[i].start <= old && old < os->maps[i].end)
            src = &os->maps[i];
    /* The old range must lie in one mapping (after coalescing, one entry). */
    if (!src || src->end - old < olen)
        return -RV_EFAULT;
    uint64_t prot = src->prot;
    uint64_t dst;
    if (!(flags & MREMAP_FIXED)) {
        if (nlen <= olen)
            return unmap_range(m, old + nlen, old + olen) ? -RV_ENOMEM : (int64_t)old;
        uint64_t end = old + olen;
        if (nlen <= m->brk_max - old && !overlaps(os, end, old + nlen)) {
            if (add_map(m, end, old + nlen, prot))
                return -RV_ENOMEM;
            rv_fill(m, end, NULL, nlen - olen);
            return (int64_t)old;
        }
        if (!(flags & MREMAP_MAYMOVE))
            return -RV_ENOMEM;
        dst = find_free(m, nlen, 0);
        if (!dst)
            return -RV_ENOMEM;
    } else {
        dst = naddr;
        if ((dst & PAGE_MASK) || dst < zone_lo(m) || dst > m->brk_max || m->brk_max - dst < nlen ||
            (dst < old + olen && old < dst + nlen))
            return -RV_EINVAL;
        if (unmap_range(m, dst, dst + nlen))
            return -RV_ENOMEM;
    }
    uint64_t keep = olen < nlen ? olen : nlen;
    if (add_map(m, dst, dst + nlen, prot))
        return -RV_ENOMEM;
    rv_fill(m, dst, m->mem + old, keep);
    rv_fill(m, dst + keep, NULL, nlen - keep);
    if (unmap_range(m, old, old + olen))
        return -RV_ENOMEM;
    return (int64_t)dst;
}

/* Whether every page of [a, b) is mapped: image, heap, a mapping or the stack. */
static int all_mapped(const rv_machine *m, uint64_t a, uint64_t b)
{
    const rv_os *os = m->os;
    if (a < os->guard || b > m->mem_size)
        return 0;
    uint64_t x = a, heap_end = page_up(m->brk);
    while (x < b) {
        if (x < heap_end) {
            x = heap_end;
        } else if (x >= m->brk_max) {
            x = b;
        } else {
            uint64_t next = x;
            for (uint64_t i = 0; i < os->nmaps; i++)
                if (os->maps[i].start <= x && x < os->maps[i].end)
                    next = os->maps[i].end;
            if (next == x)
                return 0;
            x = next;
        }
    }
    return 1;
}

static int any_flag(const rv_machine *m, uint64_t a, uint64_t b, uint8_t flag)
{
    for (uint64_t p = a >> RV_PAGE_SHIFT; p < b >> RV_PAGE_SHIFT; p++)
        if (m->page_flags[p] & flag)
            return 1;
    return 0;
}

int64_t rv_sys_mprotect(rv_machine *m)
{
    uint64_t addr = m->x[10], len = m->x[11], prot = m->x[12];
    if ((addr & PAGE_MASK) || (prot & ~(uint64_t)7))
        return -RV_EINVAL;
    if (len == 0)
        return 0;
    uint64_t size = page_up(len);
    if (size == 0 || addr > UINT64_MAX - size || !all_mapped(m, addr, addr + size))
        return -RV_ENOMEM;
    uint64_t end = addr + size;
    if (prot & PROT_EXEC) {
        /* Asking code to stay code is fine; anything else is not. */
        if (prot & PROT_WRITE)
            return -RV_EACCES;
        for (uint64_t p = addr >> RV_PAGE_SHIFT; p < end >> RV_PAGE_SHIFT; p++)
            if (!(m->page_flags[p] & RV_PAGE_EXEC))
                return -RV_EACCES;
        return 0;
    }
    if (any_flag(m, addr, end, RV_PAGE_EXEC))
        return -RV_EACCES;
    if ((prot & PROT_WRITE) && addr < m->brk_min &&
        any_flag(m, addr, end < m->brk_min ? end : m->brk_min, RV_PAGE_FROZEN))
        return -RV_EACCES;
    rv_os *os = m->os;
    if (split_at(os, addr) || split_at(os, end))
        return -RV_ENOMEM;
    for (uint64_t i = 0; i < os->nmaps; i++)
        if (os->maps[i].start >= addr && os->maps[i].end <= end)
            os->maps[i].prot = prot;
    coalesce(os);
    set_frozen(m, addr, end, !(prot & PROT_WRITE));
    return 0;
}

int64_t rv_sys_madvise(rv_machine *m)
{
    uint64_t addr = m->x[10], len = m->x[11], advice = m->x[12];
    if (addr & PAGE_MASK)
        return -RV_EINVAL;
    /* Known advice: 0-4, 8-23, 25 (asm-generic/mman-common.h). */
    if (advice > 25 || (advice >= 5 && advice <= 7) || advice == 24 || advice == MADV_REMOVE)
        return -RV_EINVAL;
    uint64_t size = page_up(len);
    if (len == 0)
        return 0;
    if (size == 0 || addr > UINT64_MAX - size)
        return -RV_EINVAL;
    uint64_t end = addr + size;
    if (!all_mapped(m, addr, end))
        return -RV_ENOMEM;
    if (advice == MADV_DONTNEED) {
        /* Anonymous memory reads as zeros afterwards. The image's pages
         * would come back from the file instead: not offered here. */
        if (addr < m->brk_min || any_flag(m, addr, end, RV_PAGE_EXEC))
            return -RV_EINVAL;
        rv_fill(m, addr, NULL, size);
    }
    return 0;
}
