/*
 * fpexec.c: the F, D and FP-CSR instructions that the dispatch loop does not
 * finish itself, executed whole in integer code.
 *
 * The handlers (handlers_fp.inc) keep only the common case inline: host
 * arithmetic in round-to-nearest-even with an ordinary result, compares and
 * min/max without NaNs, conversions that are exact on the host, CSR accesses
 * that need not touch the host's flags. Everything else comes here, through
 * one call in the loop: a call per handler would clobber the caller-saved
 * registers that the integer handlers keep their state in, and the loop as a
 * whole would run slower.
 *
 * Every instruction reads all its operands before it writes its result, and
 * its rounding mode has been checked by the handler (DYN with frm 5..7 never
 * gets here).
 */
#include "internal.h"

#define SIGN_S ((uint64_t)0x80000000)
#define SIGN_D ((uint64_t)1 << 63)

static uint64_t box(uint64_t v)
{
    return (uint64_t)(uint32_t)v | 0xffffffff00000000ull;
}

/* A single read from an FP register: improperly NaN-boxed is the canonical NaN. */
static uint64_t unbox(uint64_t v)
{
    return (v >> 32) == 0xffffffff ? (uint32_t)v : RV_CANONICAL_NAN_S;
}

/* The FP CSRs, with the host's flags kept as internal.h says: only NX may be
 * pending there, so a read needs the host only while fflags lacks NX, and a
 * write of a value without NX clears the host's NX. */
static uint64_t csr_fp(rv_machine *m, unsigned csr, unsigned f3, uint64_t src, int reads)
{
    const int swap = (f3 & 3) == 1;     /* CSRRW(I) */
    int host_clear = 0;                 /* known: no NX pending in the host */
    if (RV_FP_HOST && csr != 2 && !(m->fflags & RV_FFLAG_NX) && (reads || !swap)) {
        const uint32_t nx = rv_fp_host_nx();
        m->fflags |= nx;
        host_clear = !nx;
    }
    const uint64_t old = csr == 1 ? m->fflags : csr == 2 ? m->frm : (m->frm << 5 | m->fflags);
    const uint64_t v = swap ? src : (f3 & 3) == 2 ? (old | src) : (old & ~src);
    if (csr == 2) {
        m->frm = (uint32_t)v & 7;
    } else {
        if (RV_FP_HOST && !(v & RV_FFLAG_NX) && !host_clear)
            rv_fp_host_clear();
        m->fflags = (uint32_t)v & 31;
        if (csr == 3)
            m->frm = (uint32_t)(v >> 5) & 7;
    }
    return old;
}

void rv_fp_slow(rv_machine *m, unsigned op, const rv_op *rec, int host)
{
    /* After a host operation whose result is an edge case: the host's flags
     * for it are replaced by the exact ones computed here. Any other flag
     * pending in the host is NX from earlier operations (internal.h). */
    if (host)
        m->fflags |= rv_fp_host_take_rare() & RV_FFLAG_NX;
    uint64_t *const f = m->f, *const x = m->x;
    uint32_t *const fl = &m->fflags;
    const unsigned rd = rec->rd, imm = (unsigned)rec->imm;
    const uint64_t a = f[rec->rs1], b = f[rec->rs2], c = f[(imm >> 3) & 31];
    const uint64_t as = unbox(a), bs = unbox(b), cs = unbox(c);
    const int rm = (imm & 7) == RV_RM_DYN ? (int)m->frm : (int)(imm & 7);
    const int kind = (imm >> 3) & 3;
    switch (op) {
    case RV_OP_FADD_S: f[rd] = box(rv_fp_add(0, as, bs, rm, fl)); break;
    case RV_OP_FSUB_S: f[rd] = box(rv_fp_add(0, as, bs ^ SIGN_S, rm, fl)); break;
    case RV_OP_FMUL_S: f[rd] = box(rv_fp_mul(0, as, bs, rm, fl)); break;
    case RV_OP_FDIV_S: f[rd] = box(rv_fp_div(0, as, bs, rm, fl)); break;
    case RV_OP_FSQRT_S: f[rd] = box(rv_fp_sqrt(0, as, rm, fl)); break;
    case RV_OP_FADD_D: f[rd] = rv_fp_add(1, a, b, rm, fl); break;
    case RV_OP_FSUB_D: f[rd] = rv_fp_add(1, a, b ^ SIGN_D, rm, fl); break;
    case RV_OP_FMUL_D: f[rd] = rv_fp_mul(1, a, b, rm, fl); break;
    case RV_OP_FDIV_D: f[rd] = rv_fp_div(1, a, b, rm, fl); break;
    case RV_OP_FSQRT_D: f[rd] = rv_fp_sqrt(1, a, rm, fl); break;
    case RV_OP_FMADD_S: f[rd] = box(rv_fp_fma(0, as, bs, cs, rm, fl)); break;
    case RV_OP_FMSUB_S: f[rd] = box(rv_fp_fma(0, as, bs, cs ^ SIGN_S, rm, fl)); break;
    case RV_OP_FNMSUB_S: f[rd] = box(rv_fp_fma(0, as ^ SIGN_S, bs, cs, rm, fl)); break;
    case RV_OP_FNMADD_S: f[rd] = box(rv_fp_fma(0, as ^ SIGN_S, bs, cs ^ SIGN_S, rm, fl)); break;
    case RV_OP_FMADD_D: f[rd] = rv_fp_fma(1, a, b, c, rm, fl); break;
    case RV_OP_FMSUB_D: f[rd] = rv_fp_fma(1, a, b, c ^ SIGN_D, rm, fl); break;
    case RV_OP_FNMSUB_D: f[rd] = rv_fp_fma(1, a ^ SIGN_D, b, c, rm, fl); break;
    case RV_OP_FNMADD_D: f[rd] = rv_fp_fma(1, a ^ SIGN_D, b, c ^ SIGN_D, rm, fl); break;
    case RV_OP_FMIN_S: f[rd] = box(rv_fp_minmax(0, as, bs, 0, fl)); break;
    case RV_OP_FMAX_S: f[rd] = box(rv_fp_minmax(0, as, bs, 1, fl)); break;
    case RV_OP_FMIN_D: f[rd] = rv_fp_minmax(1, a, b, 0, fl); break;
    case RV_OP_FMAX_D: f[rd] = rv_fp_minmax(1, a, b, 1, fl); break;
    case RV_OP_FEQ_S: x[rd] = rv_fp_compare(0, as, bs, RV_CMP_EQ, fl); break;
    case RV_OP_FLT_S: x[rd] = rv_fp_compare(0, as, bs, RV_CMP_LT, fl); break;
    case RV_OP_FLE_S: x[rd] = rv_fp_compare(0, as, bs, RV_CMP_LE, fl); break;
    case RV_OP_FEQ_D: x[rd] = rv_fp_compare(1, a, b, RV_CMP_EQ, fl); break;
    case RV_OP_FLT_D: x[rd] = rv_fp_compare(1, a, b, RV_CMP_LT, fl); break;
    case RV_OP_FLE_D: x[rd] = rv_fp_compare(1, a, b, RV_CMP_LE, fl); break;
    case RV_OP_FCLASS_S: x[rd] = rv_fp_class(0, as); break;
    case RV_OP_FCLASS_D: x[rd] = rv_fp_class(1, a); break;
    case RV_OP_FCVT_S_D: f[rd] = box(rv_fp_cvt_ff(0, a, rm, fl)); break;
    case RV_OP_FCVT_D_S: f[rd] = rv_fp_cvt_ff(1, as, rm, fl); break;
    case RV_OP_FCVT_I_S: x[rd] = rv_fp_to_int(0, as, kind, rm, fl); break;
    case RV_OP_FCVT_I_D: x[rd] = rv_fp_to_int(1, a, kind, rm, fl); break;
    case RV_OP_FCVT_S_I: f[rd] = box(rv_fp_from_int(0, x[rec->rs1], kind, rm, fl)); break;
    case RV_OP_FCVT_D_I: f[rd] = rv_fp_from_int(1, x[rec->rs1], kind, rm, fl); break;
    case RV_OP_CSR_FP: {
        /* rs1 holds the register or, for the immediate forms, the uimm. */
        const unsigned csr = imm & 0xfff, f3 = (imm >> 12) & 7;
        const uint64_t src = (f3 & 4) ? rec->rs1 : x[rec->rs1];
        x[rd] = csr_fp(m, csr, f3, src, rd != 32);
        break;
    }
    default:
        break;
    }
}
