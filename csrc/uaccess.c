/*
 * uaccess.c: guest memory as syscalls see it.
 *
 * A bad pointer given to a syscall is the guest's mistake, answered with
 * EFAULT as Linux would, never a host fault: every range is checked against
 * guest memory (and the NULL guard below the program image) before a byte
 * is touched, with overflow-safe arithmetic.
 */
#include <string.h>

#include "os.h"

static int in_user(const rv_machine *m, uint64_t addr, uint64_t len)
{
    return addr >= m->os->guard && addr <= m->mem_size && len <= m->mem_size - addr;
}

int rv_user_range(const rv_machine *m, uint64_t addr, uint64_t len)
{
    return addr <= m->mem_size && len <= m->mem_size - addr;
}

const uint8_t *rv_user_in(const rv_machine *m, uint64_t addr, uint64_t len)
{
    if (len == 0)
        return m->mem;
    return in_user(m, addr, len) ? m->mem + addr : NULL;
}

uint8_t *rv_user_out(rv_machine *m, uint64_t addr, uint64_t len)
{
    if (len == 0)
        return m->mem;
    if (!in_user(m, addr, len) || rv_store_check(m, addr, len))
        return NULL;
    return m->mem + addr;
}

int rv_user_put(rv_machine *m, uint64_t addr, const void *src, uint64_t len)
{
    uint8_t *p = rv_user_out(m, addr, len);
    if (!p)
        return -RV_EFAULT;
    if (len)
        memcpy(p, src, len);
    return 0;
}

int rv_user_string(const rv_machine *m, uint64_t addr, char *out, uint64_t max)
{
    if (addr < m->os->guard || addr >= m->mem_size)
        return -RV_EFAULT;
    uint64_t avail = m->mem_size - addr;
    uint64_t n = avail < max ? avail : max;
    const uint8_t *src = m->mem + addr;
    const uint8_t *nul = memchr(src, 0, n);
    if (!nul)
        return n == max ? -RV_ENAMETOOLONG : -RV_EFAULT;
    memcpy(out, src, (uint64_t)(nul - src) + 1);
    return 0;
}

/* Whether a page may hold nonzero bytes: written since the image was
 * loaded, part of the image, or left by an earlier owner of the memory. */
static int maybe_nonzero(const rv_machine *m, uint64_t p)
{
    return (m->page_flags[p] & RV_PAGE_TOUCHED) || rv_bit_test(m->used, p) ||
           rv_bit_test(m->stale, p);
}

static void mark_written(rv_machine *m, uint64_t p)
{
    m->page_flags[p] |= RV_PAGE_DIRTY | RV_PAGE_TOUCHED;
    rv_bit_clear(m->zeroed, p);
}

void rv_fill(rv_machine *m, uint64_t addr, const uint8_t *src, uint64_t len)
{
    while (len) {
        uint64_t p = addr >> RV_PAGE_SHIFT;
        uint64_t off = addr & (RV_PAGE_SIZE - 1);
        uint64_t n = RV_PAGE_SIZE - off < len ? RV_PAGE_SIZE - off : len;
        uint8_t *dst = m->mem + addr;
        if (src) {
            if (memcmp(dst, src, n)) {
                mark_written(m, p);
                memcpy(dst, src, n);
            }
            src += n;
        } else if (maybe_nonzero(m, p)) {
            /* Zeroing a page that is zero already would make the host
             * allocate it (and the snapshot carry it) for nothing. */
            int zero = n == RV_PAGE_SIZE ? rv_page_is_zero(dst) : 0;
            if (!zero) {
                uint64_t i = 0;
                while (i < n && dst[i] == 0)
                    i++;
                if (i < n) {
                    mark_written(m, p);
                    memset(dst, 0, n);
                }
            }
        }
        addr += n;
        len -= n;
    }
}
