/*
 * decode.c: turn a code page into compact records, once.
 *
 * Every halfword of the page gets a record as if an instruction started
 * there, so a jump to any even address finds its record by index. Code
 * pages are executable and so can never be written (W^X): records never go
 * stale. Compressed instructions are expanded here into the same operations
 * as their 32-bit forms.
 */
#include <string.h>

#include "internal.h"

static const uint8_t op_class[RV_OP_COUNT] = {
#define RV_OP_CLASS(name, cls, term) [RV_OP_##name] = RV_CLASS_##cls,
    RV_OPS(RV_OP_CLASS)
#undef RV_OP_CLASS
};

static const uint8_t op_ends_block[RV_OP_COUNT] = {
#define RV_OP_TERM(name, cls, term) [RV_OP_##name] = term,
    RV_OPS(RV_OP_TERM)
#undef RV_OP_TERM
};

/* Field extraction for 32-bit encodings. */
#define RD(i) (((i) >> 7) & 31)
#define RS1(i) (((i) >> 15) & 31)
#define RS2(i) (((i) >> 20) & 31)
#define F3(i) (((i) >> 12) & 7)
#define F7(i) ((i) >> 25)

static int32_t imm_i(uint32_t i) { return (int32_t)i >> 20; }
static int32_t imm_s(uint32_t i) { return ((int32_t)i >> 25 << 5) | (int32_t)((i >> 7) & 31); }
static int32_t imm_b(uint32_t i)
{
    return ((int32_t)i >> 31 << 12) | (int32_t)(((i >> 7) & 1) << 11) |
           (int32_t)(((i >> 25) & 0x3f) << 5) | (int32_t)(((i >> 8) & 0xf) << 1);
}
static int32_t imm_j(uint32_t i)
{
    return ((int32_t)i >> 31 << 20) | (int32_t)(i & 0xff000) |
           (int32_t)(((i >> 20) & 1) << 11) | (int32_t)(((i >> 21) & 0x3ff) << 1);
}
static int32_t sext(uint32_t v, int bits) { return (int32_t)(v << (32 - bits)) >> (32 - bits); }

typedef struct {
    int op;
    int rd, rs1, rs2;
    int32_t imm;
    int frd;        /* rd names an FP register: f0 is a real one, not the sink */
} insn;

static insn mk(int op, int rd, int rs1, int rs2, int32_t imm)
{
    insn r = {op, rd, rs1, rs2, imm, 0};
    return r;
}

static insn mkf(int op, int rd, int rs1, int rs2, int32_t imm)
{
    insn r = {op, rd, rs1, rs2, imm, 1};
    return r;
}

/* A static rounding mode, or DYN (checked against frm when it runs). */
static int rm_ok(int rm)
{
    return rm <= RV_RM_RMM || rm == RV_RM_DYN;
}

#define ILL mk(RV_OP_ILLEGAL, 0, 0, 0, (int32_t)bits)

/*
 * OP-FP. Records keep the rounding mode in imm bits 0-2 and, for
 * conversions to or from integers, the integer format in bits 3-4. Every
 * instruction with an rm field has it checked, even where it cannot change
 * the result (FCVT.D.S, FCVT.D.W), as QEMU and Spike do.
 */
static insn decode_opfp(uint32_t bits)
{
    const uint32_t i = bits;
    const int rd = RD(i), rs1 = RS1(i), rs2 = RS2(i), f3 = F3(i), f7 = F7(i);
    if ((f7 & 3) > 1)
        return ILL;     /* half and quad precision */
    const int d = f7 & 1;
    switch (f7 >> 2) {
    case 0x00: case 0x01: case 0x02: case 0x03: {
        static const int ops[2][4] = {
            {RV_OP_FADD_S, RV_OP_FSUB_S, RV_OP_FMUL_S, RV_OP_FDIV_S},
            {RV_OP_FADD_D, RV_OP_FSUB_D, RV_OP_FMUL_D, RV_OP_FDIV_D}};
        if (!rm_ok(f3))
            return ILL;
        return mkf(ops[d][f7 >> 2], rd, rs1, rs2, f3);
    }
    case 0x0b:
        if (rs2 != 0 || !rm_ok(f3))
            return ILL;
        return mkf(d ? RV_OP_FSQRT_D : RV_OP_FSQRT_S, rd, rs1, 0, f3);
    case 0x04: {
        static const int ops[2][3] = {{RV_OP_FSGNJ_S, RV_OP_FSGNJN_S, RV_OP_FSGNJX_S},
                                      {RV_OP_FSGNJ_D, RV_OP_FSGNJN_D, RV_OP_FSGNJX_D}};
        if (f3 > 2)
            return ILL;
        return mkf(ops[d][f3], rd, rs1, rs2, 0);
    }
    case 0x05:
        if (f3 > 1)
            return ILL;
        return mkf(d ? (f3 ? RV_OP_FMAX_D : RV_OP_FMIN_D) : (f3 ? RV_OP_FMAX_S : RV_OP_FMIN_S),
                   rd, rs1, rs2, 0);
    case 0x08:
        /* FCVT.S.D is f7 0x20 with rs2 1; FCVT.D.S is f7 0x21 with rs2 0. */
        if (rs2 != !d || !rm_ok(f3))
            return ILL;
        return mkf(d ? RV_OP_FCVT_D_S : RV_OP_FCVT_S_D, rd, rs1, 0, f3);
    case 0x14: {
        static const int ops[2][3] = {{RV_OP_FLE_S, RV_OP_FLT_S, RV_OP_FEQ_S},
                                      {RV_OP_FLE_D, RV_OP_FLT_D, RV_OP_FEQ_D}};
        if (f3 > 2)
            return ILL;
        return mk(ops[d][f3], rd, rs1, rs2, 0);
    }
    case 0x18:
        if (rs2 > 3 || !rm_ok(f3))
            return ILL;
        return mk(d ? RV_OP_FCVT_I_D : RV_OP_FCVT_I_S, rd, rs1, 0, f3 | rs2 << 3);
    case 0x1a:
        if (rs2 > 3 || !rm_ok(f3))
            return ILL;
        return mkf(d ? RV_OP_FCVT_D_I : RV_OP_FCVT_S_I, rd, rs1, 0, f3 | rs2 << 3);
    case 0x1c:
        if (rs2 != 0 || f3 > 1)
            return ILL;
        if (f3 == 0)
            return mk(d ? RV_OP_FMV_X_D : RV_OP_FMV_X_W, rd, rs1, 0, 0);
        return mk(d ? RV_OP_FCLASS_D : RV_OP_FCLASS_S, rd, rs1, 0, 0);
    case 0x1e:
        if (rs2 != 0 || f3 != 0)
            return ILL;
        return mkf(d ? RV_OP_FMV_D_X : RV_OP_FMV_W_X, rd, rs1, 0, 0);
    }
    return ILL;
}

/*
 * Zicsr: the FP CSRs (read-write) and the counters (read-only; a write is
 * illegal). Records keep the CSR number in imm bits 0-11 and funct3 in bits
 * 12-14; rs1 holds the register or, for the immediate forms, the uimm.
 */
static insn decode_csr(uint32_t bits)
{
    const uint32_t i = bits;
    const int rd = RD(i), rs1 = RS1(i), f3 = F3(i);
    const uint32_t csr = i >> 20;
    if (f3 == 0 || f3 == 4)
        return ILL;
    /* CSRRW(I) always writes; CSRRS(I)/CSRRC(I) only with rs1/uimm != 0. */
    const int writes = (f3 & 3) == 1 || rs1 != 0;
    if (csr >= 0x001 && csr <= 0x003)
        return mk(RV_OP_CSR_FP, rd, rs1, 0, (int32_t)(csr | (uint32_t)f3 << 12));
    if (csr >= 0xC00 && csr <= 0xC02 && !writes)
        return mk(RV_OP_CSR_COUNTER, rd, 0, 0, (int32_t)csr);
    return ILL;
}

static insn decode32(uint32_t bits)
{
    const uint32_t i = bits;
    const int rd = RD(i), rs1 = RS1(i), rs2 = RS2(i), f3 = F3(i), f7 = F7(i);
    const uint32_t f6 = i >> 26;
    const int32_t ii = imm_i(i);
    const uint32_t imm12 = i >> 20;

    switch (i & 0x7f) {
    case 0x37: return mk(RV_OP_LUI, rd, 0, 0, (int32_t)(i & 0xfffff000u));
    case 0x17: return mk(RV_OP_AUIPC, rd, 0, 0, (int32_t)(i & 0xfffff000u));
    case 0x6f: return mk(RV_OP_JAL, rd, 0, 0, imm_j(i));
    case 0x67:
        if (f3 != 0)
            return ILL;
        return mk(RV_OP_JALR, rd, rs1, 0, ii);
    case 0x63: {
        static const int ops[8] = {RV_OP_BEQ, RV_OP_BNE, -1, -1,
                                   RV_OP_BLT, RV_OP_BGE, RV_OP_BLTU, RV_OP_BGEU};
        if (ops[f3] < 0)
            return ILL;
        return mk(ops[f3], 0, rs1, rs2, imm_b(i));
    }
    case 0x03: {
        static const int ops[8] = {RV_OP_LB, RV_OP_LH, RV_OP_LW, RV_OP_LD,
                                   RV_OP_LBU, RV_OP_LHU, RV_OP_LWU, -1};
        if (ops[f3] < 0)
            return ILL;
        return mk(ops[f3], rd, rs1, 0, ii);
    }
    case 0x23: {
        static const int ops[8] = {RV_OP_SB, RV_OP_SH, RV_OP_SW, RV_OP_SD, -1, -1, -1, -1};
        if (ops[f3] < 0)
            return ILL;
        return mk(ops[f3], 0, rs1, rs2, imm_s(i));
    }
    case 0x13: {
        const int32_t sh = (int32_t)(imm12 & 63);
        switch (f3) {
        case 0: return mk(RV_OP_ADDI, rd, rs1, 0, ii);
        case 2: return mk(RV_OP_SLTI, rd, rs1, 0, ii);
        case 3: return mk(RV_OP_SLTIU, rd, rs1, 0, ii);
        case 4: return mk(RV_OP_XORI, rd, rs1, 0, ii);
        case 6: return mk(RV_OP_ORI, rd, rs1, 0, ii);
        case 7: return mk(RV_OP_ANDI, rd, rs1, 0, ii);
        case 1:
            if (f6 == 0x00) return mk(RV_OP_SLLI, rd, rs1, 0, sh);
            if (f6 == 0x12) return mk(RV_OP_BCLRI, rd, rs1, 0, sh);
            if (f6 == 0x1a) return mk(RV_OP_BINVI, rd, rs1, 0, sh);
            if (f6 == 0x0a) return mk(RV_OP_BSETI, rd, rs1, 0, sh);
            if (imm12 == 0x600) return mk(RV_OP_CLZ, rd, rs1, 0, 0);
            if (imm12 == 0x601) return mk(RV_OP_CTZ, rd, rs1, 0, 0);
            if (imm12 == 0x602) return mk(RV_OP_CPOP, rd, rs1, 0, 0);
            if (imm12 == 0x604) return mk(RV_OP_SEXT_B, rd, rs1, 0, 0);
            if (imm12 == 0x605) return mk(RV_OP_SEXT_H, rd, rs1, 0, 0);
            return ILL;
        case 5:
            if (f6 == 0x00) return mk(RV_OP_SRLI, rd, rs1, 0, sh);
            if (f6 == 0x10) return mk(RV_OP_SRAI, rd, rs1, 0, sh);
            if (f6 == 0x18) return mk(RV_OP_RORI, rd, rs1, 0, sh);
            if (f6 == 0x12) return mk(RV_OP_BEXTI, rd, rs1, 0, sh);
            if (imm12 == 0x287) return mk(RV_OP_ORC_B, rd, rs1, 0, 0);
            if (imm12 == 0x6b8) return mk(RV_OP_REV8, rd, rs1, 0, 0);
            return ILL;
        }
        return ILL;
    }
    case 0x1b: {
        const int32_t sh5 = (int32_t)(imm12 & 31);
        switch (f3) {
        case 0: return mk(RV_OP_ADDIW, rd, rs1, 0, ii);
        case 1:
            if (f7 == 0x00) return mk(RV_OP_SLLIW, rd, rs1, 0, sh5);
            if (f6 == 0x02) return mk(RV_OP_SLLI_UW, rd, rs1, 0, (int32_t)(imm12 & 63));
            if (imm12 == 0x600) return mk(RV_OP_CLZW, rd, rs1, 0, 0);
            if (imm12 == 0x601) return mk(RV_OP_CTZW, rd, rs1, 0, 0);
            if (imm12 == 0x602) return mk(RV_OP_CPOPW, rd, rs1, 0, 0);
            return ILL;
        case 5:
            if (f7 == 0x00) return mk(RV_OP_SRLIW, rd, rs1, 0, sh5);
            if (f7 == 0x20) return mk(RV_OP_SRAIW, rd, rs1, 0, sh5);
            if (f7 == 0x30) return mk(RV_OP_RORIW, rd, rs1, 0, sh5);
            return ILL;
        }
        return ILL;
    }
    case 0x33: {
#define R(op) return mk(RV_OP_##op, rd, rs1, rs2, 0)
        switch (f7 << 3 | f3) {
        case 0x00 << 3 | 0: R(ADD);
        case 0x00 << 3 | 1: R(SLL);
        case 0x00 << 3 | 2: R(SLT);
        case 0x00 << 3 | 3: R(SLTU);
        case 0x00 << 3 | 4: R(XOR);
        case 0x00 << 3 | 5: R(SRL);
        case 0x00 << 3 | 6: R(OR);
        case 0x00 << 3 | 7: R(AND);
        case 0x20 << 3 | 0: R(SUB);
        case 0x20 << 3 | 5: R(SRA);
        case 0x20 << 3 | 7: R(ANDN);
        case 0x20 << 3 | 6: R(ORN);
        case 0x20 << 3 | 4: R(XNOR);
        case 0x01 << 3 | 0: R(MUL);
        case 0x01 << 3 | 1: R(MULH);
        case 0x01 << 3 | 2: R(MULHSU);
        case 0x01 << 3 | 3: R(MULHU);
        case 0x01 << 3 | 4: R(DIV);
        case 0x01 << 3 | 5: R(DIVU);
        case 0x01 << 3 | 6: R(REM);
        case 0x01 << 3 | 7: R(REMU);
        case 0x10 << 3 | 2: R(SH1ADD);
        case 0x10 << 3 | 4: R(SH2ADD);
        case 0x10 << 3 | 6: R(SH3ADD);
        case 0x05 << 3 | 4: R(MIN);
        case 0x05 << 3 | 5: R(MINU);
        case 0x05 << 3 | 6: R(MAX);
        case 0x05 << 3 | 7: R(MAXU);
        case 0x05 << 3 | 1: R(CLMUL);
        case 0x05 << 3 | 3: R(CLMULH);
        case 0x05 << 3 | 2: R(CLMULR);
        case 0x30 << 3 | 1: R(ROL);
        case 0x30 << 3 | 5: R(ROR);
        case 0x24 << 3 | 1: R(BCLR);
        case 0x24 << 3 | 5: R(BEXT);
        case 0x34 << 3 | 1: R(BINV);
        case 0x14 << 3 | 1: R(BSET);
        }
        return ILL;
    }
    case 0x3b:
        switch (f7 << 3 | f3) {
        case 0x00 << 3 | 0: R(ADDW);
        case 0x00 << 3 | 1: R(SLLW);
        case 0x00 << 3 | 5: R(SRLW);
        case 0x20 << 3 | 0: R(SUBW);
        case 0x20 << 3 | 5: R(SRAW);
        case 0x01 << 3 | 0: R(MULW);
        case 0x01 << 3 | 4: R(DIVW);
        case 0x01 << 3 | 5: R(DIVUW);
        case 0x01 << 3 | 6: R(REMW);
        case 0x01 << 3 | 7: R(REMUW);
        case 0x04 << 3 | 0: R(ADD_UW);
        case 0x04 << 3 | 4:
            if (rs2 == 0)
                R(ZEXT_H);
            return ILL;
        case 0x10 << 3 | 2: R(SH1ADD_UW);
        case 0x10 << 3 | 4: R(SH2ADD_UW);
        case 0x10 << 3 | 6: R(SH3ADD_UW);
        case 0x30 << 3 | 1: R(ROLW);
        case 0x30 << 3 | 5: R(RORW);
        }
        return ILL;
#undef R
    case 0x0f:
        /* FENCE and FENCE.I: a single hart with decoded code that cannot
         * change needs neither. */
        if (f3 == 0 || f3 == 1)
            return mk(RV_OP_NOP, 0, 0, 0, 0);
        return ILL;
    case 0x73:
        if (i == 0x00000073u)
            return mk(RV_OP_ECALL, 0, 0, 0, 0);
        if (i == 0x00100073u)
            return mk(RV_OP_EBREAK, 0, 0, 0, 0);
        return decode_csr(i);
    case 0x07:
        if (f3 == 2)
            return mkf(RV_OP_FLW, rd, rs1, 0, ii);
        if (f3 == 3)
            return mkf(RV_OP_FLD, rd, rs1, 0, ii);
        return ILL;
    case 0x27:
        if (f3 == 2)
            return mk(RV_OP_FSW, 0, rs1, rs2, imm_s(i));
        if (f3 == 3)
            return mk(RV_OP_FSD, 0, rs1, rs2, imm_s(i));
        return ILL;
    case 0x43: case 0x47: case 0x4b: case 0x4f: {
        static const int ops[2][4] = {
            {RV_OP_FMADD_S, RV_OP_FMSUB_S, RV_OP_FNMSUB_S, RV_OP_FNMADD_S},
            {RV_OP_FMADD_D, RV_OP_FMSUB_D, RV_OP_FNMSUB_D, RV_OP_FNMADD_D}};
        const uint32_t fmt = (i >> 25) & 3;
        if (fmt > 1 || !rm_ok(f3))
            return ILL;
        /* rs3 goes into imm bits 3-7, beside the rounding mode. */
        return mkf(ops[fmt][(i >> 2) & 3], rd, rs1, rs2, (int32_t)((uint32_t)f3 | (i >> 27) << 3));
    }
    case 0x53:
        return decode_opfp(i);
    case 0x2f: {
        if (f3 != 2 && f3 != 3)
            return ILL;
        const int d = f3 == 3;
        switch (i >> 27) {
        case 0x02:
            if (rs2 != 0)
                return ILL;
            return mk(d ? RV_OP_LR_D : RV_OP_LR_W, rd, rs1, 0, 0);
#define A(code, name) case code: return mk(d ? RV_OP_##name##_D : RV_OP_##name##_W, rd, rs1, rs2, 0)
        A(0x03, SC); A(0x01, AMOSWAP); A(0x00, AMOADD); A(0x04, AMOXOR);
        A(0x0c, AMOAND); A(0x08, AMOOR); A(0x10, AMOMIN); A(0x14, AMOMAX);
        A(0x18, AMOMINU); A(0x1c, AMOMAXU);
#undef A
        }
        return ILL;
    }
    }
    return ILL;
}

/* Compressed register fields name x8..x15. */
#define CR(v) (8 + ((v) & 7))

static insn decode16(uint32_t bits)
{
    const uint32_t i = bits;
    const int f3 = (i >> 13) & 7;
    const int r = (i >> 7) & 31;     /* rd/rs1 full field */
    const int r2 = (i >> 2) & 31;    /* rs2 full field */
    const int rdp = CR(i >> 2), rs1p = CR(i >> 7);
    const int32_t imm6 = sext(((i >> 7) & 0x20) | ((i >> 2) & 0x1f), 6);
    const int32_t uimm6 = (int32_t)(((i >> 7) & 0x20) | ((i >> 2) & 0x1f));

    switch (i & 3) {
    case 0:
        switch (f3) {
        case 0: {
            int32_t nz = (int32_t)(((i >> 7) & 0x30) | ((i >> 1) & 0x3c0) |
                                   ((i >> 4) & 0x4) | ((i >> 2) & 0x8));
            if (nz == 0)
                return ILL;     /* includes the all-zero halfword */
            return mk(RV_OP_ADDI, rdp, 2, 0, nz);
        }
        case 2: {
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i >> 4) & 0x4) | ((i << 1) & 0x40));
            return mk(RV_OP_LW, rdp, rs1p, 0, off);
        }
        case 3: {
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i << 1) & 0xc0));
            return mk(RV_OP_LD, rdp, rs1p, 0, off);
        }
        case 6: {
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i >> 4) & 0x4) | ((i << 1) & 0x40));
            return mk(RV_OP_SW, 0, rs1p, rdp, off);
        }
        case 7: {
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i << 1) & 0xc0));
            return mk(RV_OP_SD, 0, rs1p, rdp, off);
        }
        case 1: {   /* C.FLD */
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i << 1) & 0xc0));
            return mkf(RV_OP_FLD, rdp, rs1p, 0, off);
        }
        case 5: {   /* C.FSD */
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i << 1) & 0xc0));
            return mk(RV_OP_FSD, 0, rs1p, rdp, off);
        }
        }
        return ILL;     /* the reserved slot */
    case 1:
        switch (f3) {
        case 0: return mk(RV_OP_ADDI, r, r, 0, imm6);
        case 1:
            if (r == 0)
                return ILL;
            return mk(RV_OP_ADDIW, r, r, 0, imm6);
        case 2: return mk(RV_OP_ADDI, r, 0, 0, imm6);
        case 3:
            if (r == 2) {
                int32_t nz = sext(((i >> 3) & 0x200) | ((i >> 2) & 0x10) | ((i << 1) & 0x40) |
                                  ((i << 4) & 0x180) | ((i << 3) & 0x20), 10);
                if (nz == 0)
                    return ILL;
                return mk(RV_OP_ADDI, 2, 2, 0, nz);
            } else {
                int32_t nz = sext(((i << 5) & 0x20000) | ((i << 10) & 0x1f000), 18);
                if (nz == 0)
                    return ILL;
                return mk(RV_OP_LUI, r, 0, 0, nz);
            }
        case 4:
            switch ((i >> 10) & 3) {
            case 0: return mk(RV_OP_SRLI, rs1p, rs1p, 0, uimm6);
            case 1: return mk(RV_OP_SRAI, rs1p, rs1p, 0, uimm6);
            case 2: return mk(RV_OP_ANDI, rs1p, rs1p, 0, imm6);
            case 3: {
                static const int ops[8] = {RV_OP_SUB, RV_OP_XOR, RV_OP_OR, RV_OP_AND,
                                           RV_OP_SUBW, RV_OP_ADDW, -1, -1};
                int op = ops[((i >> 10) & 4) | ((i >> 5) & 3)];
                if (op < 0)
                    return ILL;
                return mk(op, rs1p, rs1p, rdp, 0);
            }
            }
            return ILL;
        case 5: {
            int32_t off = sext(((i >> 1) & 0x800) | ((i >> 7) & 0x10) | ((i >> 1) & 0x300) |
                               ((i << 2) & 0x400) | ((i >> 1) & 0x40) | ((i << 1) & 0x80) |
                               ((i >> 2) & 0xe) | ((i << 3) & 0x20), 12);
            return mk(RV_OP_JAL, 0, 0, 0, off);
        }
        case 6:
        case 7: {
            int32_t off = sext(((i >> 4) & 0x100) | ((i >> 7) & 0x18) | ((i << 1) & 0xc0) |
                               ((i >> 2) & 0x6) | ((i << 3) & 0x20), 9);
            return mk(f3 == 6 ? RV_OP_BEQ : RV_OP_BNE, 0, rs1p, 0, off);
        }
        }
        return ILL;
    case 2:
        switch (f3) {
        case 0: return mk(RV_OP_SLLI, r, r, 0, uimm6);
        case 2: {
            if (r == 0)
                return ILL;
            int32_t off = (int32_t)(((i >> 7) & 0x20) | ((i >> 2) & 0x1c) | ((i << 4) & 0xc0));
            return mk(RV_OP_LW, r, 2, 0, off);
        }
        case 3: {
            if (r == 0)
                return ILL;
            int32_t off = (int32_t)(((i >> 7) & 0x20) | ((i >> 2) & 0x18) | ((i << 4) & 0x1c0));
            return mk(RV_OP_LD, r, 2, 0, off);
        }
        case 4:
            if (((i >> 12) & 1) == 0) {
                if (r2 == 0) {
                    if (r == 0)
                        return ILL;
                    return mk(RV_OP_JALR, 0, r, 0, 0);
                }
                return mk(RV_OP_ADD, r, 0, r2, 0);
            }
            if (r2 == 0) {
                if (r == 0)
                    return mk(RV_OP_EBREAK, 0, 0, 0, 0);
                return mk(RV_OP_JALR, 1, r, 0, 0);
            }
            return mk(RV_OP_ADD, r, r, r2, 0);
        case 6: {
            int32_t off = (int32_t)(((i >> 7) & 0x3c) | ((i >> 1) & 0xc0));
            return mk(RV_OP_SW, 0, 2, r2, off);
        }
        case 7: {
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i >> 1) & 0x1c0));
            return mk(RV_OP_SD, 0, 2, r2, off);
        }
        case 1: {   /* C.FLDSP: any rd, f0 included */
            int32_t off = (int32_t)(((i >> 7) & 0x20) | ((i >> 2) & 0x18) | ((i << 4) & 0x1c0));
            return mkf(RV_OP_FLD, r, 2, 0, off);
        }
        case 5: {   /* C.FSDSP */
            int32_t off = (int32_t)(((i >> 7) & 0x38) | ((i >> 1) & 0x1c0));
            return mk(RV_OP_FSD, 0, 2, r2, off);
        }
        }
        return ILL;
    }
    return ILL;
}

void rv_decode_page(const rv_machine *m, uint64_t page, rv_page *pg)
{
    const uint64_t base = page << RV_PAGE_SHIFT;
    const uint8_t *code = m->mem + base;
    /* A 32-bit instruction in the last halfword continues on the next page,
     * which must be code too. */
    const int next_exec = page + 1 < m->npages && (m->page_flags[page + 1] & RV_PAGE_EXEC);

    for (int s = 0; s < RV_SLOTS; s++) {
        uint32_t lo = (uint32_t)code[2 * s] | (uint32_t)code[2 * s + 1] << 8;
        insn d;
        int len;
        if ((lo & 3) != 3) {
            d = decode16(lo);
            len = 1;
        } else if ((lo & 0x1f) == 0x1f) {
            d = mk(RV_OP_ILLEGAL, 0, 0, 0, (int32_t)lo);   /* 48-bit and longer */
            len = 2;
        } else if (s == RV_SLOTS - 1 && !next_exec) {
            d = mk(RV_OP_FETCH_FAULT, 0, 0, 0, 0);
            len = 2;
        } else {
            const uint8_t *hi = s == RV_SLOTS - 1 ? m->mem + base + RV_PAGE_SIZE : code + 2 * s + 2;
            d = decode32(lo | (uint32_t)hi[0] << 16 | (uint32_t)hi[1] << 24);
            len = 2;
        }
        rv_op *o = &pg->ops[s];
        o->h = (const void *)(uintptr_t)d.op;
        o->imm = d.imm;
        o->rd = (uint8_t)(d.rd == 0 && !d.frd ? 32 : d.rd);
        o->rs1 = (uint8_t)d.rs1;
        o->rs2 = (uint8_t)d.rs2;
        o->next = (uint8_t)(sizeof(rv_op) * len);
        /* A jump or branch that stays on this page goes record to record. */
        int32_t target = 2 * s + d.imm;
        int near = target >= 0 && target < RV_PAGE_SIZE;
        switch (d.op) {
        case RV_OP_JAL: if (near) o->h = (const void *)(uintptr_t)RV_OP_JAL_N; break;
        case RV_OP_BEQ: if (near) o->h = (const void *)(uintptr_t)RV_OP_BEQ_N; break;
        case RV_OP_BNE: if (near) o->h = (const void *)(uintptr_t)RV_OP_BNE_N; break;
        case RV_OP_BLT: if (near) o->h = (const void *)(uintptr_t)RV_OP_BLT_N; break;
        case RV_OP_BGE: if (near) o->h = (const void *)(uintptr_t)RV_OP_BGE_N; break;
        case RV_OP_BLTU: if (near) o->h = (const void *)(uintptr_t)RV_OP_BLTU_N; break;
        case RV_OP_BGEU: if (near) o->h = (const void *)(uintptr_t)RV_OP_BGEU_N; break;
        default: near = 0;
        }
        if (near)
            o->imm = d.imm / 2;
        /* Errors found at decode time cost nothing: the instruction never runs. */
        int no_cost = d.op == RV_OP_ILLEGAL || d.op == RV_OP_FETCH_FAULT;
        pg->cost[s] = no_cost ? 0 : m->cost[op_class[d.op]];
    }
    for (int s = RV_SLOTS; s < RV_SLOTS_ALL; s++) {
        rv_op *o = &pg->ops[s];
        memset(o, 0, sizeof *o);
        o->h = (const void *)(uintptr_t)RV_OP_PAGE_END;
        o->rd = 32;
        o->next = sizeof(rv_op);
        pg->cost[s] = 0;
        pg->suffix[s] = 0;
    }
    for (int s = RV_SLOTS - 1; s >= 0; s--) {
        int op = (int)(uintptr_t)pg->ops[s].h;
        uint32_t rest = op_ends_block[op] ? 0 : pg->suffix[s + pg->ops[s].next / sizeof(rv_op)];
        pg->suffix[s] = pg->cost[s] + rest;
    }
}
