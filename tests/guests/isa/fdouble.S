/*
 * D extension arithmetic: add/sub/mul/div/sqrt and the fused multiply-adds
 * in all five rounding modes, overflow and underflow (RISC-V detects
 * tininess after rounding), canonical NaN results and NV/DZ/OF/UF/NX,
 * sign injection (no canonicalisation), moves, and loads and stores
 * including the compressed C.FLD/C.FSD/C.FLDSP/C.FSDSP.
 */
#include "fp_macros.h"

#define ONE     0x3ff0000000000000
#define MONE    0xbff0000000000000
#define TWO     0x4000000000000000
#define THREE   0x4008000000000000
#define HALF    0x3fe0000000000000
#define INF     0x7ff0000000000000
#define MINF    0xfff0000000000000
#define QNAN    0x7ff8000000000000      /* the canonical NaN */
#define SNAN    0x7ff4000000000000
#define MAX     0x7fefffffffffffff
#define MINN    0x0010000000000000      /* smallest normal */
#define P53     0x3ca0000000000000      /* 2^-53: half an ulp of 1.0 */
#define P60     0x3c30000000000000      /* 2^-60 */
#define ONEUP   0x3ff0000000000001      /* 1 + 2^-52 */

    TEST_START

    /* ---- add/sub, every rounding mode ---- */
    T2R     1, fadd.d, ONE, TWO, rne, THREE, 0
    T2R     2, fadd.d, ONE, P53, rne, ONE, 1            /* tie: to even */
    T2R     3, fadd.d, ONE, P53, rmm, ONEUP, 1          /* tie: away */
    T2R     4, fadd.d, ONE, P60, rup, ONEUP, 1
    T2R     5, fadd.d, ONE, P60, rdn, ONE, 1
    T2R     6, fadd.d, ONE, P60, rtz, ONE, 1
    T2R     7, fadd.d, MONE, 0xbc30000000000000, rdn, 0xbff0000000000001, 1
    T2R     8, fadd.d, MONE, 0xbc30000000000000, rup, MONE, 1
    T2R     9, fadd.d, MONE, 0xbc30000000000000, rtz, MONE, 1
    T2R     10, fadd.d, MONE, 0xbc30000000000000, rmm, MONE, 1
    T2R     11, fsub.d, ONE, ONE, rne, 0, 0                         /* x - x = +0 */
    T2R     12, fsub.d, ONE, ONE, rdn, 0x8000000000000000, 0        /* ... but -0 rounding down */
    T2R     13, fadd.d, 0x8000000000000000, 0x8000000000000000, rne, 0x8000000000000000, 0
    T2R     14, fadd.d, INF, MINF, rne, QNAN, 16
    T2R     15, fadd.d, SNAN, ONE, rne, QNAN, 16
    T2R     16, fadd.d, 0x7ff8000000000123, ONE, rne, QNAN, 0       /* payload dropped, quiet */
    T2R     17, fsub.d, INF, INF, rne, QNAN, 16
    T2R     18, fadd.d, INF, ONE, rne, INF, 0
    T2R     19, fsub.d, 0x7fe0000000000000, 0xffe0000000000000, rne, INF, 5   /* overflow */

    /* ---- mul: overflow per rounding mode, underflow ---- */
    T2R     20, fmul.d, TWO, THREE, rne, 0x4018000000000000, 0
    T2R     21, fmul.d, MAX, TWO, rne, INF, 5
    T2R     22, fmul.d, MAX, TWO, rtz, MAX, 5
    T2R     23, fmul.d, MAX, TWO, rdn, MAX, 5
    T2R     24, fmul.d, MAX, TWO, rup, INF, 5
    T2R     25, fmul.d, MAX, TWO, rmm, INF, 5
    T2R     26, fmul.d, 0xffefffffffffffff, TWO, rup, 0xffefffffffffffff, 5
    T2R     27, fmul.d, 0xffefffffffffffff, TWO, rdn, MINF, 5
    T2R     28, fmul.d, MINN, HALF, rne, 0x0008000000000000, 0       /* exact subnormal: no UF */
    T2R     29, fmul.d, 1, HALF, rne, 0, 3                           /* tie to even zero */
    T2R     30, fmul.d, 1, HALF, rup, 1, 3
    T2R     31, fmul.d, 1, HALF, rmm, 1, 3
    T2R     32, fmul.d, 0x8000000000000001, HALF, rdn, 0x8000000000000001, 3
    T2R     33, fmul.d, 0x8000000000000001, HALF, rne, 0x8000000000000000, 3
    /* (1 - 2^-53) * 2^-1022: representable in 53 bits, so tiny after rounding
       too; the subnormal result rounds up to the smallest normal: UF. */
    T2R     34, fmul.d, 0x001fffffffffffff, HALF, rne, MINN, 3
    /* (1 + 2^-27)(1 - 2^-27) * 2^-1022 = (1 - 2^-54) * 2^-1022 rounds (with an
       unbounded exponent) to 2^-1022: not tiny after rounding, so NX only.
       (A tininess-before-rounding FPU, like aarch64's, would add UF.) */
    T2R     35, fmul.d, 0x0010000002000000, 0x3feffffffc000000, rne, MINN, 1
    T2R     36, fmul.d, 0x0010000002000000, 0x3feffffffc000000, rdn, 0x000fffffffffffff, 3
    T2R     37, fmul.d, INF, 0, rne, QNAN, 16
    T2R     38, fmul.d, 0x8000000000000000, THREE, rne, 0x8000000000000000, 0
    T2R     39, fmul.d, SNAN, 0, rne, QNAN, 16

    /* ---- div, sqrt ---- */
    T2R     40, fdiv.d, ONE, 0, rne, INF, 8
    T2R     41, fdiv.d, MONE, 0, rne, MINF, 8
    T2R     42, fdiv.d, 0, 0, rne, QNAN, 16
    T2R     43, fdiv.d, INF, INF, rne, QNAN, 16
    T2R     44, fdiv.d, ONE, THREE, rne, 0x3fd5555555555555, 1
    T2R     45, fdiv.d, ONE, THREE, rup, 0x3fd5555555555556, 1
    T2R     46, fdiv.d, ONE, THREE, rdn, 0x3fd5555555555555, 1
    T2R     47, fdiv.d, ONE, THREE, rmm, 0x3fd5555555555555, 1
    T2R     48, fdiv.d, MONE, THREE, rdn, 0xbfd5555555555556, 1
    T2R     49, fdiv.d, ONE, INF, rne, 0, 0
    T2R     50, fdiv.d, MINN, 0x4340000000000000, rne, 0, 3         /* 2^-1075: a tie, to even zero */
    T1R     51, fsqrt.d, 0x4010000000000000, rne, TWO, 0
    T1R     52, fsqrt.d, MONE, rne, QNAN, 16
    T1R     53, fsqrt.d, 0x8000000000000000, rne, 0x8000000000000000, 0
    T1R     54, fsqrt.d, TWO, rne, 0x3ff6a09e667f3bcd, 1
    T1R     55, fsqrt.d, TWO, rdn, 0x3ff6a09e667f3bcc, 1
    T1R     56, fsqrt.d, TWO, rtz, 0x3ff6a09e667f3bcc, 1
    T1R     57, fsqrt.d, TWO, rup, 0x3ff6a09e667f3bcd, 1
    T1R     58, fsqrt.d, TWO, rmm, 0x3ff6a09e667f3bcd, 1
    T1R     59, fsqrt.d, INF, rne, INF, 0
    T1R     60, fsqrt.d, MINF, rne, QNAN, 16
    T1R     61, fsqrt.d, SNAN, rne, QNAN, 16
    T1R     62, fsqrt.d, 1, rne, 0x1e60000000000000, 0                /* sqrt(2^-1074) = 2^-537 */

    /* ---- fused multiply-add: one rounding ---- */
    T3R     63, fmadd.d, TWO, THREE, ONE, rne, 0x401c000000000000, 0
    /* (1 + 2^-30)(1 - 2^-30) - 1 = -2^-60 exactly; unfused it would be 0. */
    T3R     64, fmadd.d, 0x3ff0000000400000, 0x3fefffffff800000, MONE, rne, 0xbc30000000000000, 0
    T3R     65, fmsub.d, 0x3ff0000000400000, 0x3fefffffff800000, ONE, rne, 0xbc30000000000000, 0
    T3R     66, fnmsub.d, 0x3ff0000000400000, 0x3fefffffff800000, ONE, rne, P60, 0
    T3R     67, fnmadd.d, 0x3ff0000000400000, 0x3fefffffff800000, MONE, rne, P60, 0
    T3R     68, fmadd.d, ONE, ONE, MONE, rne, 0, 0
    T3R     69, fmadd.d, ONE, ONE, MONE, rdn, 0x8000000000000000, 0
    T3R     70, fmadd.d, 0, INF, ONE, rne, QNAN, 16
    T3R     71, fmadd.d, 0, INF, QNAN, rne, QNAN, 16          /* 0 * inf + qNaN: NV in RISC-V */
    T3R     72, fmadd.d, ONE, ONE, QNAN, rne, QNAN, 0
    T3R     73, fmadd.d, ONE, ONE, SNAN, rne, QNAN, 16
    T3R     74, fmadd.d, INF, ONE, MINF, rne, QNAN, 16
    T3R     75, fmadd.d, MAX, TWO, MINF, rne, MINF, 0           /* exact infinity wins */
    T3R     76, fmadd.d, MAX, TWO, 0, rtz, MAX, 5
    T3R     77, fmadd.d, ONE, P53, ONE, rne, ONE, 1
    T3R     78, fmadd.d, ONE, P53, ONE, rmm, ONEUP, 1
    T3R     79, fmadd.d, ONE, P60, ONE, rup, ONEUP, 1
    T3R     80, fnmadd.d, ONE, P60, ONE, rdn, 0xbff0000000000001, 1
    T3R     81, fmadd.d, 0, ONE, 0x8000000000000000, rne, 0, 0        /* +0 + -0 */
    T3R     82, fmadd.d, 0x8000000000000000, ONE, 0x8000000000000000, rne, 0x8000000000000000, 0
    T3R     83, fmsub.d, 1, HALF, 0, rne, 0, 3
    T3R     84, fnmsub.d, ONE, ONE, ONE, rdn, 0x8000000000000000, 0

    /* ---- sign injection: bits only, NaNs untouched, no flags ---- */
    T2      85, fsgnj.d, ONE, 0xc000000000000000, MONE, 0
    T2      86, fsgnjn.d, ONE, 0xc000000000000000, ONE, 0
    T2      87, fsgnjx.d, MONE, 0xc000000000000000, ONE, 0
    T2      88, fsgnjn.d, SNAN, 0, 0xfff4000000000000, 0
    T2      89, fsgnjx.d, 0x7ff8000000000123, MONE, 0xfff8000000000123, 0

    /* ---- moves keep every bit ---- */
    li      a2, 0x7ff4000000000abc
    fmv.d.x fa4, a2
    fsflags x0
    fmv.x.d a0, fa4
    RESULT_X 90, 0x7ff4000000000abc, 0

    /* ---- loads and stores, compressed forms included ---- */
    la      s0, buf
    LDF     fa1, 0x0123456789abcdef
    fsd     fa1, 8(s0)
    ld      a0, 8(s0)
    CHECK   91, a0, 0x0123456789abcdef
    fld     fa0, 8(s0)
    fmv.x.d a0, fa0
    CHECK   92, a0, 0x0123456789abcdef
    LDF     fs1, 0x7ff4000000000001
    c.fsd   fs1, 16(s0)
    ld      a0, 16(s0)
    CHECK   93, a0, 0x7ff4000000000001
    li      a0, 0x3ff8000000000000
    sd      a0, 24(s0)
    c.fld   fs0, 24(s0)
    fmv.x.d a0, fs0
    CHECK   94, a0, 0x3ff8000000000000
    mv      s1, sp
    mv      sp, s0
    LDF     ft0, 0xc0a0000000000000
    c.fsdsp ft0, 32(sp)
    c.fldsp ft1, 32(sp)
    c.fldsp f0, 24(sp)              /* f0 is a real register */
    mv      sp, s1
    fmv.x.d a0, ft1
    CHECK   95, a0, 0xc0a0000000000000
    fmv.x.d a0, f0
    CHECK   96, a0, 0x3ff8000000000000
    ld      a0, 32(s0)
    CHECK   97, a0, 0xc0a0000000000000

    TEST_END

    .data
    .balign 8
buf:
    .zero   64
