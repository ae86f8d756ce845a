/*
 * F and D compares (FEQ quiet, FLT/FLE signalling, -0 == +0), FCLASS of
 * all ten classes, and FMIN/FMAX with RISC-V 2.2+ semantics: a NaN operand
 * yields the other one, two NaNs the canonical NaN, a signalling NaN raises
 * NV, and -0 < +0.
 */
#include "fp_macros.h"

#define ONE     0x3ff0000000000000
#define TWO     0x4000000000000000
#define QNAN    0x7ff8000000000000
#define SNAN    0x7ff4000000000000
#define PZ      0
#define NZ      0x8000000000000000
#define SONE    0xffffffff3f800000
#define STWO    0xffffffff40000000
#define SQNAN   0xffffffff7fc00000
#define SSNAN   0xffffffff7fa00000

    TEST_START

    TCMP    1, feq.d, ONE, ONE, 1, 0
    TCMP    2, feq.d, ONE, TWO, 0, 0
    TCMP    3, feq.d, QNAN, ONE, 0, 0
    TCMP    4, feq.d, SNAN, ONE, 0, 16
    TCMP    5, feq.d, NZ, PZ, 1, 0
    TCMP    6, flt.d, ONE, TWO, 1, 0
    TCMP    7, flt.d, QNAN, ONE, 0, 16
    TCMP    8, flt.d, NZ, PZ, 0, 0
    TCMP    9, fle.d, NZ, PZ, 1, 0
    TCMP    10, fle.d, TWO, ONE, 0, 0
    TCMP    11, fle.d, ONE, QNAN, 0, 16
    TCMP    12, flt.d, 0xbff0000000000000, 0xbfe0000000000000, 1, 0
    TCMP    13, flt.d, 0xfff0000000000000, 0xffefffffffffffff, 1, 0
    TCMP    14, feq.s, SONE, SONE, 1, 0
    TCMP    15, feq.s, SSNAN, SONE, 0, 16
    TCMP    16, feq.s, SQNAN, SQNAN, 0, 0
    TCMP    17, flt.s, SONE, STWO, 1, 0
    TCMP    18, fle.s, SQNAN, SONE, 0, 16
    TCMP    19, feq.s, 0x000000003f800000, SONE, 0, 0         /* unboxed reads as qNaN */
    TCMP    20, fle.s, 0xffffffff80000000, 0xffffffff00000000, 1, 0

    TCLASS  21, fclass.d, 0xfff0000000000000, 1 << 0
    TCLASS  22, fclass.d, 0xbff0000000000000, 1 << 1
    TCLASS  23, fclass.d, 0x800fffffffffffff, 1 << 2
    TCLASS  24, fclass.d, NZ, 1 << 3
    TCLASS  25, fclass.d, PZ, 1 << 4
    TCLASS  26, fclass.d, 1, 1 << 5
    TCLASS  27, fclass.d, ONE, 1 << 6
    TCLASS  28, fclass.d, 0x7ff0000000000000, 1 << 7
    TCLASS  29, fclass.d, SNAN, 1 << 8
    TCLASS  30, fclass.d, QNAN, 1 << 9
    TCLASS  31, fclass.s, 0xffffffffff800000, 1 << 0
    TCLASS  32, fclass.s, 0xffffffffbf800000, 1 << 1
    TCLASS  33, fclass.s, 0xffffffff807fffff, 1 << 2
    TCLASS  34, fclass.s, 0xffffffff80000000, 1 << 3
    TCLASS  35, fclass.s, 0xffffffff00000000, 1 << 4
    TCLASS  36, fclass.s, 0xffffffff00000001, 1 << 5
    TCLASS  37, fclass.s, SONE, 1 << 6
    TCLASS  38, fclass.s, 0xffffffff7f800000, 1 << 7
    TCLASS  39, fclass.s, SSNAN, 1 << 8
    TCLASS  40, fclass.s, SQNAN, 1 << 9
    TCLASS  41, fclass.s, 0x00000000ff800000, 1 << 9            /* unboxed */

    T2      42, fmin.d, ONE, TWO, ONE, 0
    T2      43, fmax.d, ONE, TWO, TWO, 0
    T2      44, fmin.d, NZ, PZ, NZ, 0
    T2      45, fmin.d, PZ, NZ, NZ, 0
    T2      46, fmax.d, NZ, PZ, PZ, 0
    T2      47, fmax.d, PZ, NZ, PZ, 0
    T2      48, fmin.d, QNAN, ONE, ONE, 0
    T2      49, fmin.d, ONE, QNAN, ONE, 0
    T2      50, fmin.d, SNAN, ONE, ONE, 16
    T2      51, fmax.d, ONE, SNAN, ONE, 16
    T2      52, fmin.d, QNAN, QNAN, QNAN, 0
    T2      53, fmax.d, 0xfff8000000000123, 0x7ff8000000000456, QNAN, 0
    T2      54, fmin.d, SNAN, QNAN, QNAN, 16
    T2      55, fmax.d, 0xfff0000000000000, 0x7ff0000000000000, 0x7ff0000000000000, 0
    T2      56, fmin.s, SONE, STWO, SONE, 0
    T2      57, fmax.s, 0xffffffff80000000, 0xffffffff00000000, 0xffffffff00000000, 0
    T2      58, fmin.s, 0xffffffff80000000, 0xffffffff00000000, 0xffffffff80000000, 0
    T2      59, fmin.s, SSNAN, SONE, SONE, 16
    T2      60, fmax.s, SQNAN, SSNAN, SQNAN, 16
    T2      61, fmax.s, 0x000000003f800000, 0x0000000040000000, SQNAN, 0    /* both unboxed */

    TEST_END
