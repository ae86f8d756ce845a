/*
 * snapformat.c: the encoded snapshot (docs/snapshot-format.md).
 *
 * Decoding checks every byte of structure an untrusted snapshot could get
 * wrong before anything reaches a machine; Python then reads only checked
 * numbers. The record is fixed-size and little-endian, so the check is one
 * pass of plain comparisons rather than a parse.
 */
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define F(name) offsetof(rv_snap_record, name)
#define PAGES_IN(size) ((size) >> RV_PAGE_SHIFT)

static const uint8_t MAGIC[8] = {'R', 'V', 'D', 'S', 'N', 'A', 'P', 0};

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* 0 if every field is in range, else the offset of the first bad one + 1. */
static size_t check_record(const rv_snap_record *r)
{
    const uint64_t known = RV_SNAP_HAS_PARENT | RV_SNAP_HAS_MAX_CYCLES | RV_SNAP_HAS_NAME |
                           RV_SNAP_HAS_HOST_ERROR;
    if (r->flags & ~known)
        return F(flags) + 1;
    if (!(r->flags & RV_SNAP_HAS_PARENT) && !all_zero(r->parent, sizeof r->parent))
        return F(parent) + 1;
    if (!(r->flags & RV_SNAP_HAS_MAX_CYCLES) && r->max_cycles)
        return F(max_cycles) + 1;
    if (r->memory_size % RV_PAGE_SIZE || r->memory_size < RV_PAGE_SIZE ||
        r->memory_size > RV_MAX_MEMORY)
        return F(memory_size) + 1;
    for (int i = 0; i < RV_NCLASSES; i++)
        if (r->costs[i] < 1 || r->costs[i] > RV_MAX_COST)
            return F(costs) + 1;
    if (r->x[0])
        return F(x) + 1;
    if (r->fcsr > 0xff)
        return F(fcsr) + 1;
    if (r->status > RV_ERROR)
        return F(status) + 1;
    if (r->exit_code < INT32_MIN || r->exit_code > INT32_MAX)
        return F(exit_code) + 1;
    if (r->error[0] > RV_ERR_HOST || r->error[1] > UINT32_MAX)
        return F(error) + 1;
    if (!(r->brk[1] <= r->brk[0] && r->brk[0] <= r->brk[2] && r->brk[2] <= r->memory_size))
        return F(brk) + 1;
    if (r->stdout_part > r->stdout_len)
        return F(stdout_part) + 1;
    if (r->stderr_part > r->stderr_len)
        return F(stderr_part) + 1;
    /* Each is at most 2^32 before they are added: no overflow. lz4 expands
     * at most ~255x: a block that claims more is a decompression bomb. */
    const uint64_t max_io = RV_SNAP_MAX_IO;
    if (r->stdout_part > max_io || r->stderr_part > max_io || r->stdin_len > max_io ||
        r->io_block > max_io)
        return F(io_block) + 1;
    uint64_t plain = r->stdout_part + r->stderr_part + r->stdin_len;
    if (plain > max_io || plain > 255 * r->io_block + 64)
        return F(io_block) + 1;
    /* The OS block is never empty (it starts with its magic); lz4 expands
     * at most ~255x. */
    if (r->os_len == 0 || r->os_len > RV_SNAP_MAX_OS || r->os_block == 0 ||
        r->os_block > RV_SNAP_MAX_OS || r->os_len > 255 * r->os_block + 64)
        return F(os_len) + 1;
    if ((r->flags & RV_SNAP_HAS_PARENT) && r->stdin_len)
        return F(stdin_len) + 1;
    if (!(r->flags & RV_SNAP_HAS_PARENT) && r->stdin_pos > r->stdin_len)
        return F(stdin_pos) + 1;
    uint64_t npages = PAGES_IN(r->memory_size);
    if (r->n_data > npages || r->n_zero > npages - r->n_data)
        return F(n_data) + 1;
    /* At least one page per block, at most RV_SNAP_MAX_BLOCK_PAGES. */
    if (r->n_blocks > r->n_data ||
        r->n_blocks < (r->n_data + RV_SNAP_MAX_BLOCK_PAGES - 1) / RV_SNAP_MAX_BLOCK_PAGES)
        return F(n_blocks) + 1;
    for (int i = 0; i < RV_SNAP_TEXTS; i++)
        if (r->text_len[i] > RV_SNAP_MAX_TEXT)
            return F(text_len) + 1;
    if ((!(r->flags & RV_SNAP_HAS_NAME) && r->text_len[1]) ||
        (!(r->flags & RV_SNAP_HAS_HOST_ERROR) && r->text_len[3]))
        return F(text_len) + 1;
    return 0;
}

int rv_snap_blocks_sound(const uint8_t *table, uint64_t n_blocks, uint64_t n_data, uint64_t *bytes,
                         uint64_t *n_raw)
{
    uint64_t pages = 0, sum = 0, raws = 0;
    for (uint64_t i = 0; i < n_blocks; i++) {
        const uint8_t *e = table + i * RV_SNAP_BLOCK_ENTRY;
        uint32_t count = rv_rd32(e), size = rv_rd32(e + 4), raw = rv_rd32(e + 12);
        if (count < 1 || count > RV_SNAP_MAX_BLOCK_PAGES || raw > 1 || size == 0 ||
            (raw && size != (uint64_t)count * RV_PAGE_SIZE))
            return 0;
        pages += count;
        sum += size;
        raws += raw;
    }
    *bytes = sum;
    *n_raw = raws;
    return pages == n_data;
}

static int ascending_below(const uint8_t *p, uint64_t n, uint64_t limit)
{
    for (uint64_t i = 0; i < n; i++)
        if (rv_rd32(p + 4 * i) >= limit || (i && rv_rd32(p + 4 * i) <= rv_rd32(p + 4 * i - 4)))
            return 0;
    return 1;
}

/* Each list ascending and below npages, and no page in both. */
static int lists_sound(const uint8_t *data, uint64_t nd, const uint8_t *zero, uint64_t nz,
                       uint64_t npages)
{
    if (!ascending_below(data, nd, npages) || !ascending_below(zero, nz, npages))
        return 0;
    for (uint64_t i = 0, j = 0; i < nd && j < nz;) {
        uint32_t d = rv_rd32(data + 4 * i), z = rv_rd32(zero + 4 * j);
        if (d == z)
            return 0;
        if (d < z)
            i++;
        else
            j++;
    }
    return 1;
}

int rv_snap_decode(const uint8_t *buf, uint64_t len, rv_snap_layout *out)
{
    memset(out, 0, sizeof *out);
    if (len < RV_SNAP_PREFIX)
        return RV_SNAP_SHORT;
    if (memcmp(buf, MAGIC, sizeof MAGIC))
        return RV_SNAP_MAGIC;
    out->version = rv_rd32(buf + 8);
    if (out->version != RV_SNAP_FORMAT)
        return RV_SNAP_VERSION;
    if (rv_rd32(buf + 12) != sizeof(rv_snap_record))
        return RV_SNAP_RECORD;
    if (len < RV_SNAP_PREFIX + sizeof(rv_snap_record) + 4)
        return RV_SNAP_SHORT;
    rv_snap_record *r = &out->rec;
    memcpy(r, buf + RV_SNAP_PREFIX, sizeof *r);
    size_t bad = check_record(r);
    if (bad) {
        out->field = bad - 1;
        return RV_SNAP_FIELD;
    }

    /* Every count is bounded by now (pages by 2^20, texts by 2^16 each):
     * the sums below cannot overflow. */
    uint64_t texts = 0;
    for (int i = 0; i < RV_SNAP_TEXTS; i++)
        texts += r->text_len[i];
    uint64_t pos = RV_SNAP_PREFIX + sizeof *r;
    out->texts = pos;
    pos += (texts + 7) & ~(uint64_t)7;
    out->table = pos;
    pos += RV_SNAP_BLOCK_ENTRY * r->n_blocks;
    out->data_pages = pos;
    pos += 4 * r->n_data;
    out->zero_pages = pos;
    pos += 4 * r->n_zero;
    out->io = pos;
    if (pos > len - 4 || r->io_block > len - 4 - pos)
        return RV_SNAP_LENGTH;
    pos += r->io_block;
    out->os = pos;
    if (r->os_block > len - 4 - pos)
        return RV_SNAP_LENGTH;
    out->blocks = pos + r->os_block;
    out->crc = len - 4;
    if (!all_zero(buf + out->texts + texts, out->table - out->texts - texts)) {
        out->field = F(text_len);
        return RV_SNAP_FIELD;
    }
    uint64_t bytes;
    if (!rv_snap_blocks_sound(buf + out->table, r->n_blocks, r->n_data, &bytes, &out->n_raw))
        return RV_SNAP_BLOCKS;
    if (bytes != out->crc - out->blocks)
        return RV_SNAP_LENGTH;
    if (rv_crc32(0, buf, out->blocks) != rv_rd32(buf + out->crc))
        return RV_SNAP_CHECKSUM;
    if (!lists_sound(buf + out->data_pages, r->n_data, buf + out->zero_pages, r->n_zero,
                     PAGES_IN(r->memory_size)))
        return RV_SNAP_PAGES;
    return RV_SNAP_OK;
}

void rv_snap_get_state(const rv_machine *m, rv_snap_record *r)
{
    r->core_version = RV_CORE_VERSION;
    r->memory_size = m->mem_size;
    r->output_limit = m->out_cap;
    if (m->max_cycles != RV_NO_LIMIT) {
        r->flags |= RV_SNAP_HAS_MAX_CYCLES;
        r->max_cycles = m->max_cycles;
    }
    for (int i = 0; i < RV_NCLASSES; i++)
        r->costs[i] = m->cost[i];
    r->pc = m->pc;
    r->x[0] = 0;
    memcpy(&r->x[1], &m->x[1], 31 * sizeof r->x[0]);
    memcpy(r->f, m->f, sizeof r->f);
    r->fcsr = (uint64_t)m->frm << 5 | m->fflags;
    r->cycles = m->cycles;
    r->reservation = m->reservation;
    r->status = (uint64_t)m->status;
    r->exit_code = m->exit_code;
    r->error[0] = (uint64_t)m->err_kind;
    r->error[1] = m->err_bits;
    r->error[2] = m->err_pc;
    r->error[3] = m->err_addr;
    r->error[4] = m->host_call;
    r->error[5] = m->host_call_pc;
    r->stdin_pos = m->stdin_pos;
    r->brk[0] = m->brk;
    r->brk[1] = m->brk_min;
    r->brk[2] = m->brk_max;
}

int rv_snap_set_state(rv_machine *m, const rv_snap_record *r)
{
    if (r->stdin_pos > m->stdin_len)
        return -1;
    memcpy(&m->x[1], &r->x[1], 31 * sizeof r->x[0]);
    memcpy(m->f, r->f, sizeof m->f);
    m->fflags = (uint32_t)r->fcsr & 31;
    m->frm = (uint32_t)(r->fcsr >> 5) & 7;
    m->pc = r->pc;
    m->cycles = r->cycles;
    m->reservation = r->reservation;
    m->status = (int32_t)r->status;
    m->exit_code = (int32_t)r->exit_code;
    m->err_kind = (int32_t)r->error[0];
    m->err_bits = (uint32_t)r->error[1];
    m->err_pc = r->error[2];
    m->err_addr = r->error[3];
    m->host_call = r->error[4];
    m->host_call_pc = r->error[5];
    m->stdin_pos = r->stdin_pos;
    m->brk = r->brk[0];
    m->brk_min = r->brk[1];
    m->brk_max = r->brk[2];
    return 0;
}
