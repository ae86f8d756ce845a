/*
 * syscall.c: where an ecall goes.
 *
 * The core serves the Linux syscalls of its table (linux.c) itself, in C.
 * A number the host registered a handler for (rv_os_host_syscall), and
 * any number the table lacks, becomes a host call: the embedder answers
 * it, or ends the run with an unsupported-syscall error that names it.
 */
#include <stdlib.h>
#include <string.h>

#include "os.h"

extern const rv_sys_fn rv_linux_syscalls[RV_LINUX_SYSCALLS];

int64_t rv_sys_fail(rv_machine *m, int kind, uint64_t addr)
{
    m->err_kind = kind;
    m->err_pc = m->pc;
    m->err_addr = addr;
    if (kind == RV_ERR_SYSCALL) {
        m->host_call = m->x[17];
        m->host_call_pc = m->pc;
    }
    m->status = RV_ERROR;
    return RV_SYS_STOP;
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

int rv_syscall(rv_machine *m, uint64_t pc)
{
    uint64_t nr = m->x[17];
    const rv_os *os = m->os;
    rv_sys_fn fn = nr < RV_LINUX_SYSCALLS ? rv_linux_syscalls[nr] : NULL;
    if (fn && !((os->host[nr >> 6] >> (nr & 63)) & 1)) {
        int64_t r = fn(m);
        if (r == RV_SYS_STOP)
            return m->status;
        m->x[10] = (uint64_t)r;
        return RV_READY;
    }
    /* The ecall is complete from the guest's side; the host fills in a0. */
    m->host_call = nr;
    m->host_call_pc = pc;
    m->pc = pc + 4;
    m->status = RV_HOST_CALL;
    return RV_HOST_CALL;
}
