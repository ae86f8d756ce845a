/*
 * Macros for the F and D self-checks (isa/f*.S), on top of test_macros.h.
 * Operands are given as raw bit patterns (a single is written NaN-boxed,
 * 0xffffffff in the upper half, unless a check is about improper boxing)
 * and go into fa1..fa3 through fmv.d.x, which copies bits unchanged.
 * Results are compared as raw bits too (fmv.x.d), and so are the accrued
 * flags (fflags, cleared before each operation): NV=16 DZ=8 OF=4 UF=2 NX=1.
 * t5 is scratch; CHECK uses tp and t6.
 */
#include "test_macros.h"

.macro LDF freg, bits
    li      t5, \bits
    fmv.d.x \freg, t5
.endm

.macro RESULT_F num, res, flags
    fmv.x.d a0, fa0
    frflags a1
    CHECK   \num, a0, \res
    CHECK_MORE a1, \flags
.endm

.macro RESULT_X num, res, flags
    frflags a1
    CHECK   \num, a0, \res
    CHECK_MORE a1, \flags
.endm

/* Two operands with a rounding mode (fadd, fsub, fmul, fdiv). */
.macro T2R num, op, a, b, rm, res, flags
    LDF     fa1, \a
    LDF     fa2, \b
    fsflags x0
    \op     fa0, fa1, fa2, \rm
    RESULT_F \num, \res, \flags
.endm

/* Two operands, no rounding mode (fmin, fmax, fsgnj*). */
.macro T2 num, op, a, b, res, flags
    LDF     fa1, \a
    LDF     fa2, \b
    fsflags x0
    \op     fa0, fa1, fa2
    RESULT_F \num, \res, \flags
.endm

/* One operand with a rounding mode (fsqrt, fcvt.s.d, fcvt.d.s). */
.macro T1R num, op, a, rm, res, flags
    LDF     fa1, \a
    fsflags x0
    \op     fa0, fa1, \rm
    RESULT_F \num, \res, \flags
.endm

/* Fused multiply-add family. */
.macro T3R num, op, a, b, c, rm, res, flags
    LDF     fa1, \a
    LDF     fa2, \b
    LDF     fa3, \c
    fsflags x0
    \op     fa0, fa1, fa2, fa3, \rm
    RESULT_F \num, \res, \flags
.endm

/* FP to integer register with a rounding mode (fcvt.w.d & co.). */
.macro TFI num, op, a, rm, res, flags
    LDF     fa1, \a
    fsflags x0
    \op     a0, fa1, \rm
    RESULT_X \num, \res, \flags
.endm

/* Compares: integer result of two FP operands. */
.macro TCMP num, op, a, b, res, flags
    LDF     fa1, \a
    LDF     fa2, \b
    fsflags x0
    \op     a0, fa1, fa2
    RESULT_X \num, \res, \flags
.endm

/* Classify (never sets flags). */
.macro TCLASS num, op, a, res
    LDF     fa1, \a
    fsflags x0
    \op     a0, fa1
    RESULT_X \num, \res, 0
.endm

/* Integer to FP with a rounding mode (fcvt.d.w & co.). */
.macro TIF num, op, ival, rm, res, flags
    li      a2, \ival
    fsflags x0
    \op     fa0, a2, \rm
    RESULT_F \num, \res, \flags
.endm

/* One operand, no rounding mode (fcvt.d.s: always exact). */
.macro T1 num, op, a, res, flags
    LDF     fa1, \a
    fsflags x0
    \op     fa0, fa1
    RESULT_F \num, \res, \flags
.endm

/* Integer to FP, exact, no rounding mode (fcvt.d.w, fcvt.d.wu). */
.macro TIFX num, op, ival, res, flags
    li      a2, \ival
    fsflags x0
    \op     fa0, a2
    RESULT_F \num, \res, \flags
.endm
