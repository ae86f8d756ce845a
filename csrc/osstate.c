/*
 * osstate.c: the Linux process's state in and out of a snapshot
 * (docs/snapshot-format.md, "OS block").
 *
 * One little-endian byte string: the process (clocks, tid and robust-list
 * pointers, signal mask, actions and alternate stack, limits, umask, the
 * executable's path), the random stream's position, the mappings, the
 * read-only pages outside the code, and the file system with its open
 * files. Declared files are named by their sha256 only. Decoding checks
 * everything against the machine it is restored into before any of it
 * replaces the machine's own state.
 */
#include <stdlib.h>
#include <string.h>

#include "os.h"

#define OS_MAGIC 0x534f5652u    /* "RVOS" */
#define OS_VERSION 1

void rv_wr_bytes(rv_wr *w, const void *p, uint64_t n)
{
    if (w->buf && n && w->len + n <= w->cap)
        memcpy(w->buf + w->len, p, n);
    w->len += n;
}

void rv_wr_u32(rv_wr *w, uint32_t v)
{
    rv_wr_bytes(w, &v, 4);
}

void rv_wr_u64(rv_wr *w, uint64_t v)
{
    rv_wr_bytes(w, &v, 8);
}

const uint8_t *rv_rd_bytes(rv_rd *r, uint64_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

/* A word of n bytes (at most 8), or 0 past the end. memcpy into the low
 * bytes of v is the little-endian read: the host is little-endian (internal.h). */
static uint64_t rd_word(rv_rd *r, uint64_t n)
{
    const uint8_t *p = rv_rd_bytes(r, n);
    uint64_t v = 0;
    if (p)
        memcpy(&v, p, n);
    return v;
}

uint32_t rv_rd_u32(rv_rd *r)
{
    return (uint32_t)rd_word(r, 4);
}

uint64_t rv_rd_u64(rv_rd *r)
{
    return rd_word(r, 8);
}

/* The runs of pages that are read-only but not code (the image's read-only
 * segments, RELRO once protected, mappings without PROT_WRITE), as (first
 * page, count) into w if it is not NULL. Returns how many there are. */
static uint64_t frozen_runs(const rv_machine *m, rv_wr *w)
{
    uint64_t runs = 0;
    for (uint64_t p = 0; p < m->npages;) {
        if ((m->page_flags[p] & (RV_PAGE_FROZEN | RV_PAGE_EXEC)) != RV_PAGE_FROZEN) {
            p++;
            continue;
        }
        uint64_t q = p;
        while (q < m->npages && (m->page_flags[q] & (RV_PAGE_FROZEN | RV_PAGE_EXEC)) == RV_PAGE_FROZEN)
            q++;
        if (w) {
            rv_wr_u64(w, p);
            rv_wr_u64(w, q - p);
        }
        runs++;
        p = q;
    }
    return runs;
}

static void encode_protection(const rv_machine *m, rv_wr *w)
{
    rv_wr_u64(w, frozen_runs(m, NULL));
    frozen_runs(m, w);
}

uint64_t rv_os_encode(const rv_machine *m, uint8_t *buf, uint64_t cap)
{
    const rv_os *os = m->os;
    rv_wr w = {buf, 0, buf ? cap : 0};
    rv_wr_u32(&w, OS_MAGIC);
    rv_wr_u32(&w, OS_VERSION);
    rv_wr_u64(&w, (uint64_t)os->realtime_start);
    rv_wr_u64(&w, os->sleep_ns);
    rv_wr_u64(&w, os->tid_address);
    rv_wr_u64(&w, os->robust_head);
    rv_wr_u64(&w, os->robust_len);
    rv_wr_u64(&w, os->sigmask);
    rv_wr_bytes(&w, os->altstack, sizeof os->altstack);
    rv_wr_bytes(&w, os->sigact, sizeof os->sigact);
    rv_wr_bytes(&w, os->limits, sizeof os->limits);
    rv_wr_u32(&w, os->umask);
    uint32_t exe_len = (uint32_t)strlen(os->exe);
    rv_wr_u32(&w, exe_len);
    rv_wr_bytes(&w, os->exe, exe_len);
    rv_wr_u64(&w, os->rng.seed);
    rv_wr_u64(&w, os->rng.pos);
    rv_wr_u64(&w, os->nmaps);
    for (uint64_t i = 0; i < os->nmaps; i++) {
        rv_wr_u64(&w, os->maps[i].start);
        rv_wr_u64(&w, os->maps[i].end);
        rv_wr_u64(&w, os->maps[i].prot);
    }
    encode_protection(m, &w);
    rv_vfs_encode(os, &w);
    return w.len;
}

/* Everything decoded but the file system, before it replaces anything. */
typedef struct decoded {
    rv_os proc;               /* the scalar fields only */
    rv_map *maps;
    uint64_t nmaps;
    const uint8_t *runs;
    uint64_t nruns;
} decoded;

static int decode_maps(const rv_machine *m, rv_rd *r, decoded *d)
{
    uint64_t n = rv_rd_u64(r);
    if (r->bad || n > m->npages)
        return RV_OS_MALFORMED;
    d->maps = calloc(n ? n : 1, sizeof *d->maps);
    if (!d->maps)
        return RV_OS_NOMEM;
    const uint64_t page = RV_PAGE_SIZE - 1, lo = (m->brk + page) & ~page;
    for (uint64_t i = 0; i < n; i++) {
        rv_map *e = &d->maps[i];
        e->start = rv_rd_u64(r);
        e->end = rv_rd_u64(r);
        e->prot = rv_rd_u64(r);
        /* Page-aligned, ascending, between the break and the stack, and
         * never executable (mmap refuses PROT_EXEC). */
        if (r->bad || (e->start & page) || (e->end & page) || e->start >= e->end || e->start < lo ||
            e->end > m->brk_max || e->prot > 3 || (i && e->start < d->maps[i - 1].end))
            return RV_OS_MALFORMED;
    }
    d->nmaps = n;
    return RV_OS_OK;
}

static int decode_protection(const rv_machine *m, rv_rd *r, decoded *d)
{
    uint64_t n = rv_rd_u64(r);
    if (r->bad || n > m->npages)
        return RV_OS_MALFORMED;
    d->runs = rv_rd_bytes(r, 16 * n);
    if (!d->runs)
        return RV_OS_MALFORMED;
    d->nruns = n;
    /* Runs ascend without touching, stay in memory and hold no code; and
     * every read-only page of the image is still read-only (mprotect never
     * makes those writable). The page flags still hold the image's. */
    uint64_t next = 0, at = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t first, count;
        memcpy(&first, d->runs + 16 * i, 8);
        memcpy(&count, d->runs + 16 * i + 8, 8);
        if (count == 0 || first < next || first > m->npages || count > m->npages - first ||
            (i && first == next))
            return RV_OS_MALFORMED;
        for (uint64_t p = at; p < first; p++)
            if ((m->page_flags[p] & (RV_PAGE_FROZEN | RV_PAGE_EXEC)) == RV_PAGE_FROZEN)
                return RV_OS_PROTECTION;
        for (uint64_t p = first; p < first + count; p++)
            if (m->page_flags[p] & RV_PAGE_EXEC)
                return RV_OS_MALFORMED;
        next = at = first + count;
    }
    for (uint64_t p = at; p < m->npages; p++)
        if ((m->page_flags[p] & (RV_PAGE_FROZEN | RV_PAGE_EXEC)) == RV_PAGE_FROZEN)
            return RV_OS_PROTECTION;
    return RV_OS_OK;
}

static int decode_process(rv_rd *r, rv_os *p)
{
    p->realtime_start = (int64_t)rv_rd_u64(r);
    p->sleep_ns = rv_rd_u64(r);
    p->tid_address = rv_rd_u64(r);
    p->robust_head = rv_rd_u64(r);
    p->robust_len = rv_rd_u64(r);
    p->sigmask = rv_rd_u64(r);
    const uint8_t *b = rv_rd_bytes(r, sizeof p->altstack);
    if (b)
        memcpy(p->altstack, b, sizeof p->altstack);
    b = rv_rd_bytes(r, sizeof p->sigact);
    if (b)
        memcpy(p->sigact, b, sizeof p->sigact);
    b = rv_rd_bytes(r, sizeof p->limits);
    if (b)
        memcpy(p->limits, b, sizeof p->limits);
    p->umask = rv_rd_u32(r);
    uint32_t exe_len = rv_rd_u32(r);
    if (r->bad || exe_len >= sizeof p->exe)
        return RV_OS_MALFORMED;
    b = rv_rd_bytes(r, exe_len);
    if (!b || memchr(b, 0, exe_len))
        return RV_OS_MALFORMED;
    memcpy(p->exe, b, exe_len);
    p->exe[exe_len] = 0;
    p->rng.seed = rv_rd_u64(r);
    p->rng.pos = rv_rd_u64(r);
    if (r->bad || p->umask > 0777)
        return RV_OS_MALFORMED;
    for (int i = 0; i < RV_NLIMITS; i++)
        if (p->limits[i][0] > p->limits[i][1])
            return RV_OS_MALFORMED;
    return RV_OS_OK;
}

static void apply_protection(rv_machine *m, const decoded *d)
{
    uint64_t p = 0;
    for (uint64_t i = 0; i <= d->nruns; i++) {
        uint64_t first = m->npages, count = 0;
        if (i < d->nruns) {
            memcpy(&first, d->runs + 16 * i, 8);
            memcpy(&count, d->runs + 16 * i + 8, 8);
        }
        for (; p < first; p++)
            if (!(m->page_flags[p] & RV_PAGE_EXEC))
                m->page_flags[p] &= (uint8_t)~RV_PAGE_FROZEN;
        for (; p < first + count; p++)
            m->page_flags[p] |= RV_PAGE_FROZEN;
    }
}

int rv_os_decode(rv_machine *m, const uint8_t *buf, uint64_t len, uint8_t *missing)
{
    rv_os *os = m->os;
    rv_rd r = {buf, len, 0, 0};
    decoded d;
    memset(&d, 0, sizeof d);
    rv_vfs *fs = NULL;
    int err = RV_OS_MALFORMED;
    if (rv_rd_u32(&r) != OS_MAGIC || rv_rd_u32(&r) != OS_VERSION)
        goto out;
    if ((err = decode_process(&r, &d.proc)) || (err = decode_maps(m, &r, &d)) ||
        (err = decode_protection(m, &r, &d)) || (err = rv_vfs_decode(os, &r, &fs, missing)))
        goto out;
    if (r.pos != r.len) {
        err = RV_OS_MALFORMED;
        goto out;
    }
    /* Checked whole: now it replaces the machine's state. */
    const rv_os *p = &d.proc;
    os->realtime_start = p->realtime_start;
    os->sleep_ns = p->sleep_ns;
    os->tid_address = p->tid_address;
    os->robust_head = p->robust_head;
    os->robust_len = p->robust_len;
    os->sigmask = p->sigmask;
    memcpy(os->altstack, p->altstack, sizeof os->altstack);
    memcpy(os->sigact, p->sigact, sizeof os->sigact);
    memcpy(os->limits, p->limits, sizeof os->limits);
    os->umask = p->umask;
    memcpy(os->exe, p->exe, sizeof os->exe);
    rv_rng_seed(&os->rng, p->rng.seed);
    os->rng.pos = p->rng.pos;
    free(os->maps);
    os->maps = d.maps;
    os->nmaps = os->maps_cap = d.nmaps;
    d.maps = NULL;
    apply_protection(m, &d);
    rv_vfs_free(os->fs);
    os->fs = fs;
    fs = NULL;
    err = RV_OS_OK;
out:
    free(d.maps);
    rv_vfs_free(fs);
    return err;
}
