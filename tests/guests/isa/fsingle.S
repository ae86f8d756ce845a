/*
 * F extension: single-precision arithmetic in all rounding modes, NaN-boxing
 * (results are boxed; an improperly boxed operand reads as the canonical
 * NaN, except in FSW, FMV.X.W which take the low 32 bits as they are),
 * canonical NaN, flags, conversions between single and double, and FLW/FSW.
 * Operands are written boxed (0xffffffff........) unless a check says not.
 */
#include "fp_macros.h"

#define B       0xffffffff00000000
#define ONE     0xffffffff3f800000
#define MONE    0xffffffffbf800000
#define TWO     0xffffffff40000000
#define THREE   0xffffffff40400000
#define HALF    0xffffffff3f000000
#define INF     0xffffffff7f800000
#define MINF    0xffffffffff800000
#define QNAN    0xffffffff7fc00000
#define SNAN    0xffffffff7fa00000
#define MAX     0xffffffff7f7fffff
#define P24     0xffffffff33800000      /* 2^-24: half an ulp of 1.0 */
#define P30     0xffffffff30800000
#define ONEUP   0xffffffff3f800001

    TEST_START

    T2R     1, fadd.s, ONE, TWO, rne, THREE, 0
    T2R     2, fadd.s, ONE, P24, rne, ONE, 1
    T2R     3, fadd.s, ONE, P24, rmm, ONEUP, 1
    T2R     4, fadd.s, ONE, P30, rup, ONEUP, 1
    T2R     5, fadd.s, ONE, P30, rdn, ONE, 1
    T2R     6, fadd.s, ONE, P30, rtz, ONE, 1
    T2R     7, fsub.s, MONE, P30, rdn, 0xffffffffbf800001, 1
    T2R     8, fsub.s, ONE, ONE, rdn, 0xffffffff80000000, 0
    T2R     9, fadd.s, INF, MINF, rne, QNAN, 16
    T2R     10, fadd.s, SNAN, ONE, rne, QNAN, 16
    T2R     11, fadd.s, 0xffffffff7fc00123, ONE, rne, QNAN, 0
    T2R     12, fmul.s, MAX, TWO, rne, INF, 5
    T2R     13, fmul.s, MAX, TWO, rtz, MAX, 5
    T2R     14, fmul.s, MAX, TWO, rdn, MAX, 5
    T2R     15, fmul.s, MAX, TWO, rup, INF, 5
    T2R     16, fmul.s, 0xffffffff00000001, HALF, rne, B, 3
    T2R     17, fmul.s, 0xffffffff00000001, HALF, rup, 0xffffffff00000001, 3
    T2R     18, fmul.s, 0xffffffff00ffffff, HALF, rne, 0xffffffff00800000, 3
    T2R     19, fdiv.s, ONE, THREE, rne, 0xffffffff3eaaaaab, 1
    T2R     20, fdiv.s, ONE, THREE, rtz, 0xffffffff3eaaaaaa, 1
    T2R     21, fdiv.s, ONE, B, rne, INF, 8
    T2R     22, fdiv.s, B, B, rne, QNAN, 16
    T1R     23, fsqrt.s, 0xffffffff40800000, rne, TWO, 0
    T1R     24, fsqrt.s, MONE, rne, QNAN, 16
    T1R     25, fsqrt.s, TWO, rne, 0xffffffff3fb504f3, 1
    T1R     26, fsqrt.s, TWO, rup, 0xffffffff3fb504f4, 1
    T3R     27, fmadd.s, TWO, THREE, ONE, rne, 0xffffffff40e00000, 0
    /* (1 + 2^-12)(1 - 2^-12) - 1 = -2^-24 exactly: fused. */
    T3R     28, fmadd.s, 0xffffffff3f800800, 0xffffffff3f7ff000, MONE, rne, 0xffffffffb3800000, 0
    T3R     29, fnmadd.s, 0xffffffff3f800800, 0xffffffff3f7ff000, MONE, rne, 0xffffffff33800000, 0
    T3R     30, fmsub.s, ONE, ONE, ONE, rdn, 0xffffffff80000000, 0
    T3R     31, fnmsub.s, TWO, TWO, ONE, rne, 0xffffffffc0400000, 0
    T3R     32, fmadd.s, B, INF, QNAN, rne, QNAN, 16

    /* ---- NaN-boxing ---- */
    T2R     33, fadd.s, 0x000000003f800000, ONE, rne, QNAN, 0       /* unboxed: canonical NaN */
    T2R     34, fadd.s, ONE, 0xfffffffe3f800000, rne, QNAN, 0
    T2R     35, fmul.s, 0x7fffffff7fa00000, ONE, rne, QNAN, 0         /* an unboxed sNaN is just a NaN */
    T2      36, fsgnj.s, 0x000000003f800000, MONE, 0xffffffffffc00000, 0
    T2      37, fsgnjn.s, ONE, 0x00000000bf800000, MONE, 0              /* unboxed rs2 reads as +NaN: negated sign */
    T2      38, fsgnjx.s, MONE, MONE, ONE, 0
    T2      39, fsgnj.s, SNAN, MONE, 0xffffffffffa00000, 0
    T2      40, fmin.s, 0x000000003f800000, TWO, TWO, 0                 /* canonical NaN operand: the other one */
    T1      41, fcvt.d.s, 0x0000000040000000, 0x7ff8000000000000, 0
    /* FMV.X.W and FSW take the low 32 bits whatever the upper ones are. */
    LDF     fa1, 0x1234567887654321
    fmv.x.w a0, fa1
    CHECK   42, a0, 0xffffffff87654321
    LDF     fa1, QNAN
    fmv.x.w a0, fa1
    CHECK   43, a0, 0x7fc00000
    li      a2, 0xabcdef013f800000
    fmv.w.x fa0, a2                  /* boxes the low 32 bits */
    fmv.x.d a0, fa0
    CHECK   44, a0, ONE
    la      s0, buf
    LDF     fa1, 0x1111111140490fdb
    fsw     fa1, 4(s0)
    lwu     a0, 4(s0)
    CHECK   45, a0, 0x40490fdb
    li      a0, 0x7fa00001
    sw      a0, 8(s0)
    flw     fa0, 8(s0)               /* loads box, even a signalling NaN */
    fmv.x.d a0, fa0
    CHECK   46, a0, 0xffffffff7fa00001

    /* ---- single <-> double ---- */
    T1R     47, fcvt.s.d, 0x3fd5555555555555, rne, 0xffffffff3eaaaaab, 1
    T1R     48, fcvt.s.d, 0x3fd5555555555555, rtz, 0xffffffff3eaaaaaa, 1
    T1R     49, fcvt.s.d, 0x7fefffffffffffff, rne, INF, 5
    T1R     50, fcvt.s.d, 0x7fefffffffffffff, rtz, MAX, 5
    T1R     51, fcvt.s.d, 0x7ff4000000000000, rne, QNAN, 16
    T1R     52, fcvt.s.d, 0x7ff8000000000123, rne, QNAN, 0
    T1R     53, fcvt.s.d, 0x3690000000000000, rne, B, 3                 /* 2^-150: tie, to zero */
    T1R     54, fcvt.s.d, 0x3690000000000000, rmm, 0xffffffff00000001, 3
    T1R     55, fcvt.s.d, 0x3810000000000000, rne, 0xffffffff00800000, 0 /* 2^-126 exactly */
    T1R     56, fcvt.s.d, 0xbff0000000000000, rne, MONE, 0
    T1      57, fcvt.d.s, ONE, 0x3ff0000000000000, 0
    T1      58, fcvt.d.s, SNAN, 0x7ff8000000000000, 16
    T1      59, fcvt.d.s, 0xffffffff7fc00123, 0x7ff8000000000000, 0
    T1      60, fcvt.d.s, 0xffffffff00000001, 0x36a0000000000000, 0 /* subnormal single: exact */
    T1      61, fcvt.d.s, MINF, 0xfff0000000000000, 0

    TEST_END

    .data
    .balign 8
buf:
    .zero   16
