/*
 * exec.c: the metered dispatch loop.
 *
 * Threaded code: each decoded record holds its handler's address, and each
 * handler ends by jumping straight to the next record's handler.
 *
 * Metering is exact without a check per instruction. On entering a block
 * (after any control transfer) the loop charges the cost of the whole rest of
 * the block, suffix[i], if it fits the limit; straight-line code then runs
 * unchecked. If it does not fit, the loop steps one instruction at a time
 * through a private three-record buffer (the instruction, then two traps
 * that come back here) until the next instruction itself would not fit. A
 * fault or ecall in the middle of a block refunds what was charged for the
 * instructions after it.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int run(rv_machine *m, uint64_t budget, const void *const **labels_out);

static const void *const *labels(void)
{
    static const void *const *table;
    if (!table)
        run(NULL, 0, &table);
    return table;
}

rv_page *rv_code_page(rv_machine *m, uint64_t page)
{
    rv_page *pg = m->decoded[page];
    if (pg)
        return pg;
    if (!(m->page_flags[page] & RV_PAGE_EXEC))
        return NULL;
    pg = malloc(sizeof *pg);
    if (!pg)
        return NULL;
    rv_decode_page(m, page, pg);
    const void *const *tab = labels();
    for (int s = 0; s < RV_SLOTS_ALL; s++)
        pg->ops[s].h = tab[(uintptr_t)pg->ops[s].h];
    m->decoded[page] = pg;
    return pg;
}

void rv_drop_code(rv_machine *m)
{
    for (uint64_t p = 0; p < m->npages; p++) {
        free(m->decoded[p]);
        m->decoded[p] = NULL;
    }
}

int rv_run(rv_machine *m, uint64_t budget)
{
    return run(m, budget, NULL);
}

static uint64_t clmul_lo(uint64_t a, uint64_t b)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++)
        if ((b >> i) & 1)
            r ^= a << i;
    return r;
}

static uint64_t clmul_hi(uint64_t a, uint64_t b)
{
    uint64_t r = 0;
    for (int i = 1; i < 64; i++)
        if ((b >> i) & 1)
            r ^= a >> (64 - i);
    return r;
}

static uint64_t clmul_rev(uint64_t a, uint64_t b)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i++)
        if ((b >> i) & 1)
            r ^= a >> (63 - i);
    return r;
}

static uint64_t orc_b(uint64_t v)
{
    uint64_t r = 0;
    for (int i = 0; i < 64; i += 8)
        if ((v >> i) & 0xff)
            r |= (uint64_t)0xff << i;
    return r;
}

#define SX32(v) ((uint64_t)(int64_t)(int32_t)(v))

static int run(rv_machine *m, uint64_t budget, const void *const **labels_out)
{
    static const void *const table[] = {
#define RV_OP_LABEL(name, cls, term) [RV_OP_##name] = &&op_##name,
        RV_OPS(RV_OP_LABEL)
#undef RV_OP_LABEL
    };
    if (labels_out) {
        *labels_out = table;
        return 0;
    }
    if (m->status != RV_READY)
        return m->status;

    uint64_t *const x = m->x;
    uint8_t *const mem = m->mem;
    uint8_t *const pflags = m->page_flags;
    const uint64_t msz = m->mem_size;
    const uint64_t start = m->cycles;
    const uint64_t budget_end = budget > UINT64_MAX - start ? UINT64_MAX : start + budget;
    uint64_t limit = budget_end < m->max_cycles ? budget_end : m->max_cycles;
    if (limit < start)
        limit = start;          /* max_cycles was lowered below what is spent */
    /* Counting the budget down keeps one value live instead of two. */
    uint64_t left = limit - start;
    uint64_t pc = m->pc;
    int result;

    rv_page *pg = NULL;       /* current code page; NULL while stepping */
    const rv_op *ops = NULL;  /* records that rec points into */
    uint64_t ops_pc = 0;      /* guest address of ops[0] */
    const rv_op *rec = NULL;
    rv_op step[3];
    const rv_op trap = {table[RV_OP_STEP_TRAP], 0, 32, 0, 0, sizeof(rv_op)};

#define PC_OF(r) (ops_pc + (uint64_t)((r) - ops) * 2)
#define NEXT_REC(r) ((const rv_op *)((const char *)(r) + (r)->next))
#define LEN(r) ((r)->next / (sizeof(rv_op) / 2))
#define NEXT do { rec = NEXT_REC(rec); goto *rec->h; } while (0)
#define RD x[rec->rd]
#define RS1 x[rec->rs1]
#define RS2 x[rec->rs2]
#define IMM ((int64_t)rec->imm)
    /* Enter the block at record r of the current page, or go the long way. */
#define ENTER_REC(r) do {                                                   \
        const rv_op *r_ = (r);                                              \
        if (pg) {                                                           \
            uint32_t s_ = pg->suffix[r_ - ops];                             \
            if (RV_LIKELY(s_ <= left)) {                                    \
                left -= s_;                                                 \
                rec = r_;                                                   \
                goto *rec->h;                                               \
            }                                                               \
        }                                                                   \
        pc = PC_OF(r_);                                                     \
        goto enter;                                                         \
    } while (0)
#define JUMP(t) do {                                                        \
        uint64_t t_ = (t);                                                  \
        if (RV_LIKELY(pg != NULL && ((t_ ^ ops_pc) >> RV_PAGE_SHIFT) == 0)) \
            ENTER_REC(ops + ((t_ & (RV_PAGE_SIZE - 1)) >> 1));              \
        pc = t_;                                                            \
        goto enter;                                                         \
    } while (0)
#define BRANCH(cond) do {                                                   \
        if (cond)                                                           \
            JUMP(PC_OF(rec) + IMM);                                         \
        ENTER_REC(NEXT_REC(rec));                                           \
    } while (0)
#define NEAR(slots) do {                                                    \
        if (RV_LIKELY(pg != NULL))                                          \
            ENTER_REC(rec + (slots));                                       \
        pc = PC_OF(rec) + 2 * (uint64_t)(int64_t)(slots);                   \
        goto enter;                                                         \
    } while (0)
#define BRANCH_N(cond) do {                                                 \
        if (cond)                                                           \
            NEAR(rec->imm);                                                 \
        ENTER_REC(NEXT_REC(rec));                                           \
    } while (0)
#define FAULT(kind, addr) do {                                              \
        m->err_kind = (kind);                                               \
        m->err_addr = (addr);                                               \
        goto fault;                                                         \
    } while (0)
#define LOAD(T, a) ({                                                       \
        uint64_t a_ = (a);                                                  \
        if (RV_UNLIKELY(a_ > msz - sizeof(T)))                              \
            FAULT(RV_ERR_LOAD, a_);                                         \
        T v_;                                                               \
        memcpy(&v_, mem + a_, sizeof(T));                                   \
        v_;                                                                 \
    })
    /* Fast path: the store stays within one page that is already dirty (and
     * so writable). Anything else goes through rv_store_check. */
#define STORE_CHECK(a, n) do {                                              \
        if (RV_UNLIKELY(a > msz - (n)))                                     \
            FAULT(RV_ERR_STORE, a);                                         \
        if (RV_UNLIKELY(((a ^ (a + (n) - 1)) >> RV_PAGE_SHIFT) != 0 ||      \
                        pflags[a >> RV_PAGE_SHIFT] != RV_PAGE_DIRTY)) {     \
            int e_ = rv_store_check(m, a, (n));                             \
            if (e_)                                                         \
                FAULT(e_, a);                                               \
        }                                                                   \
    } while (0)
#define STORE(T, a, v) do {                                                 \
        uint64_t sa_ = (a);                                                 \
        T sv_ = (T)(v);                                                     \
        STORE_CHECK(sa_, sizeof(T));                                        \
        memcpy(mem + sa_, &sv_, sizeof(T));                                 \
    } while (0)
    /* LR/SC and AMOs need natural alignment; an AMO is a load and a store. */
#define AMO_ADDR(n) ({                                                      \
        uint64_t aa_ = RS1;                                                 \
        if (RV_UNLIKELY(aa_ & ((n) - 1)))                                   \
            FAULT(RV_ERR_MISALIGNED_ATOMIC, aa_);                           \
        STORE_CHECK(aa_, (n));                                              \
        aa_;                                                                \
    })
#define AMO_W(expr) do {                                                    \
        uint64_t a = AMO_ADDR(4);                                           \
        int32_t old, src = (int32_t)RS2, val;                               \
        memcpy(&old, mem + a, 4);                                           \
        val = (expr);                                                       \
        memcpy(mem + a, &val, 4);                                           \
        RD = (uint64_t)(int64_t)old;                                        \
        NEXT;                                                               \
    } while (0)
#define AMO_D(expr) do {                                                    \
        uint64_t a = AMO_ADDR(8);                                           \
        int64_t old, src = (int64_t)RS2, val;                               \
        memcpy(&old, mem + a, 8);                                           \
        val = (expr);                                                       \
        memcpy(mem + a, &val, 8);                                           \
        RD = (uint64_t)old;                                                 \
        NEXT;                                                               \
    } while (0)

enter:
    if (RV_UNLIKELY(pc >= msz)) {
        m->err_kind = RV_ERR_FETCH;
        m->err_addr = pc;
        goto fetch_fault;
    }
    {
        rv_page *p = m->decoded[pc >> RV_PAGE_SHIFT];
        if (RV_UNLIKELY(!p)) {
            p = rv_code_page(m, pc >> RV_PAGE_SHIFT);
            if (!p) {
                int exec = m->page_flags[pc >> RV_PAGE_SHIFT] & RV_PAGE_EXEC;
                m->err_kind = exec ? RV_ERR_NOMEM : RV_ERR_FETCH;
                m->err_addr = pc;
                goto fetch_fault;
            }
        }
        const unsigned idx = (unsigned)(pc & (RV_PAGE_SIZE - 1)) >> 1;
        const uint32_t s = p->suffix[idx];
        if (RV_LIKELY(s <= left)) {
            left -= s;
            pg = p;
            ops = p->ops;
            ops_pc = pc & ~(uint64_t)(RV_PAGE_SIZE - 1);
            rec = ops + idx;
            goto *rec->h;
        }
        const uint32_t c = p->cost[idx];
        if (c > left) {
            m->pc = pc;
            if (limit - left + c > m->max_cycles) {
                m->err_kind = RV_ERR_CYCLES;
                m->err_pc = pc;
                m->err_addr = 0;
                m->status = RV_ERROR;
                result = RV_ERROR;
            } else {
                result = RV_BUDGET;
            }
            goto out;
        }
        left -= c;
        step[0] = p->ops[idx];
        step[1] = trap;
        step[2] = trap;
        pg = NULL;
        ops = step;
        ops_pc = pc;
        rec = step;
        goto *rec->h;
    }

fault:
    pc = PC_OF(rec);
    if (pg)
        left += pg->suffix[rec - ops] - pg->cost[rec - ops];
fetch_fault:
    m->err_pc = pc;
    m->pc = pc;
    m->status = RV_ERROR;
    result = RV_ERROR;
    goto out;

out:
    m->cycles = limit - left;
    return result;

op_ILLEGAL:
    m->err_bits = (uint32_t)rec->imm;
    FAULT(RV_ERR_ILLEGAL, 0);
op_FETCH_FAULT:
    /* A 32-bit instruction whose second half lies on a page that is not code. */
    FAULT(RV_ERR_FETCH, PC_OF(rec) + 2);
op_PAGE_END:
op_STEP_TRAP:
    pc = PC_OF(rec);
    goto enter;
op_NOP:
    NEXT;

op_LUI: RD = (uint64_t)IMM; NEXT;
op_AUIPC: RD = PC_OF(rec) + (uint64_t)IMM; NEXT;
op_JAL: {
    uint64_t here = PC_OF(rec);
    RD = here + LEN(rec);
    JUMP(here + (uint64_t)IMM);
}
op_JAL_N:
    RD = PC_OF(rec) + LEN(rec);
    NEAR(rec->imm);
op_JALR: {
    uint64_t here = PC_OF(rec);
    uint64_t t = (RS1 + (uint64_t)IMM) & ~(uint64_t)1;
    RD = here + LEN(rec);
    JUMP(t);
}
op_BEQ: BRANCH(RS1 == RS2);
op_BNE: BRANCH(RS1 != RS2);
op_BLT: BRANCH((int64_t)RS1 < (int64_t)RS2);
op_BGE: BRANCH((int64_t)RS1 >= (int64_t)RS2);
op_BLTU: BRANCH(RS1 < RS2);
op_BGEU: BRANCH(RS1 >= RS2);
op_BEQ_N: BRANCH_N(RS1 == RS2);
op_BNE_N: BRANCH_N(RS1 != RS2);
op_BLT_N: BRANCH_N((int64_t)RS1 < (int64_t)RS2);
op_BGE_N: BRANCH_N((int64_t)RS1 >= (int64_t)RS2);
op_BLTU_N: BRANCH_N(RS1 < RS2);
op_BGEU_N: BRANCH_N(RS1 >= RS2);

op_LB: RD = (uint64_t)(int64_t)LOAD(int8_t, RS1 + IMM); NEXT;
op_LH: RD = (uint64_t)(int64_t)LOAD(int16_t, RS1 + IMM); NEXT;
op_LW: RD = (uint64_t)(int64_t)LOAD(int32_t, RS1 + IMM); NEXT;
op_LD: RD = LOAD(uint64_t, RS1 + IMM); NEXT;
op_LBU: RD = LOAD(uint8_t, RS1 + IMM); NEXT;
op_LHU: RD = LOAD(uint16_t, RS1 + IMM); NEXT;
op_LWU: RD = LOAD(uint32_t, RS1 + IMM); NEXT;
op_SB: STORE(uint8_t, RS1 + IMM, RS2); NEXT;
op_SH: STORE(uint16_t, RS1 + IMM, RS2); NEXT;
op_SW: STORE(uint32_t, RS1 + IMM, RS2); NEXT;
op_SD: STORE(uint64_t, RS1 + IMM, RS2); NEXT;

op_ADDI: RD = RS1 + (uint64_t)IMM; NEXT;
op_SLTI: RD = (int64_t)RS1 < IMM; NEXT;
op_SLTIU: RD = RS1 < (uint64_t)IMM; NEXT;
op_XORI: RD = RS1 ^ (uint64_t)IMM; NEXT;
op_ORI: RD = RS1 | (uint64_t)IMM; NEXT;
op_ANDI: RD = RS1 & (uint64_t)IMM; NEXT;
op_SLLI: RD = RS1 << rec->imm; NEXT;
op_SRLI: RD = RS1 >> rec->imm; NEXT;
op_SRAI: RD = (uint64_t)((int64_t)RS1 >> rec->imm); NEXT;
op_ADD: RD = RS1 + RS2; NEXT;
op_SUB: RD = RS1 - RS2; NEXT;
op_SLL: RD = RS1 << (RS2 & 63); NEXT;
op_SLT: RD = (int64_t)RS1 < (int64_t)RS2; NEXT;
op_SLTU: RD = RS1 < RS2; NEXT;
op_XOR: RD = RS1 ^ RS2; NEXT;
op_SRL: RD = RS1 >> (RS2 & 63); NEXT;
op_SRA: RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63)); NEXT;
op_OR: RD = RS1 | RS2; NEXT;
op_AND: RD = RS1 & RS2; NEXT;
op_ADDIW: RD = SX32(RS1 + (uint64_t)IMM); NEXT;
op_SLLIW: RD = SX32((uint32_t)RS1 << rec->imm); NEXT;
op_SRLIW: RD = SX32((uint32_t)RS1 >> rec->imm); NEXT;
op_SRAIW: RD = SX32((int32_t)RS1 >> rec->imm); NEXT;
op_ADDW: RD = SX32(RS1 + RS2); NEXT;
op_SUBW: RD = SX32(RS1 - RS2); NEXT;
op_SLLW: RD = SX32((uint32_t)RS1 << (RS2 & 31)); NEXT;
op_SRLW: RD = SX32((uint32_t)RS1 >> (RS2 & 31)); NEXT;
op_SRAW: RD = SX32((int32_t)RS1 >> (RS2 & 31)); NEXT;

op_ECALL: {
    pc = PC_OF(rec);
    if (pg)
        left += pg->suffix[rec - ops] - pg->cost[rec - ops];   /* 0: ecall ends its block */
    m->pc = pc;
    m->cycles = limit - left;
    int r = rv_syscall(m, pc);
    if (r == RV_READY) {
        pc += 4;
        goto enter;
    }
    return r;
}
op_EBREAK:
    FAULT(RV_ERR_EBREAK, 0);

op_MUL: RD = RS1 * RS2; NEXT;
op_MULH: RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >> 64); NEXT;
op_MULHSU: RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)RS2) >> 64); NEXT;
op_MULHU: RD = (uint64_t)(((unsigned __int128)RS1 * RS2) >> 64); NEXT;
op_DIV: {
    int64_t a = (int64_t)RS1, b = (int64_t)RS2;
    RD = b == 0 ? UINT64_MAX : (a == INT64_MIN && b == -1) ? (uint64_t)a : (uint64_t)(a / b);
    NEXT;
}
op_DIVU: {
    uint64_t a = RS1, b = RS2;
    RD = b == 0 ? UINT64_MAX : a / b;
    NEXT;
}
op_REM: {
    int64_t a = (int64_t)RS1, b = (int64_t)RS2;
    RD = b == 0 ? (uint64_t)a : (a == INT64_MIN && b == -1) ? 0 : (uint64_t)(a % b);
    NEXT;
}
op_REMU: {
    uint64_t a = RS1, b = RS2;
    RD = b == 0 ? a : a % b;
    NEXT;
}
op_MULW: RD = SX32((uint32_t)RS1 * (uint32_t)RS2); NEXT;
op_DIVW: {
    int32_t a = (int32_t)RS1, b = (int32_t)RS2;
    RD = b == 0 ? UINT64_MAX : (a == INT32_MIN && b == -1) ? SX32(a) : SX32(a / b);
    NEXT;
}
op_DIVUW: {
    uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
    RD = b == 0 ? UINT64_MAX : SX32(a / b);
    NEXT;
}
op_REMW: {
    int32_t a = (int32_t)RS1, b = (int32_t)RS2;
    RD = b == 0 ? SX32(a) : (a == INT32_MIN && b == -1) ? 0 : SX32(a % b);
    NEXT;
}
op_REMUW: {
    uint32_t a = (uint32_t)RS1, b = (uint32_t)RS2;
    RD = b == 0 ? SX32(a) : SX32(a % b);
    NEXT;
}

op_LR_W: {
    uint64_t a = RS1;
    if (a & 3)
        FAULT(RV_ERR_MISALIGNED_ATOMIC, a);
    RD = (uint64_t)(int64_t)LOAD(int32_t, a);
    m->reservation = a;
    NEXT;
}
op_LR_D: {
    uint64_t a = RS1;
    if (a & 7)
        FAULT(RV_ERR_MISALIGNED_ATOMIC, a);
    RD = LOAD(uint64_t, a);
    m->reservation = a;
    NEXT;
}
op_SC_W: {
    uint64_t a = AMO_ADDR(4);
    int ok = m->reservation == a;
    m->reservation = RV_NO_RESERVATION;
    if (ok) {
        uint32_t v = (uint32_t)RS2;
        memcpy(mem + a, &v, 4);
    }
    RD = !ok;
    NEXT;
}
op_SC_D: {
    uint64_t a = AMO_ADDR(8);
    int ok = m->reservation == a;
    m->reservation = RV_NO_RESERVATION;
    if (ok) {
        uint64_t v = RS2;
        memcpy(mem + a, &v, 8);
    }
    RD = !ok;
    NEXT;
}
op_AMOSWAP_W: AMO_W(src);
op_AMOADD_W: AMO_W((int32_t)((uint32_t)old + (uint32_t)src));
op_AMOXOR_W: AMO_W(old ^ src);
op_AMOAND_W: AMO_W(old & src);
op_AMOOR_W: AMO_W(old | src);
op_AMOMIN_W: AMO_W(old < src ? old : src);
op_AMOMAX_W: AMO_W(old > src ? old : src);
op_AMOMINU_W: AMO_W((uint32_t)old < (uint32_t)src ? old : src);
op_AMOMAXU_W: AMO_W((uint32_t)old > (uint32_t)src ? old : src);
op_AMOSWAP_D: AMO_D(src);
op_AMOADD_D: AMO_D((int64_t)((uint64_t)old + (uint64_t)src));
op_AMOXOR_D: AMO_D(old ^ src);
op_AMOAND_D: AMO_D(old & src);
op_AMOOR_D: AMO_D(old | src);
op_AMOMIN_D: AMO_D(old < src ? old : src);
op_AMOMAX_D: AMO_D(old > src ? old : src);
op_AMOMINU_D: AMO_D((uint64_t)old < (uint64_t)src ? old : src);
op_AMOMAXU_D: AMO_D((uint64_t)old > (uint64_t)src ? old : src);

op_SH1ADD: RD = RS2 + (RS1 << 1); NEXT;
op_SH2ADD: RD = RS2 + (RS1 << 2); NEXT;
op_SH3ADD: RD = RS2 + (RS1 << 3); NEXT;
op_ADD_UW: RD = RS2 + (uint32_t)RS1; NEXT;
op_SH1ADD_UW: RD = RS2 + ((uint64_t)(uint32_t)RS1 << 1); NEXT;
op_SH2ADD_UW: RD = RS2 + ((uint64_t)(uint32_t)RS1 << 2); NEXT;
op_SH3ADD_UW: RD = RS2 + ((uint64_t)(uint32_t)RS1 << 3); NEXT;
op_SLLI_UW: RD = (uint64_t)(uint32_t)RS1 << rec->imm; NEXT;

op_ANDN: RD = RS1 & ~RS2; NEXT;
op_ORN: RD = RS1 | ~RS2; NEXT;
op_XNOR: RD = ~(RS1 ^ RS2); NEXT;
op_CLZ: { uint64_t v = RS1; RD = v ? (uint64_t)__builtin_clzll(v) : 64; NEXT; }
op_CTZ: { uint64_t v = RS1; RD = v ? (uint64_t)__builtin_ctzll(v) : 64; NEXT; }
op_CPOP: RD = (uint64_t)__builtin_popcountll(RS1); NEXT;
op_CLZW: { uint32_t v = (uint32_t)RS1; RD = v ? (uint64_t)__builtin_clz(v) : 32; NEXT; }
op_CTZW: { uint32_t v = (uint32_t)RS1; RD = v ? (uint64_t)__builtin_ctz(v) : 32; NEXT; }
op_CPOPW: RD = (uint64_t)__builtin_popcount((uint32_t)RS1); NEXT;
op_MAX: RD = (int64_t)RS1 > (int64_t)RS2 ? RS1 : RS2; NEXT;
op_MAXU: RD = RS1 > RS2 ? RS1 : RS2; NEXT;
op_MIN: RD = (int64_t)RS1 < (int64_t)RS2 ? RS1 : RS2; NEXT;
op_MINU: RD = RS1 < RS2 ? RS1 : RS2; NEXT;
op_SEXT_B: RD = (uint64_t)(int64_t)(int8_t)RS1; NEXT;
op_SEXT_H: RD = (uint64_t)(int64_t)(int16_t)RS1; NEXT;
op_ZEXT_H: RD = (uint16_t)RS1; NEXT;
op_ROL: { uint64_t v = RS1; unsigned s = RS2 & 63; RD = (v << s) | (v >> ((64 - s) & 63)); NEXT; }
op_ROR: { uint64_t v = RS1; unsigned s = RS2 & 63; RD = (v >> s) | (v << ((64 - s) & 63)); NEXT; }
op_RORI: { uint64_t v = RS1; unsigned s = (unsigned)rec->imm; RD = (v >> s) | (v << ((64 - s) & 63)); NEXT; }
op_ROLW: { uint32_t v = (uint32_t)RS1; unsigned s = RS2 & 31; RD = SX32((v << s) | (v >> ((32 - s) & 31))); NEXT; }
op_RORW: { uint32_t v = (uint32_t)RS1; unsigned s = RS2 & 31; RD = SX32((v >> s) | (v << ((32 - s) & 31))); NEXT; }
op_RORIW: { uint32_t v = (uint32_t)RS1; unsigned s = (unsigned)rec->imm; RD = SX32((v >> s) | (v << ((32 - s) & 31))); NEXT; }
op_ORC_B: RD = orc_b(RS1); NEXT;
op_REV8: RD = __builtin_bswap64(RS1); NEXT;
op_CLMUL: RD = clmul_lo(RS1, RS2); NEXT;
op_CLMULH: RD = clmul_hi(RS1, RS2); NEXT;
op_CLMULR: RD = clmul_rev(RS1, RS2); NEXT;
op_BCLR: RD = RS1 & ~((uint64_t)1 << (RS2 & 63)); NEXT;
op_BCLRI: RD = RS1 & ~((uint64_t)1 << rec->imm); NEXT;
op_BEXT: RD = (RS1 >> (RS2 & 63)) & 1; NEXT;
op_BEXTI: RD = (RS1 >> rec->imm) & 1; NEXT;
op_BINV: RD = RS1 ^ ((uint64_t)1 << (RS2 & 63)); NEXT;
op_BINVI: RD = RS1 ^ ((uint64_t)1 << rec->imm); NEXT;
op_BSET: RD = RS1 | ((uint64_t)1 << (RS2 & 63)); NEXT;
op_BSETI: RD = RS1 | ((uint64_t)1 << rec->imm); NEXT;
}
