/*
 * machine.c: machine lifetime, guest memory and page flags.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

rv_machine *rv_new(uint64_t mem_size)
{
    if (mem_size == 0 || (mem_size & (RV_PAGE_SIZE - 1)) != 0)
        return NULL;
    rv_machine *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->npages = mem_size >> RV_PAGE_SHIFT;
    /* MAP_NORESERVE and anonymous zero pages: a 4 GiB guest costs only the
     * pages it touches. */
    void *mem = mmap(NULL, mem_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    m->page_flags = calloc(m->npages, 1);
    m->decoded = calloc(m->npages, sizeof(void *));
    if (mem == MAP_FAILED || !m->page_flags || !m->decoded) {
        if (mem != MAP_FAILED)
            munmap(mem, mem_size);
        free(m->page_flags);
        free(m->decoded);
        free(m);
        return NULL;
    }
    m->mem = mem;
    m->mem_size = mem_size;
    m->max_cycles = UINT64_MAX;
    m->reservation = RV_NO_RESERVATION;
    m->out_cap = 1 << 20;
    for (int i = 0; i < RV_NCLASSES; i++)
        m->cost[i] = 1;
    return m;
}

void rv_free(rv_machine *m)
{
    if (!m)
        return;
    rv_drop_code(m);
    munmap(m->mem, m->mem_size);
    free(m->page_flags);
    free(m->decoded);
    free(m->out[0].data);
    free(m->out[1].data);
    free(m->stdin_data);
    free(m);
}

int rv_set_costs(rv_machine *m, const uint32_t *costs)
{
    for (int i = 0; i < RV_NCLASSES; i++)
        if (costs[i] < 1 || costs[i] > RV_MAX_COST)
            return -1;
    memcpy(m->cost, costs, sizeof m->cost);
    rv_drop_code(m);    /* decoded pages carry their costs */
    return 0;
}

static int in_memory(const rv_machine *m, uint64_t addr, uint64_t len)
{
    return addr <= m->mem_size && len <= m->mem_size - addr;
}

int rv_load(rv_machine *m, uint64_t addr, const uint8_t *data, uint64_t len,
            uint64_t memsz, uint32_t flags)
{
    if (len > memsz || !in_memory(m, addr, memsz))
        return RV_ERR_STORE;
    memcpy(m->mem + addr, data, len);
    if (memsz == 0)
        return 0;
    uint64_t first = addr >> RV_PAGE_SHIFT, last = (addr + memsz - 1) >> RV_PAGE_SHIFT;
    for (uint64_t p = first; p <= last; p++)
        m->page_flags[p] = (uint8_t)(flags & (RV_PAGE_EXEC | RV_PAGE_FROZEN));
    rv_drop_code(m);
    return 0;
}

void rv_clear_page_flags(rv_machine *m, uint32_t mask)
{
    const uint8_t keep = (uint8_t)~(mask & (RV_PAGE_DIRTY | RV_PAGE_TOUCHED));
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
    for (uint64_t p = first; p <= last; p++)
        m->page_flags[p] |= RV_PAGE_DIRTY | RV_PAGE_TOUCHED;
    return 0;
}

int rv_write(rv_machine *m, uint64_t addr, const uint8_t *src, uint64_t len)
{
    int err = rv_store_check(m, addr, len);
    if (err)
        return err;
    memcpy(m->mem + addr, src, len);
    return 0;
}

int rv_read(const rv_machine *m, uint64_t addr, uint8_t *dst, uint64_t len)
{
    if (!in_memory(m, addr, len))
        return RV_ERR_LOAD;
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
