/*
 * syscall.c: the Linux syscalls the core serves itself.
 *
 * exit, write (captured), read (from the supplied stdin) and brk never leave
 * C. Every other number becomes a host call that the embedder answers.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SYS_READ 63
#define SYS_WRITE 64
#define SYS_EXIT 93
#define SYS_EXIT_GROUP 94
#define SYS_BRK 214

#define EBADF 9

static int fail(rv_machine *m, uint64_t pc, int kind, uint64_t addr)
{
    m->err_kind = kind;
    m->err_pc = pc;
    m->err_addr = addr;
    m->status = RV_ERROR;
    return RV_ERROR;
}

int rv_append_output(rv_machine *m, int fd, const uint8_t *src, uint64_t len)
{
    if (fd != 1 && fd != 2)
        return -1;
    rv_buf *b = &m->out[fd - 1];
    if (b->len + len > b->alloc) {
        uint64_t want = b->alloc ? b->alloc : 256;
        while (want < b->len + len)
            want *= 2;
        uint8_t *p = realloc(b->data, want);
        if (!p)
            return -1;
        b->data = p;
        b->alloc = want;
    }
    if (len)    /* an empty buffer has no data pointer yet */
        memcpy(b->data + b->len, src, len);
    b->len += len;
    return 0;
}

static int sys_write(rv_machine *m, uint64_t pc)
{
    uint64_t fd = m->x[10], buf = m->x[11], len = m->x[12];
    if (fd != 1 && fd != 2) {
        m->x[10] = (uint64_t)-EBADF;
        return RV_READY;
    }
    if (buf > m->mem_size || len > m->mem_size - buf)
        return fail(m, pc, RV_ERR_LOAD, buf);
    /* Never drop output silently: a write past the cap fails the run whole. */
    if (m->out[fd - 1].len > m->out_cap || len > m->out_cap - m->out[fd - 1].len)
        return fail(m, pc, RV_ERR_OUTPUT, buf);
    if (rv_append_output(m, (int)fd, m->mem + buf, len))
        return fail(m, pc, RV_ERR_NOMEM, buf);
    m->x[10] = len;
    return RV_READY;
}

static int sys_read(rv_machine *m, uint64_t pc)
{
    uint64_t fd = m->x[10], buf = m->x[11], len = m->x[12];
    if (fd != 0) {
        m->x[10] = (uint64_t)-EBADF;
        return RV_READY;
    }
    if (buf > m->mem_size || len > m->mem_size - buf)
        return fail(m, pc, RV_ERR_STORE, buf);
    uint64_t left = m->stdin_len - m->stdin_pos;
    uint64_t n = len < left ? len : left;
    int err = rv_store_check(m, buf, n);
    if (err)
        return fail(m, pc, err, buf);
    if (n)      /* no stdin means no stdin_data */
        memcpy(m->mem + buf, m->stdin_data + m->stdin_pos, n);
    m->stdin_pos += n;
    m->x[10] = n;
    return RV_READY;
}

static int sys_brk(rv_machine *m)
{
    uint64_t want = m->x[10];
    if (want >= m->brk_min && want <= m->brk_max)
        m->brk = want;
    m->x[10] = m->brk;
    return RV_READY;
}

int rv_syscall(rv_machine *m, uint64_t pc)
{
    switch (m->x[17]) {
    case SYS_EXIT:
    case SYS_EXIT_GROUP:
        m->exit_code = (int32_t)m->x[10];
        m->status = RV_EXITED;
        m->pc = pc + 4;
        return RV_EXITED;
    case SYS_WRITE:
        return sys_write(m, pc);
    case SYS_READ:
        return sys_read(m, pc);
    case SYS_BRK:
        return sys_brk(m);
    }
    /* The ecall is complete from the guest's side; the host fills in a0. */
    m->host_call = m->x[17];
    m->host_call_pc = pc;
    m->pc = pc + 4;
    m->status = RV_HOST_CALL;
    return RV_HOST_CALL;
}
