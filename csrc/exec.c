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

/* The handler addresses live inside run(); it hands them out once, when the
 * library is loaded and before any thread can decode a page, so that slices
 * running in parallel threads (without the GIL) only ever read this. */
static const void *const *label_table;

__attribute__((constructor)) static void init_label_table(void)
{
    run(NULL, 0, &label_table);
    /* rv_fp_host_fma caches its answer on first use; ask here, for the
     * same reason, so that parallel runs only read the cached value. */
    (void)rv_fp_host_fma();
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
    const void *const *tab = label_table;
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

/* Order keys of non-NaN values, compared as signed integers, with
 * -0 < +0 (FMIN, FMAX). */
#define KEY_MIN(sign, mag) ((sign) ? -1 - (int64_t)(mag) : (int64_t)(mag))
#define KEY_D(v) KEY_MIN((v) >> 63, (v) & 0x7fffffffffffffffull)
#define KEY_S(v) KEY_MIN(((v) >> 31) & 1, (v) & 0x7fffffffull)

/*
 * The fused multiply-add on the host: one instruction with FMA3 on x86-64
 * (the build has no -mfma, so fma() would be a libm call, and calls in the
 * handlers cost the integer ones their registers); an x86-64 host without
 * FMA3 does it in fpexec.c instead.
 */
#if RV_FP_HOST && defined(__x86_64__)
#define HOST_FMA_OK host_fma
#define HOST_FMA(T, SFX, a, b, c) ({                                         \
        T fa_ = (a), fb_ = (b), fc_ = (c);                                  \
        __asm__("vfmadd213" SFX " %3, %2, %0" : "=x"(fa_) : "0"(fa_), "x"(fb_), "x"(fc_)); \
        fa_;                                                                \
    })
#else
#define HOST_FMA_OK 1
#define HOST_FMA(T, SFX, a, b, c) ({                                         \
        T fa_ = (a), fb_ = (b), fc_ = (c);                                  \
        sizeof(T) == 8 ? __builtin_fma(fa_, fb_, fc_) : __builtin_fmaf(fa_, fb_, fc_); \
    })
#endif

/*
 * After a host operation in round-to-nearest-even. IEEE 754 lets it raise
 * a flag other than NX only with a result that is NaN, infinite, zero,
 * subnormal or exactly the smallest normal (UF, with tininess after
 * rounding, as RISC-V and x86 detect it; aarch64 detects it before
 * rounding, which differs exactly there). HOST_EDGE is true for those and
 * for the rest of the smallest binade: a cheap test of the exponent field
 * (an edge result is never wrong, only slower). The instruction is then
 * done again by fpexec.c, which replaces the host's flags for it with the
 * exact ones and canonicalises a NaN, so that NX is the only flag ever
 * pending in the host (internal.h).
 */
#define HOST_EDGE(r, SHIFT, EMASK) (((((r) >> (SHIFT)) - 2) & (EMASK)) >= (EMASK) - 2)
#define EDGE_S(r) HOST_EDGE(r, 23, 0xffu)
#define EDGE_D(r) HOST_EDGE(r, 52, 0x7ffu)

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

#if RV_FP_HOST && defined(__x86_64__)
    const int host_fma = rv_fp_host_fma();
#endif
    unsigned fp_op = 0;         /* the operation an FP handler hands to fpexec.c */
    int fp_host = 0;
#define PC_OF(r) (ops_pc + (uint64_t)((r) - ops) * 2)
    /* FP registers through m (x is at its start) rather than a pointer
     * of their own: one base register for both files, nothing to spill. */
#define FRD m->f[rec->rd]
#define FRS1 m->f[rec->rs1]
#define FRS2 m->f[rec->rs2]
#define FRS3 m->f[((unsigned)rec->imm >> 3) & 31]
    /* The rounding mode of the instruction, frm for DYN (as stock
     * compilers emit nearly everywhere: a select, not a jump); frm 5..7
     * then makes it illegal. */
#define FP_RM ({                                                            \
        const unsigned s_ = (unsigned)rec->imm & 7, f_ = m->frm;            \
        const unsigned r_ = s_ == RV_RM_DYN ? f_ : s_;                      \
        if (RV_UNLIKELY(r_ > RV_RM_RMM))                                    \
            goto illegal_rm;                                                \
        r_;                                                                 \
    })
    /*
     * The one call out of the FP handlers: whatever a handler does not
     * finish inline (another rounding mode, a NaN, an edge result, a
     * conversion the host cannot do exactly) goes to fpexec.c from here.
     * With a call in each handler, the compiler kept the integer
     * handlers' state (the budget left, the page's records, the memory
     * size) on the stack rather than in registers.
     */
#define FP_SLOW(op) do { fp_op = RV_OP_##op; goto fp_slow; } while (0)
#define FP_EDGE(op) do { fp_op = RV_OP_##op; goto fp_edge; } while (0)
    /* Arithmetic in RNE on the host: two operands (or sqrt's one) and the
     * fused multiply-adds (na, nc negate the product and the addend). */
#define FP_ARITH(op, T, LD, BITS, EDGE, REBOX, ok, expr) do {               \
        const unsigned rm = FP_RM;      /* checked even if unused */        \
        if (RV_FP_HOST && RV_LIKELY(rm == RV_RM_RNE && (ok))) {             \
            const T x = LD(FRS1), y = LD(FRS2);                             \
            (void)y;                                                        \
            const uint64_t r = BITS(expr);                                  \
            if (RV_UNLIKELY(EDGE(r)))                                       \
                FP_EDGE(op);                                                \
            FRD = REBOX(r);                                                 \
            NEXT;                                                           \
        }                                                                   \
        FP_SLOW(op);                                                        \
    } while (0)
#define FP_S2(op, expr) FP_ARITH(op, float, F_REG, F32_BITS, EDGE_S, BOX, 1, expr)
#define FP_D2(op, expr) FP_ARITH(op, double, D_REG, D_BITS, EDGE_D, NO_BOX, 1, expr)
#define FP_S3(op, na, nc) FP_ARITH(op, float, F_REG, F32_BITS, EDGE_S, BOX, HOST_FMA_OK, \
        HOST_FMA(float, "ss", NEGF(x, na), y, NEGF(F_REG(FRS3), nc)))
#define FP_D3(op, na, nc) FP_ARITH(op, double, D_REG, D_BITS, EDGE_D, NO_BOX, HOST_FMA_OK, \
        HOST_FMA(double, "sd", NEGF(x, na), y, NEGF(D_REG(FRS3), nc)))
#define NO_BOX(v) (v)
    /* A single operand: an improperly boxed one is the canonical NaN, whose
     * result is a NaN, an edge result. */
#define F_REG(reg) F32_OF(UNBOX(reg))
    /* Sign flip: exact, raises nothing. */
#define NEGF(v, neg) ((neg) ? -(v) : (v))
    /* FEQ, FLT, FLE: the host's quiet compare (IEEE fixes the answer and
     * raises nothing) unless a NaN is involved. */
#define FP_CMP(op, T, LD, cmp) do {                                         \
        if (RV_FP_HOST) {                                                   \
            const T hx_ = LD(FRS1), hy_ = LD(FRS2);                         \
            if (RV_LIKELY(!__builtin_isunordered(hx_, hy_))) {              \
                RD = cmp(hx_, hy_);                                         \
                NEXT;                                                       \
            }                                                               \
            FP_EDGE(op);                                                    \
        }                                                                   \
        FP_SLOW(op);                                                        \
    } while (0)
#define CMP_EQ(x, y) (!__builtin_islessgreater(x, y))
#define CMP_LT(x, y) __builtin_isless(x, y)
#define CMP_LE(x, y) __builtin_islessequal(x, y)
    /* FMIN, FMAX without NaNs: integer order keys. */
#define FP_MINMAX(op, UNB, REBOX, NAN, KEY, max) do {                       \
        const uint64_t a = UNB(FRS1), b = UNB(FRS2);                        \
        if (RV_UNLIKELY(NAN(a) || NAN(b)))                                  \
            FP_SLOW(op);                                                    \
        FRD = REBOX((KEY(a) < KEY(b)) != (max) ? a : b);                    \
        NEXT;                                                               \
    } while (0)
    /* FCVT to an integer in RTZ (C's casts) on the host when the value is
     * surely in range: truncation is exact IEEE, NX lands in the host's
     * flags. The limit is on the biased exponent: |x| < 2^k for
     * e < bias + k; the sign bit sits just above the exponent. */
#define FP_TO_INT(op, bits, OF, SHIFT, EMASK, BIAS) do {                    \
        const unsigned rm = FP_RM, kind = ((unsigned)rec->imm >> 3) & 3;    \
        const uint64_t a = (bits);                                          \
        const unsigned se = (unsigned)(a >> (SHIFT));                       \
        static const uint8_t k_[8] = {31, 31, 32, 0, 63, 63, 63, 0};        \
        if (RV_FP_HOST && rm == RV_RM_RTZ &&                                \
            (se & (EMASK)) < (unsigned)(BIAS) + k_[kind * 2 + (se > (EMASK))]) { \
            const int64_t t_ = (int64_t)OF(a);                              \
            RD = kind < RV_CVT_L ? SX32(t_) : (uint64_t)t_;                 \
            NEXT;                                                           \
        }                                                                   \
        FP_SLOW(op);                                                        \
    } while (0)
    /* The integer operand of FCVT.S/D.*: W sign-extended, WU zero-extended. */
#define INT_OPERAND(v, kind) ((kind) == RV_CVT_W ? (int64_t)(int32_t)(v) :    \
                              (kind) == RV_CVT_WU ? (int64_t)(uint32_t)(v) : (int64_t)(v))
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

fp_edge:
    fp_host = 1;
fp_slow:
    rv_fp_slow(m, fp_op, rec, fp_host);
    fp_host = 0;
    rec = (const rv_op *)((const char *)rec + rec->next);
    goto *rec->h;

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
