/*
 * internal.h: what the core's C files share and Python never sees.
 */
#ifndef RV_INTERNAL_H
#define RV_INTERNAL_H

#include "rvcore.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "rvdist's core assumes a little-endian host (guest memory is accessed in place)"
#endif

/* rvcore.h writes array sizes as numbers (cffi parses it too): tie each to
 * the constant it stands for. */
#define RV_COUNT(type, field) (sizeof(((type *)0)->field) / sizeof(((type *)0)->field[0]))
_Static_assert(RV_COUNT(rv_machine, cost) == RV_NCLASSES, "rv_machine.cost: one per cost class");
_Static_assert(RV_COUNT(rv_machine, x) == 33, "rv_machine.x: 32 registers and the x0 sink");
_Static_assert(RV_COUNT(rv_snap_record, costs) == RV_NCLASSES, "rv_snap_record.costs: one per class");
_Static_assert(RV_COUNT(rv_snap_record, text_len) == RV_SNAP_TEXTS, "rv_snap_record.text_len");
_Static_assert(RV_COUNT(rv_snap_record, x) == 32, "rv_snap_record.x: the 32 registers");
_Static_assert(RV_COUNT(rv_machine, f) == 32, "rv_machine.f: the 32 FP registers");
_Static_assert(RV_COUNT(rv_snap_record, f) == 32, "rv_snap_record.f: the 32 FP registers");
_Static_assert(RV_COUNT(rv_snap_record, error) == 6, "rv_snap_record.error: six words");
_Static_assert(RV_COUNT(rv_snap_record, brk) == 3, "rv_snap_record.brk: brk, brk_min, brk_max");
/* The record is format version RV_SNAP_FORMAT's: a change of its size is a new format. */
_Static_assert(RV_SNAP_FORMAT != 3 || sizeof(rv_snap_record) == 976,
               "rv_snap_record changed: bump RV_SNAP_FORMAT and docs/snapshot-format.md");
_Static_assert(RV_SNAP_BLOCK_ENTRY == 4 * sizeof(uint32_t), "a block table entry is four u32");

#define RV_LIKELY(x) __builtin_expect(!!(x), 1)
#define RV_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * Every operation the interpreter knows, after compressed instructions are
 * expanded. X(name, cost class, ends a block). A block ends at any control
 * transfer and at anything that leaves the dispatch loop, so that cycles are
 * exact whenever the machine stops.
 */
#define RV_OPS(X)                                                            \
    X(ILLEGAL, ALU, 1) X(FETCH_FAULT, ALU, 1) X(PAGE_END, ALU, 1)            \
    X(STEP_TRAP, ALU, 1) X(NOP, ALU, 0)                                      \
    X(LUI, ALU, 0) X(AUIPC, ALU, 0) X(JAL, JUMP, 1) X(JALR, JUMP, 1)         \
    X(BEQ, JUMP, 1) X(BNE, JUMP, 1) X(BLT, JUMP, 1) X(BGE, JUMP, 1)          \
    X(BLTU, JUMP, 1) X(BGEU, JUMP, 1)                                        \
    X(JAL_N, JUMP, 1) X(BEQ_N, JUMP, 1) X(BNE_N, JUMP, 1) X(BLT_N, JUMP, 1)  \
    X(BGE_N, JUMP, 1) X(BLTU_N, JUMP, 1) X(BGEU_N, JUMP, 1)                  \
    X(LB, MEM, 0) X(LH, MEM, 0) X(LW, MEM, 0) X(LD, MEM64, 0)                \
    X(LBU, MEM, 0) X(LHU, MEM, 0) X(LWU, MEM, 0)                             \
    X(SB, MEM, 0) X(SH, MEM, 0) X(SW, MEM, 0) X(SD, MEM64, 0)                \
    X(ADDI, ALU, 0) X(SLTI, ALU, 0) X(SLTIU, ALU, 0) X(XORI, ALU, 0)         \
    X(ORI, ALU, 0) X(ANDI, ALU, 0) X(SLLI, ALU, 0) X(SRLI, ALU, 0)           \
    X(SRAI, ALU, 0)                                                          \
    X(ADD, ALU, 0) X(SUB, ALU, 0) X(SLL, ALU, 0) X(SLT, ALU, 0)              \
    X(SLTU, ALU, 0) X(XOR, ALU, 0) X(SRL, ALU, 0) X(SRA, ALU, 0)             \
    X(OR, ALU, 0) X(AND, ALU, 0)                                             \
    X(ADDIW, ALU, 0) X(SLLIW, ALU, 0) X(SRLIW, ALU, 0) X(SRAIW, ALU, 0)      \
    X(ADDW, ALU, 0) X(SUBW, ALU, 0) X(SLLW, ALU, 0) X(SRLW, ALU, 0)          \
    X(SRAW, ALU, 0)                                                          \
    X(ECALL, SYSTEM, 1) X(EBREAK, SYSTEM, 1)                                 \
    X(MUL, MUL, 0) X(MULH, MUL, 0) X(MULHSU, MUL, 0) X(MULHU, MUL, 0)        \
    X(DIV, DIV, 0) X(DIVU, DIV, 0) X(REM, DIV, 0) X(REMU, DIV, 0)            \
    X(MULW, MUL, 0) X(DIVW, DIV, 0) X(DIVUW, DIV, 0) X(REMW, DIV, 0)         \
    X(REMUW, DIV, 0)                                                         \
    X(LR_W, ATOMIC_W, 0) X(SC_W, ATOMIC_W, 0) X(AMOSWAP_W, ATOMIC_W, 0)      \
    X(AMOADD_W, ATOMIC_W, 0) X(AMOXOR_W, ATOMIC_W, 0)                        \
    X(AMOAND_W, ATOMIC_W, 0) X(AMOOR_W, ATOMIC_W, 0)                         \
    X(AMOMIN_W, ATOMIC_W, 0) X(AMOMAX_W, ATOMIC_W, 0)                        \
    X(AMOMINU_W, ATOMIC_W, 0) X(AMOMAXU_W, ATOMIC_W, 0)                      \
    X(LR_D, ATOMIC_D, 0) X(SC_D, ATOMIC_D, 0) X(AMOSWAP_D, ATOMIC_D, 0)      \
    X(AMOADD_D, ATOMIC_D, 0) X(AMOXOR_D, ATOMIC_D, 0)                        \
    X(AMOAND_D, ATOMIC_D, 0) X(AMOOR_D, ATOMIC_D, 0)                         \
    X(AMOMIN_D, ATOMIC_D, 0) X(AMOMAX_D, ATOMIC_D, 0)                        \
    X(AMOMINU_D, ATOMIC_D, 0) X(AMOMAXU_D, ATOMIC_D, 0)                      \
    X(SH1ADD, ALU, 0) X(SH2ADD, ALU, 0) X(SH3ADD, ALU, 0)                    \
    X(ADD_UW, ALU, 0) X(SH1ADD_UW, ALU, 0) X(SH2ADD_UW, ALU, 0)              \
    X(SH3ADD_UW, ALU, 0) X(SLLI_UW, ALU, 0)                                  \
    X(ANDN, ALU, 0) X(ORN, ALU, 0) X(XNOR, ALU, 0)                           \
    X(CLZ, ALU, 0) X(CTZ, ALU, 0) X(CPOP, ALU, 0)                            \
    X(CLZW, ALU, 0) X(CTZW, ALU, 0) X(CPOPW, ALU, 0)                         \
    X(MAX, ALU, 0) X(MAXU, ALU, 0) X(MIN, ALU, 0) X(MINU, ALU, 0)            \
    X(SEXT_B, ALU, 0) X(SEXT_H, ALU, 0) X(ZEXT_H, ALU, 0)                    \
    X(ROL, ALU, 0) X(ROR, ALU, 0) X(RORI, ALU, 0)                            \
    X(ROLW, ALU, 0) X(RORW, ALU, 0) X(RORIW, ALU, 0)                         \
    X(ORC_B, ALU, 0) X(REV8, ALU, 0)                                         \
    X(CLMUL, ALU, 0) X(CLMULH, ALU, 0) X(CLMULR, ALU, 0)                     \
    X(BCLR, ALU, 0) X(BCLRI, ALU, 0) X(BEXT, ALU, 0) X(BEXTI, ALU, 0)        \
    X(BINV, ALU, 0) X(BINVI, ALU, 0) X(BSET, ALU, 0) X(BSETI, ALU, 0)        \
    X(FLW, FP_MEM, 0) X(FLD, FP_MEM, 0) X(FSW, FP_MEM, 0) X(FSD, FP_MEM, 0)  \
    X(FMADD_S, FP_FMA, 0) X(FMSUB_S, FP_FMA, 0) X(FNMSUB_S, FP_FMA, 0)       \
    X(FNMADD_S, FP_FMA, 0) X(FMADD_D, FP_FMA, 0) X(FMSUB_D, FP_FMA, 0)       \
    X(FNMSUB_D, FP_FMA, 0) X(FNMADD_D, FP_FMA, 0)                            \
    X(FADD_S, FP, 0) X(FSUB_S, FP, 0) X(FMUL_S, FP, 0) X(FDIV_S, FP_DIV, 0)  \
    X(FSQRT_S, FP_DIV, 0)                                                    \
    X(FADD_D, FP, 0) X(FSUB_D, FP, 0) X(FMUL_D, FP, 0) X(FDIV_D, FP_DIV, 0)  \
    X(FSQRT_D, FP_DIV, 0)                                                    \
    X(FSGNJ_S, FP, 0) X(FSGNJN_S, FP, 0) X(FSGNJX_S, FP, 0)                  \
    X(FSGNJ_D, FP, 0) X(FSGNJN_D, FP, 0) X(FSGNJX_D, FP, 0)                  \
    X(FMIN_S, FP, 0) X(FMAX_S, FP, 0) X(FMIN_D, FP, 0) X(FMAX_D, FP, 0)      \
    X(FCVT_S_D, FP, 0) X(FCVT_D_S, FP, 0)                                    \
    X(FEQ_S, FP, 0) X(FLT_S, FP, 0) X(FLE_S, FP, 0)                          \
    X(FEQ_D, FP, 0) X(FLT_D, FP, 0) X(FLE_D, FP, 0)                          \
    X(FCVT_I_S, FP, 0) X(FCVT_I_D, FP, 0) X(FCVT_S_I, FP, 0)                 \
    X(FCVT_D_I, FP, 0)                                                       \
    X(FMV_X_W, FP, 0) X(FMV_W_X, FP, 0) X(FMV_X_D, FP, 0) X(FMV_D_X, FP, 0)  \
    X(FCLASS_S, FP, 0) X(FCLASS_D, FP, 0)                                    \
    X(CSR_FP, CSR, 0) X(CSR_COUNTER, CSR, 1)

enum rv_opcode {
#define RV_OP_ENUM(name, cls, term) RV_OP_##name,
    RV_OPS(RV_OP_ENUM)
#undef RV_OP_ENUM
    RV_OP_COUNT
};

/*
 * One decoded instruction. h is the address of its handler inside rv_run
 * (threaded code); rd is never 0 (writes to x0 go to the sink x[32]); next
 * is the byte distance to the next record (16 per halfword of instruction),
 * kept pre-scaled so stepping is one add. The *_N forms of jumps and
 * branches have their target on the same page: imm is then the distance to
 * the target record in records.
 */
typedef struct rv_op {
    const void *h;
    int32_t imm;
    uint8_t rd, rs1, rs2, next;
} rv_op;

/* Records exist for every halfword of a page, plus two sentinels that a
 * sequential run off the page end lands on. */
#define RV_SLOTS (RV_PAGE_SIZE / 2)
#define RV_SLOTS_ALL (RV_SLOTS + 2)

/*
 * A decoded code page. suffix[i] is the cost of running from slot i to the
 * end of its block (inclusive); charging it on block entry lets straight-line
 * code run without a budget check per instruction. cost[i] is slot i's own
 * cost: the slow path steps one instruction at a time near the budget, and a
 * fault mid-block refunds suffix[i] - cost[i].
 */
typedef struct rv_page {
    rv_op ops[RV_SLOTS_ALL];
    uint32_t suffix[RV_SLOTS_ALL];
    uint32_t cost[RV_SLOTS_ALL];
} rv_page;

/* decode.c: fill pg with op numbers (in h) for page index `page`. */
void rv_decode_page(const rv_machine *m, uint64_t page, rv_page *pg);

/* exec.c: decoded page for a code page, decoding it on first use; NULL if
 * the page is not executable. */
rv_page *rv_code_page(rv_machine *m, uint64_t page);
void rv_drop_code(rv_machine *m);

/* machine.c: check that [addr, addr+len) may be written and mark it dirty.
 * Returns 0 or the RV_ERR_* kind; marks nothing on error. */
int rv_store_check(rv_machine *m, uint64_t addr, uint64_t len);

/* Page bitmaps (rv_machine.used, .stale and .zeroed): a bit per page. */
#define RV_BITMAP_WORDS(npages) (((npages) + 63) >> 6)

static inline int rv_bit_test(const uint64_t *map, uint64_t p)
{
    return (int)((map[p >> 6] >> (p & 63)) & 1);
}

static inline void rv_bit_set(uint64_t *map, uint64_t p)
{
    map[p >> 6] |= (uint64_t)1 << (p & 63);
}

static inline void rv_bit_clear(uint64_t *map, uint64_t p)
{
    map[p >> 6] &= ~((uint64_t)1 << (p & 63));
}

/* Room for one more entry in a full growable table: `ptr` (any pointer type)
 * and `cap` (its capacity in entries, any unsigned type) are lvalues, read
 * more than once. The capacity doubles, or starts at `first` when it is 0.
 * 0, or -1 when memory runs out, leaving the table and its capacity as they
 * were. A macro so that each table keeps its own types (the caller includes
 * <stdlib.h>). */
#define RV_GROW(ptr, cap, first)                                                  \
    __extension__({                                                               \
        __typeof__(cap) grow_cap_ = (cap) ? 2 * (cap) : (first);                  \
        __typeof__(ptr) grow_ptr_ = realloc((ptr), grow_cap_ * sizeof *grow_ptr_); \
        if (grow_ptr_) {                                                          \
            (ptr) = grow_ptr_;                                                    \
            (cap) = grow_cap_;                                                    \
        }                                                                         \
        grow_ptr_ ? 0 : -1;                                                       \
    })

/* mempool.c: guest memory mappings, fresh or reused. dirty marks the pages
 * that may hold nonzero bytes (a fresh mapping has none). */
typedef struct rv_region {
    uint8_t *mem;
    uint64_t size;
    uint64_t *dirty;
} rv_region;

/* A mapping of size bytes, from the pool if it holds one. 0, or -1 if out of memory. */
int rv_region_take(uint64_t size, rv_region *r);
/* Hand a mapping (and its dirty bitmap) back: the pool keeps it or unmaps it. */
void rv_region_give(rv_region *r);
/* Whether the pool would keep a mapping of this size (else rv_free can skip
 * working out its dirty pages). */
int rv_pool_would_keep(uint64_t size);

/* snapshot.c: whether a page holds only zeros. */
int rv_page_is_zero(const uint8_t *p);

/* crc32.c: copy n whole pages from src to the pages of mem listed, returning
 * zlib's crc32(crc, src, n * RV_PAGE_SIZE), computed in the same pass. */
uint32_t rv_crc32_scatter(uint32_t crc, const uint8_t *src, uint8_t *mem, const uint32_t *pages,
                          uint64_t n);

/* snapformat.c: one u32 of the encoded format, read at any alignment. */
static inline uint32_t rv_rd32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}

/* snapformat.c: whether an encoded page block table of n_blocks entries is
 * sound (each block 1..64 pages, not empty, raw blocks exactly their pages'
 * size) and adds up to n_data pages; then *bytes is what the blocks take and
 * *n_raw how many are raw. */
int rv_snap_blocks_sound(const uint8_t *table, uint64_t n_blocks, uint64_t n_data, uint64_t *bytes,
                         uint64_t *n_raw);

/*
 * fp.c: F and D operations in integer code (bit-identical on every host).
 * fmt 0 is binary32 (its bits in the low half), 1 binary64; rm is one of
 * RV_RM_RNE..RV_RM_RMM; exception flags are ORed into *flags.
 */
#define RV_CANONICAL_NAN_S 0x7fc00000
#define RV_CANONICAL_NAN_D 0x7ff8000000000000
/* Integer formats of FCVT (the rs2 field of the encoding). */
#define RV_CVT_W 0
#define RV_CVT_WU 1
#define RV_CVT_L 2
#define RV_CVT_LU 3
/* Compare operations (the funct3 field of FEQ/FLT/FLE). */
#define RV_CMP_LE 0
#define RV_CMP_LT 1
#define RV_CMP_EQ 2

uint64_t rv_fp_canonical_nan(int fmt);
uint64_t rv_fp_add(int fmt, uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t rv_fp_mul(int fmt, uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t rv_fp_div(int fmt, uint64_t a, uint64_t b, int rm, uint32_t *flags);
uint64_t rv_fp_sqrt(int fmt, uint64_t a, int rm, uint32_t *flags);
uint64_t rv_fp_fma(int fmt, uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags);
/* Between formats: to is the destination fmt. */
uint64_t rv_fp_cvt_ff(int to, uint64_t a, int rm, uint32_t *flags);
/* kind is RV_CVT_*; to_int gives the register value (32-bit results sign-extended). */
uint64_t rv_fp_from_int(int fmt, uint64_t v, int kind, int rm, uint32_t *flags);
uint64_t rv_fp_to_int(int fmt, uint64_t a, int kind, int rm, uint32_t *flags);
uint64_t rv_fp_class(int fmt, uint64_t a);
uint64_t rv_fp_minmax(int fmt, uint64_t a, uint64_t b, int max, uint32_t *flags);
uint64_t rv_fp_compare(int fmt, uint64_t a, uint64_t b, int op, uint32_t *flags);

/*
 * Whether rv_run uses the host FPU for + - * / sqrt fma in
 * round-to-nearest-even (docs/floating-point.md). Only on hosts whose
 * behaviour was checked: x86-64 (SSE, tininess after rounding, like RISC-V)
 * and aarch64 (tininess before rounding, corrected in handlers.inc). A build
 * with RV_FP_SOFT (RVDIST_FP_SOFT=1) uses fp.c for everything.
 */
#if !defined(RV_FP_SOFT) && (defined(__x86_64__) || defined(__aarch64__))
#define RV_FP_HOST 1
#else
#define RV_FP_HOST 0
#endif

#include <fenv.h>
/* The caller's FP control and status, saved around a run. */
typedef struct rv_fp_env {
    fenv_t env;             /* hosts other than x86-64 and aarch64 */
    uint64_t control;       /* MXCSR, or FPCR */
    uint64_t status;        /* FPSR */
} rv_fp_env;

/*
 * The host FPU's sticky flags while a guest runs (docs/floating-point.md).
 * The dispatch loop keeps one invariant: the only flag the host may hold
 * that is not yet in m->fflags is NX. A host operation can raise anything
 * else only with a result that is NaN, infinite, zero, subnormal or the
 * smallest normal; the handler sends those to rv_fp_slow, which takes the
 * host's flags at once and computes the exact ones. So a read of fflags
 * needs the host only while m->fflags lacks NX, and a write needs it only
 * when the value written lacks NX (the host's NX must then go).
 */
/* The host's sticky flags, as fflags bits, when any flag but NX is up
 * (and then clears them all); otherwise 0, leaving the host's NX. */
uint32_t rv_fp_host_take_rare(void);
/* NX if the host's inexact flag is up, else 0; clears nothing. */
uint32_t rv_fp_host_nx(void);
/* Clear the host's sticky flags. */
void rv_fp_host_clear(void);
/* fpexec.c: execute F/D/FP-CSR instruction rec (operation op) whole in
 * integer code, after its handler's rounding-mode check. host says that
 * the handler computed it on the host and found an edge result (its host
 * flags are then replaced by the exact ones). */
void rv_fp_slow(rv_machine *m, unsigned op, const rv_op *rec, int host);
/* Whether an x86-64 host has FMA3 (the dispatch loop then fuses inline
 * rather than calling libm's fma); 0 on other hosts. */
int rv_fp_host_fma(void);
/* Around a run: save the caller's FP environment and install the default
 * one; fold the flags into m->fflags (m may be NULL) and restore. */
void rv_fp_enter(rv_fp_env *saved);
void rv_fp_leave(rv_machine *m, const rv_fp_env *saved);

/* syscall.c: handle the ecall at pc. Returns RV_READY to continue at pc + 4,
 * or RV_EXITED / RV_ERROR / RV_HOST_CALL with the machine updated. */
int rv_syscall(rv_machine *m, uint64_t pc);

#endif
