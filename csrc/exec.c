/*
 * exec.c: the metered dispatch loop.
 *
 * Threaded code: each decoded record holds its handler's address, and each
 * handler ends by jumping straight to the next record's handler.
 *
 * Metering is exact without a check per instruction. On entering a block
 * (after any control transfer) the loop charges the cost of the whole rest of
 * the block, suffix[i], if it fits the limit; straight-line code then runs
 * unchecked. If it does not fit, the loop copies the run of instructions at
 * the head of the block that does fit into a private buffer, ending in two
 * trap records that come back here, and charges and runs just that run: a
 * slice ends in one short burst, not instruction by instruction. A fault or
 * ecall in the middle of a block or run refunds what was charged for the
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
        pg->ops[s].h = tab[(uintptr_t)pg->ops[s].h +
                           (pg->ops[s].next == sizeof(rv_op) ? RV_OP_COUNT : 0)];
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

/* Guests run in the default FP environment whatever the caller's (no
 * flush-to-zero or denormals-are-zero, round-to-nearest), and the host
 * flags they raise end up in fflags, not in the caller's environment. */
static int run_fp(rv_machine *m, uint64_t budget)
{
    rv_fp_env saved;
    rv_fp_enter(&saved);
    int r = run(m, budget, NULL);
    rv_fp_leave(m, &saved);
    return r;
}

int rv_run(rv_machine *m, uint64_t budget)
{
    return run_fp(m, budget);
}

int64_t rv_run_slice(rv_machine *m, uint64_t budget)
{
    if (budget > INT64_MAX)
        budget = INT64_MAX;
    m->slice_start = m->cycles;
    int r = run_fp(m, budget);
    return r == RV_BUDGET ? (int64_t)(m->cycles - m->slice_start) : -(int64_t)r;
}

static inline double D_OF(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static inline uint64_t D_BITS(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* An FP register read straight as a double (it is stored as uint64_t). */
typedef double rv_f64_alias __attribute__((may_alias));
#define D_REG(r) (*(const rv_f64_alias *)&(r))

static inline float F32_OF(uint64_t u)
{
    float f;
    uint32_t w = (uint32_t)u;
    memcpy(&f, &w, 4);
    return f;
}

static inline uint64_t F32_BITS(float f)
{
    uint32_t w;
    memcpy(&w, &f, 4);
    return w;
}

/* A single read from an FP register: an improperly NaN-boxed value reads
 * as the canonical NaN. */
static inline uint64_t UNBOX(uint64_t v)
{
    return (v >> 32) == 0xffffffff ? (uint32_t)v : RV_CANONICAL_NAN_S;
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

#define RV_WRITTEN (RV_PAGE_DIRTY | RV_PAGE_TOUCHED)
#define RV_CAT2(a, b) a##b
#define RV_CAT(a, b) RV_CAT2(a, b)
#define SX32(v) ((uint64_t)(int64_t)(int32_t)(v))
#define SIGN_S ((uint64_t)0x80000000)
#define SIGN_D ((uint64_t)1 << 63)
#define BOX(v) ((uint64_t)(uint32_t)(v) | 0xffffffff00000000ull)
#define IS_NAN_S(u) (((u) & 0x7fffffff) > 0x7f800000)
#define IS_NAN_D(u) (((u) & 0x7fffffffffffffffull) > 0x7ff0000000000000ull)

/* Order keys of non-NaN values, compared as signed integers: KEY_EQ has
 * -0 == +0 (FEQ, FLT, FLE), KEY_MIN has -0 < +0 (FMIN, FMAX). */
#define KEY_EQ(sign, mag) ((sign) ? -(int64_t)(mag) : (int64_t)(mag))
#define KEY_MIN(sign, mag) ((sign) ? -1 - (int64_t)(mag) : (int64_t)(mag))
#define KEY_D(K, v) K((v) >> 63, (v) & 0x7fffffffffffffffull)
#define KEY_S(K, v) K(((v) >> 31) & 1, (v) & 0x7fffffffull)

/*
 * x86-64 without -mfma compiles fma() to a libm call, which in the
 * dispatch loop also costs the spills around a call; with FMA3 on the host
 * the fused multiply-add is one instruction (one rounding either way).
 */
#if RV_FP_HOST && defined(__x86_64__)
#define HOST_FMA(T, SFX, a, b, c) ({                                         \
        T fa_ = (a), fb_ = (b), fc_ = (c);                                  \
        if (RV_LIKELY(host_fma))                                            \
            __asm__("vfmadd213" SFX " %3, %2, %0" : "=x"(fa_) : "0"(fa_), "x"(fb_), "x"(fc_)); \
        else if (sizeof(T) == 8)                                            \
            fa_ = __builtin_fma(fa_, fb_, fc_);                             \
        else                                                                \
            fa_ = __builtin_fmaf(fa_, fb_, fc_);                            \
        fa_;                                                                \
    })
#else
#define HOST_FMA(T, SFX, a, b, c) ({                                         \
        T fa_ = (a), fb_ = (b), fc_ = (c);                                  \
        sizeof(T) == 8 ? __builtin_fma(fa_, fb_, fc_) : __builtin_fmaf(fa_, fb_, fc_); \
    })
#endif

/*
 * After a host operation in round-to-nearest-even. IEEE 754 lets it raise
 * a flag other than NX only with a result that is NaN, infinite, zero,
 * subnormal or exactly the smallest normal (UF, with tininess after
 * rounding). HOST_EDGE is true for those and for the rest of the smallest
 * binade (a cheap test on the exponent field; folding is never wrong, only
 * slower). Their host flags are folded at once, so that NX is the only flag
 * ever pending in the host (the invariant in internal.h). A NaN is
 * recomputed by fp.c, which canonicalises it and sets NV itself: the host's
 * NV is dropped.
 */
#define HOST_EDGE(r, SHIFT, EMASK) (((((r) >> (SHIFT)) - 2) & (EMASK)) >= (EMASK) - 2)
/*
 * aarch64 detects tininess before rounding, RISC-V (and x86) after: they
 * differ only for a result of magnitude exactly the smallest normal, whose
 * UF then comes from fp.c.
 */
#if RV_FP_HOST && defined(__aarch64__)
#define HOST_TININESS(absr, minnorm, hf, soft) do {                         \
        if ((absr) == (minnorm)) {                                          \
            uint32_t sf_ = 0;                                               \
            uint32_t *flp = &sf_;                                           \
            (void)(soft);                                                   \
            hf = (hf & ~(uint32_t)RV_FFLAG_UF) | (sf_ & RV_FFLAG_UF);       \
        }                                                                   \
    } while (0)
#else
#define HOST_TININESS(absr, minnorm, hf, soft) do { } while (0)
#endif
#define HOST_RESULT(r, FMT, soft) do {                                      \
        if (RV_UNLIKELY(HOST_EDGE(r, SHIFT_##FMT, EMASK_##FMT))) {           \
            const uint64_t abs_ = (r) & ABS_##FMT;                          \
            uint32_t hf_ = rv_fp_host_take_rare();                          \
            if (abs_ > INF_##FMT) {                                         \
                m->fflags |= hf_ & ~(uint32_t)RV_FFLAG_NV;                  \
                r = (soft);                                                 \
            } else {                                                        \
                HOST_TININESS(abs_, MINNORM_##FMT, hf_, soft);              \
                m->fflags |= hf_;                                           \
            }                                                               \
        }                                                                   \
    } while (0)
#define SHIFT_S 23
#define EMASK_S 0xffu
#define SHIFT_D 52
#define EMASK_D 0x7ffu
#define ABS_S 0x7fffffffull
#define MINNORM_S 0x00800000ull
#define INF_S 0x7f800000ull
#define ABS_D 0x7fffffffffffffffull
#define MINNORM_D 0x0010000000000000ull
#define INF_D 0x7ff0000000000000ull

static int run(rv_machine *m, uint64_t budget, const void *const **labels_out)
{
    static const void *const table[] = {
#define RV_OP_LABEL(name, cls, term) [RV_OP_##name] = &&op_##name##_4,             \
                                     [RV_OP_COUNT + RV_OP_##name] = &&op_##name##_2,
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

    rv_page *pg = NULL;       /* current code page; NULL while in the step buffer */
    const rv_op *ops = NULL;  /* records that rec points into */
    uint64_t ops_pc = 0;      /* guest address of ops[0] */
    const rv_op *rec = NULL;
    /* The step buffer: a copy of slots [step_idx, step_idx + span) of
     * step_pg, then traps. step_tail is step_pg's suffix at the first slot
     * not copied, so a fault at copied slot t refunds
     * suffix[step_idx + t] - cost[step_idx + t] - step_tail. */
    enum { STEP_SLOTS = 64 };
    rv_op step[STEP_SLOTS + 2];
    const rv_page *step_pg = NULL;
    unsigned step_idx = 0;
    uint32_t step_tail = 0;
    const rv_op trap = {table[RV_OP_STEP_TRAP], 0, 32, 0, 0, sizeof(rv_op)};

    /* FP registers through m (x is at its start) rather than a pointer
     * of their own: one base register for both files, nothing to spill. */
#if RV_FP_HOST && defined(__x86_64__)
    const int host_fma = rv_fp_host_fma();
#endif
#define PC_OF(r) (ops_pc + (uint64_t)((r) - ops) * 2)
#define FRD m->f[rec->rd]
#define FRS1 m->f[rec->rs1]
#define FRS2 m->f[rec->rs2]
#define FRS3 m->f[((unsigned)rec->imm >> 3) & 31]
#define FL (&m->fflags)
    /* The rounding mode of the instruction, frm for DYN; frm 5..7 then
     * makes it illegal. */
#define FP_RM ({                                                            \
        unsigned r_ = (unsigned)rec->imm & 7;                               \
        if (r_ == RV_RM_DYN) {                                              \
            r_ = m->frm;                                                    \
            if (RV_UNLIKELY(r_ > RV_RM_RMM))                                \
                goto illegal_rm;                                            \
        }                                                                   \
        r_;                                                                 \
    })
    /* Two-operand (and sqrt) arithmetic: host fast path or fp.c. In the
     * soft expression, flp is where its flags go. */
#define FP_ARITH(T, OF, BITS, FMT, UNB, REBOX, expr, soft) do { \
        const unsigned rm = FP_RM;                                          \
        uint64_t r;                                                         \
        if (RV_FP_HOST && RV_LIKELY(rm == RV_RM_RNE)) {                     \
            const T x = LOADF(OF, UNB, FRS1), y = LOADF(OF, UNB, FRS2);     \
            (void)y;                                                        \
            r = BITS(expr);                                                 \
            HOST_RESULT(r, FMT, FP_SOFT2(UNB, soft));         \
        } else {                                                            \
            r = FP_SOFT2(UNB, soft);                                        \
        }                                                                   \
        FRD = REBOX(r);                                                     \
        NEXT;                                                               \
    } while (0)
    /* The soft path's operands (a, b) and flag word (flp), read again
     * from the registers, which nothing has written yet. */
#define FP_SOFT2(UNB, soft) ({                                              \
        const uint64_t a = UNB(FRS1), b = UNB(FRS2);                        \
        uint32_t *flp = FL;                                                 \
        (void)b;                                                            \
        (soft);                                                             \
    })
#define NO_BOX(v) (v)
    /* A host operand: doubles straight from the register file, singles
     * through UNBOX. NEGF flips the sign (exact, no flags) when neg != 0. */
#define LOADF(OF, UNB, reg) (sizeof(OF(0)) == 8 ? D_REG(reg) : OF(UNB(reg)))
#define NEGF(T, v, neg) ((neg) ? -(v) : (v))
#define FP_S2(expr, soft) FP_ARITH(float, F32_OF, F32_BITS, S, UNBOX, BOX, expr, soft)
#define FP_D2(expr, soft) FP_ARITH(double, D_OF, D_BITS, D, NO_BOX, NO_BOX, expr, soft)
    /* Fused multiply-add; na and nc negate the product and the addend. */
#define FP_FMA(T, SFX, OF, BITS, FMT, UNB, REBOX, fmt, na, nc) do { \
        const unsigned rm = FP_RM;                                          \
        uint64_t r;                                                         \
        if (RV_FP_HOST && RV_LIKELY(rm == RV_RM_RNE)) {                     \
            r = BITS(HOST_FMA(T, SFX, NEGF(T, LOADF(OF, UNB, FRS1), na),     \
                              LOADF(OF, UNB, FRS2), NEGF(T, LOADF(OF, UNB, FRS3), nc))); \
            HOST_RESULT(r, FMT, FP_SOFT3(UNB, fmt, na, nc));  \
        } else {                                                            \
            r = FP_SOFT3(UNB, fmt, na, nc);                                 \
        }                                                                   \
        FRD = REBOX(r);                                                     \
        NEXT;                                                               \
    } while (0)
#define FP_SOFT3(UNB, fmt, na, nc)                                          \
    rv_fp_fma(fmt, UNB(FRS1) ^ (na), UNB(FRS2), UNB(FRS3) ^ (nc), rm, FL)
#define FP_S3(na, nc) FP_FMA(float, "ss", F32_OF, F32_BITS, S, UNBOX, BOX, 0, na, nc)
#define FP_D3(na, nc) FP_FMA(double, "sd", D_OF, D_BITS, D, NO_BOX, NO_BOX, 1, na, nc)
    /* FCVT to an integer in RTZ (C's casts) on the host when the value is
     * surely in range: truncation is exact IEEE, NX lands in the host's
     * flags. Anything else (other modes, NaN, saturation) goes to fp.c.
     * The limit is on the biased exponent: |x| < 2^k for e < bias + k. */
#define FP_TO_INT(fmt, bits, OF, SHIFT, EMASK, BIAS) do {                   \
        const unsigned rm = FP_RM, kind = ((unsigned)rec->imm >> 3) & 3;    \
        const uint64_t a = (bits);                                          \
        const unsigned sign = (unsigned)(a >> (SHIFT)) >> (fmt ? 11 : 8) & 1; \
        const unsigned e = (unsigned)(a >> (SHIFT)) & (EMASK);              \
        static const uint8_t k_[8] = {31, 31, 32, 0, 63, 63, 63, 0};        \
        if (RV_FP_HOST && rm == RV_RM_RTZ && e < (unsigned)(BIAS) + k_[kind * 2 + sign]) { \
            const int64_t t_ = (int64_t)OF(a);                              \
            RD = kind < RV_CVT_L ? SX32(t_) : (uint64_t)t_;                 \
        } else {                                                            \
            RD = rv_fp_to_int(fmt, a, kind, rm, FL);                        \
        }                                                                   \
        NEXT;                                                               \
    } while (0)
    /* The integer operand of FCVT.S/D.*: W sign-extended, WU zero-extended. */
#define INT_OPERAND(v, kind) ((kind) == RV_CVT_W ? (int64_t)(int32_t)(v) :    \
                              (kind) == RV_CVT_WU ? (int64_t)(uint32_t)(v) : (int64_t)(v))
    /* FEQ, FLT, FLE: integer order keys unless a NaN is involved. */
#define FP_CMP(fmt, UNB, NAN, KEY, op, cmpop) do {                          \
        const uint64_t a = UNB(FRS1), b = UNB(FRS2);                        \
        if (RV_LIKELY(!NAN(a) && !NAN(b)))                                  \
            RD = KEY(KEY_EQ, a) cmpop KEY(KEY_EQ, b);                       \
        else                                                                \
            RD = rv_fp_compare(fmt, a, b, op, FL);                          \
        NEXT;                                                               \
    } while (0)
    /* FMIN, FMAX: the same, with -0 below +0. */
#define FP_MINMAX(fmt, UNB, REBOX, NAN, KEY, max) do {                      \
        const uint64_t a = UNB(FRS1), b = UNB(FRS2);                        \
        uint64_t r;                                                         \
        if (RV_LIKELY(!NAN(a) && !NAN(b)))                                  \
            r = (KEY(KEY_MIN, a) < KEY(KEY_MIN, b)) != (max) ? a : b;       \
        else                                                                \
            r = rv_fp_minmax(fmt, a, b, max, FL);                           \
        FRD = REBOX(r);                                                     \
        NEXT;                                                               \
    } while (0)
#define NEXT do { rec += SLOTS; goto *rec->h; } while (0)
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
        ENTER_REC(rec + SLOTS);                                             \
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
        ENTER_REC(rec + SLOTS);                                             \
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
     * so writable: code and read-only pages never get dirty). Anything else
     * goes through rv_store_check, which also marks the page. */
#define STORE_CHECK(a, n) do {                                              \
        if (RV_UNLIKELY(a > msz - (n)))                                     \
            FAULT(RV_ERR_STORE, a);                                         \
        if (RV_UNLIKELY(((a ^ (a + (n) - 1)) >> RV_PAGE_SHIFT) != 0 ||      \
                        pflags[a >> RV_PAGE_SHIFT] != RV_WRITTEN)) {        \
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
    if (RV_UNLIKELY(pc >= msz || (pc & 1))) {
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
        /* The head of the block that fits: straight-line instructions only,
         * since the block's own end (its one control transfer) does not. */
        unsigned end = idx;
        uint32_t charge = 0;
        do {
            charge += p->cost[end];
            end += p->ops[end].next / sizeof(rv_op);
        } while (end - idx + 2 <= STEP_SLOTS && end < RV_SLOTS && charge + p->cost[end] <= left);
        left -= charge;
        memcpy(step, p->ops + idx, (end - idx) * sizeof(rv_op));
        step[end - idx] = trap;
        step[end - idx + 1] = trap;
        step_pg = p;
        step_idx = idx;
        step_tail = p->suffix[end];
        pg = NULL;
        ops = step;
        ops_pc = pc;
        rec = step;
        goto *rec->h;
    }

fault:
    pc = PC_OF(rec);
    if (pg) {
        left += pg->suffix[rec - ops] - pg->cost[rec - ops];
    } else {
        const unsigned t = step_idx + (unsigned)(rec - ops);
        left += step_pg->suffix[t] - step_pg->cost[t] - step_tail;
    }
    goto fetch_fault;

    /* An FP instruction whose DYN rounding mode finds frm invalid: illegal,
     * and like any illegal instruction it costs nothing. */
illegal_rm:
    pc = PC_OF(rec);
    {
        uint32_t bits;
        memcpy(&bits, mem + pc, 4);     /* a decoded 32-bit instruction: in memory */
        m->err_bits = bits;
    }
    m->err_kind = RV_ERR_ILLEGAL;
    m->err_addr = 0;
    if (pg) {
        left += pg->suffix[rec - ops];
    } else {
        const unsigned t = step_idx + (unsigned)(rec - ops);
        left += step_pg->suffix[t] - step_tail;
    }
fetch_fault:
    m->err_pc = pc;
    m->pc = pc;
    m->status = RV_ERROR;
    result = RV_ERROR;
    goto out;

out:
    m->cycles = limit - left;
    return result;

#define OP(name) RV_CAT(op_##name, RV_SUFFIX)
#define RV_SUFFIX _4
#define SLOTS 2
#include "handlers.inc"
#undef RV_SUFFIX
#undef SLOTS
#define RV_SUFFIX _2
#define SLOTS 1
#include "handlers.inc"
#undef RV_SUFFIX
#undef SLOTS
    /* The FP handlers come after all integer ones and are marked cold: the
     * compiler then keeps the integer handlers' values in registers as
     * before (without it, memsort ran about 2% slower; nbody pays ~1%). */
#define OPC(name) OP(name): __attribute__((cold));
#define RV_SUFFIX _4
#define SLOTS 2
#include "handlers_fp.inc"
#undef RV_SUFFIX
#undef SLOTS
#define RV_SUFFIX _2
#define SLOTS 1
#include "handlers_fp.inc"
}
