/*
 * machine.c: machine lifetime, guest memory and page flags.
 * (Where guest memory comes from, and goes back to: mempool.c.)
 */
#include <stdlib.h>
#include <string.h>

#include "os.h"

/* Zero a page unless it is zero already: writing a page that is still the
 * kernel's shared zero page would make it allocate a private copy. */
static void zero_page(uint8_t *p)
{
    if (!rv_page_is_zero(p))
        memset(p, 0, RV_PAGE_SIZE);
}

static void free_parts(rv_machine *m)
{
    free(m->page_flags);
    free(m->decoded);
    free(m->used);
    free(m->zeroed);
    free(m->out[0].data);
    free(m->out[1].data);
    free(m->stdin_data);
    rv_os_free(m->os);
    free(m);
}

static rv_machine *machine_new(uint64_t mem_size, int keep_stale)
{
    if (mem_size == 0 || (mem_size & (RV_PAGE_SIZE - 1)) != 0)
        return NULL;
    rv_machine *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->npages = mem_size >> RV_PAGE_SHIFT;
    m->page_flags = calloc(m->npages, 1);
    m->decoded = calloc(m->npages, sizeof(void *));
    m->used = calloc(RV_BITMAP_WORDS(m->npages), sizeof(uint64_t));
    m->zeroed = calloc(RV_BITMAP_WORDS(m->npages), sizeof(uint64_t));
    m->os = rv_os_new();
    rv_region r;
    if (!m->page_flags || !m->decoded || !m->used || !m->zeroed || !m->os ||
        rv_region_take(mem_size, &r)) {
        free_parts(m);
        return NULL;
    }
    /* The pages an earlier owner of the mapping may have written are stale. */
    m->mem = r.mem;
    m->mem_size = mem_size;
    m->stale = r.dirty;
    if (!keep_stale)
        rv_zero_stale(m);
    m->max_cycles = RV_NO_LIMIT;
    m->reservation = RV_NO_RESERVATION;
    m->out_cap = RV_DEFAULT_OUTPUT_LIMIT;
    for (int i = 0; i < RV_NCLASSES; i++)
        m->cost[i] = 1;
    return m;
}

rv_machine *rv_new(uint64_t mem_size)
{
    return machine_new(mem_size, 0);
}

rv_machine *rv_new_stale(uint64_t mem_size)
{
    return machine_new(mem_size, 1);
}

void rv_zero_stale(rv_machine *m)
{
    const uint64_t words = RV_BITMAP_WORDS(m->npages);
    for (uint64_t w = 0; w < words; w++) {
        for (uint64_t bits = m->stale[w]; bits; bits &= bits - 1)
            zero_page(m->mem + (((w << 6) + (uint64_t)__builtin_ctzll(bits)) << RV_PAGE_SHIFT));
        m->stale[w] = 0;
    }
}

/* Set the used bit of every TOUCHED page. Flags are scanned eight at a
 * time: most pages of a big guest were never touched. */
static void remember_touched(rv_machine *m)
{
    const uint64_t touched8 = 0x0101010101010101ull * RV_PAGE_TOUCHED;
    for (uint64_t p = 0; p < m->npages; p += 8) {
        uint64_t w = 0;
        memcpy(&w, m->page_flags + p, m->npages - p < 8 ? m->npages - p : 8);
        for (w &= touched8; w; w &= w - 1)
            rv_bit_set(m->used, p + (uint64_t)__builtin_ctzll(w) / 8);
    }
}

/* The pages that may hold nonzero bytes, into m->stale: the bitmap the
 * mapping takes back to the pool. */
static void collect_dirty(rv_machine *m)
{
    remember_touched(m);
    for (uint64_t w = 0; w < RV_BITMAP_WORDS(m->npages); w++)
        m->stale[w] = (m->stale[w] | m->used[w]) & ~m->zeroed[w];
}

void rv_free(rv_machine *m)
{
    if (!m)
        return;
    rv_drop_code(m);
    if (rv_pool_would_keep(m->mem_size))
        collect_dirty(m);
    rv_region r = {m->mem, m->mem_size, m->stale};
    rv_region_give(&r);
    free_parts(m);
}

int rv_set_costs(rv_machine *m, const uint32_t *costs)
{
    for (int i = 0; i < RV_NCLASSES; i++)
        if (costs[i] < 1 || costs[i] > RV_MAX_COST)
            return -1;
    if (memcmp(m->cost, costs, sizeof m->cost) != 0) {
        memcpy(m->cost, costs, sizeof m->cost);
        rv_drop_code(m);    /* decoded pages carry their costs */
    }
    return 0;
}

static int in_memory(const rv_machine *m, uint64_t addr, uint64_t len)
{
    return addr <= m->mem_size && len <= m->mem_size - addr;
}

/* Decoded page p depends on the bytes and flags of pages p and p + 1 (an
 * instruction may straddle them): a change to first..last invalidates the
 * decoded pages first - 1 .. last, and no others. */
static void drop_code_near(rv_machine *m, uint64_t first, uint64_t last)
{
    for (uint64_t p = first ? first - 1 : 0; p <= last; p++) {
        free(m->decoded[p]);
        m->decoded[p] = NULL;
    }
}

int rv_load(rv_machine *m, uint64_t addr, const uint8_t *data, uint64_t len,
            uint64_t memsz, uint32_t flags)
{
    if (len > memsz || !in_memory(m, addr, memsz))
        return RV_ERR_STORE;
    if (memsz == 0)
        return 0;
    uint64_t first = addr >> RV_PAGE_SHIFT, last = (addr + memsz - 1) >> RV_PAGE_SHIFT;
    /* The segment's bytes past len (.bss) are zeros only on clean pages. */
    for (uint64_t p = first; p <= last; p++) {
        if (rv_bit_test(m->stale, p)) {
            zero_page(m->mem + (p << RV_PAGE_SHIFT));
            rv_bit_clear(m->stale, p);
        }
    }
    memcpy(m->mem + addr, data, len);
    for (uint64_t p = first; p <= last; p++)
        m->page_flags[p] = (uint8_t)(flags & (RV_PAGE_EXEC | RV_PAGE_FROZEN));
    if (len) {
        for (uint64_t p = first; p <= (addr + len - 1) >> RV_PAGE_SHIFT; p++) {
            rv_bit_set(m->used, p);
            rv_bit_clear(m->zeroed, p);
        }
    }
    drop_code_near(m, first, last);
    return 0;
}

void rv_clear_page_flags(rv_machine *m, uint32_t mask)
{
    const uint8_t keep = (uint8_t)~(mask & (RV_PAGE_DIRTY | RV_PAGE_TOUCHED));
    /* Pages no longer TOUCHED may still hold bytes: remember them for reuse. */
    if (mask & RV_PAGE_TOUCHED)
        remember_touched(m);
    for (uint64_t p = 0; p < m->npages; p++)
        m->page_flags[p] &= keep;
}

int rv_store_check(rv_machine *m, uint64_t addr, uint64_t len)
{
    if (!in_memory(m, addr, len))
        return RV_ERR_STORE;
    if (len == 0)
        return 0;
    uint64_t first = addr >> RV_PAGE_SHIFT, last = (addr + len - 1) >> RV_PAGE_SHIFT;
    for (uint64_t p = first; p <= last; p++) {
        uint8_t f = m->page_flags[p];
        if (f & RV_PAGE_EXEC)
            return RV_ERR_WRITE_EXEC;
        if (f & RV_PAGE_FROZEN)
            return RV_ERR_WRITE_READONLY;
    }
    /* Every write to a page that is not DIRTY yet comes here, even from
     * rv_run's fast path: so a page stays "zeroed" until its first write. */
    for (uint64_t p = first; p <= last; p++) {
        m->page_flags[p] |= RV_PAGE_DIRTY | RV_PAGE_TOUCHED;
        rv_bit_clear(m->zeroed, p);
    }
    return 0;
}

int rv_write(rv_machine *m, uint64_t addr, const uint8_t *src, uint64_t len)
{
    int err = rv_store_check(m, addr, len);
    if (err)
        return err;
    if (len)
        memcpy(m->mem + addr, src, len);
    return 0;
}

int rv_read(const rv_machine *m, uint64_t addr, uint8_t *dst, uint64_t len)
{
    if (!in_memory(m, addr, len))
        return RV_ERR_LOAD;
    if (len)    /* memcpy wants valid pointers even for 0 bytes; Python passes NULL */
        memcpy(dst, m->mem + addr, len);
    return 0;
}

int rv_set_stdin(rv_machine *m, const uint8_t *data, uint64_t len)
{
    uint8_t *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return RV_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    free(m->stdin_data);
    m->stdin_data = copy;
    m->stdin_len = len;
    m->stdin_pos = 0;
    return 0;
}

int rv_finish_host_call(rv_machine *m)
{
    if (m->status != RV_HOST_CALL)
        return -1;
    m->status = RV_READY;
    return 0;
}

int rv_fail_host_call(rv_machine *m, int kind)
{
    if (m->status != RV_HOST_CALL || (kind != RV_ERR_SYSCALL && kind != RV_ERR_HOST))
        return -1;
    m->err_kind = kind;
    m->err_pc = m->host_call_pc;
    m->err_addr = 0;
    m->pc = m->host_call_pc;
    m->status = RV_ERROR;
    return 0;
}

void rv_set_max_cycles(rv_machine *m, uint64_t max_cycles)
{
    m->max_cycles = max_cycles;
    if (m->status == RV_ERROR && m->err_kind == RV_ERR_CYCLES) {
        m->status = RV_READY;
        m->err_kind = RV_ERR_NONE;
    }
}

void rv_set_output_limit(rv_machine *m, uint64_t limit)
{
    m->out_cap = limit;
}

int rv_set_brk_range(rv_machine *m, uint64_t brk_min, uint64_t brk_max)
{
    if (brk_min > brk_max || brk_max > m->mem_size)
        return -1;
    m->brk_min = m->brk = brk_min;
    m->brk_max = brk_max;
    return 0;
}
