/*
 * The FP CSRs: fflags (0x001), frm (0x002) and fcsr (0x003) through all six
 * Zicsr instructions (fcsr = frm << 5 | fflags, upper bits read as zero),
 * flags accruing across instructions, and the dynamic rounding mode (rm=DYN
 * takes frm) for arithmetic, fused multiply-add and conversions.
 */
#include "fp_macros.h"

    TEST_START

    li      a2, 0xffff
    csrw    fcsr, a2
    csrr    a0, fcsr
    CHECK   1, a0, 0xff
    csrr    a0, fflags
    CHECK   2, a0, 0x1f
    csrr    a0, frm
    CHECK   3, a0, 7
    csrrci  a0, fflags, 0x5          /* returns the old value */
    CHECK   4, a0, 0x1f
    csrr    a0, fcsr
    CHECK   5, a0, 0xfa
    csrrsi  a0, frm, 0
    CHECK   6, a0, 7
    fsrmi   a0, 2                    /* csrrwi: old frm out, 2 in */
    CHECK   7, a0, 7
    frrm    a0
    CHECK   8, a0, 2
    li      a2, 0x11
    csrrs   a0, fflags, a2
    CHECK   9, a0, 0x1a
    frflags a0
    CHECK   10, a0, 0x1b
    li      a2, 0x3
    csrrc   a0, fflags, a2
    frflags a0
    CHECK   11, a0, 0x18
    fsflagsi 0x1
    csrr    a0, fcsr
    CHECK   12, a0, (2 << 5) | 1
    li      a2, 0x7e0               /* fcsr bits above 7 are not there */
    csrw    fcsr, a2
    csrr    a0, fcsr
    CHECK   13, a0, 0xe0
    csrrw   a0, fcsr, zero
    CHECK   14, a0, 0xe0
    csrrwi  a0, fflags, 0x1f
    CHECK   15, a0, 0
    csrrw   zero, frm, a2           /* rd = x0: a pure write (frm = 0x7e0 & 7 = 0) */
    csrr    a0, fcsr
    CHECK   16, a0, 0x1f

    /* ---- flags accrue until cleared ---- */
    fsflags zero
    LDF     fa1, 0x3ff0000000000000
    LDF     fa2, 0
    fdiv.d  fa0, fa1, fa2           /* DZ */
    LDF     fa2, 0x4008000000000000
    fdiv.d  fa0, fa1, fa2           /* NX */
    frflags a0
    CHECK   17, a0, 9
    fsub.d  fa0, fa1, fa1           /* exact: adds nothing */
    frflags a0
    CHECK   18, a0, 9

    /* ---- dynamic rounding: rm = DYN takes frm ---- */
    LDF     fa2, 0x3c30000000000000     /* 2^-60 */
    fsrmi   3                           /* RUP */
    fadd.d  fa0, fa1, fa2, dyn
    fmv.x.d a0, fa0
    CHECK   19, a0, 0x3ff0000000000001
    fsrmi   1                           /* RTZ */
    fadd.d  fa0, fa1, fa2
    fmv.x.d a0, fa0
    CHECK   20, a0, 0x3ff0000000000000
    LDF     fa2, 0x3ca0000000000000     /* 2^-53: a tie */
    fsrmi   4                           /* RMM */
    fadd.d  fa0, fa1, fa2, dyn
    fmv.x.d a0, fa0
    CHECK   21, a0, 0x3ff0000000000001
    fsrmi   0                           /* RNE */
    fadd.d  fa0, fa1, fa2, dyn
    fmv.x.d a0, fa0
    CHECK   22, a0, 0x3ff0000000000000
    fsrmi   2                           /* RDN */
    LDF     fa1, 0xc004000000000000     /* -2.5 */
    fcvt.w.d a0, fa1, dyn
    CHECK   23, a0, -3
    fsrmi   4
    fcvt.l.d a0, fa1, dyn
    CHECK   24, a0, -3
    fsrmi   3
    li      a2, 16777217
    fcvt.s.w fa0, a2, dyn
    fmv.x.w a0, fa0
    CHECK   25, a0, 0x4b800001
    fsrmi   2
    LDF     fa1, 0x3ff0000000000000
    LDF     fa2, 0x3c30000000000000
    LDF     fa3, 0xbff0000000000000
    fnmsub.d fa0, fa1, fa2, fa3, dyn    /* -(2^-60) - 1, rounded down */
    fmv.x.d a0, fa0
    CHECK   26, a0, 0xbff0000000000001
    fsrmi   2
    fsub.d  fa0, fa1, fa1, dyn          /* exact zero rounding down: -0 */
    fmv.x.d a0, fa0
    CHECK   27, a0, 0x8000000000000000
    fsrmi   0
    /* A static rounding mode ignores frm. */
    fsrmi   1
    LDF     fa2, 0x3ca0000000000000
    fadd.d  fa0, fa1, fa2, rmm
    fmv.x.d a0, fa0
    CHECK   28, a0, 0x3ff0000000000001

    TEST_END
