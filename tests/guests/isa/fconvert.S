/*
 * F and D conversions to and from integers: every width and signedness,
 * all five rounding modes, saturation on overflow, NaN and infinity (NV,
 * no NX), NX for inexact in-range results, 32-bit results sign-extended
 * (FCVT.WU.* too), and W sources taken from the low 32 bits.
 */
#include "fp_macros.h"

#define D1_5    0x3ff8000000000000
#define D2_5    0x4004000000000000
#define DM2_5   0xc004000000000000
#define DQNAN   0x7ff8000000000000
#define DINF    0x7ff0000000000000
#define DMINF   0xfff0000000000000
#define D2P31   0x41e0000000000000
#define DM2P31  0xc1e0000000000000
#define D2P63   0x43e0000000000000
#define DM2P63  0xc3e0000000000000
#define D2P64   0x43f0000000000000

    TEST_START

    /* ---- double -> int32 ---- */
    TFI     1, fcvt.w.d, D1_5, rne, 2, 1
    TFI     2, fcvt.w.d, D2_5, rne, 2, 1
    TFI     3, fcvt.w.d, D2_5, rmm, 3, 1
    TFI     4, fcvt.w.d, DM2_5, rmm, -3, 1
    TFI     5, fcvt.w.d, DM2_5, rdn, -3, 1
    TFI     6, fcvt.w.d, DM2_5, rup, -2, 1
    TFI     7, fcvt.w.d, DM2_5, rtz, -2, 1
    TFI     8, fcvt.w.d, D2P31, rtz, 0x7fffffff, 16
    TFI     9, fcvt.w.d, DM2P31, rtz, 0xffffffff80000000, 0
    TFI     10, fcvt.w.d, 0xc1e0000000100000, rtz, 0xffffffff80000000, 1   /* -2^31 - 0.5 */
    TFI     11, fcvt.w.d, 0xc1e0000000100000, rne, 0xffffffff80000000, 1
    TFI     12, fcvt.w.d, 0xc1e0000000100000, rdn, 0xffffffff80000000, 16
    TFI     13, fcvt.w.d, 0x41dfffffffe00000, rne, 0x7fffffff, 16           /* 2^31 - 0.5: tie, to 2^31 */
    TFI     14, fcvt.w.d, 0x41dfffffffe00000, rtz, 0x7fffffff, 1
    TFI     15, fcvt.w.d, DQNAN, rne, 0x7fffffff, 16
    TFI     16, fcvt.w.d, 0xfff8000000000000, rne, 0x7fffffff, 16          /* NaN: max, whatever its sign */
    TFI     17, fcvt.w.d, DINF, rne, 0x7fffffff, 16
    TFI     18, fcvt.w.d, DMINF, rne, 0xffffffff80000000, 16
    TFI     19, fcvt.w.d, 0x8000000000000000, rne, 0, 0
    TFI     20, fcvt.w.d, 1, rup, 1, 1                                     /* 2^-1074 */
    TFI     21, fcvt.w.d, 0x8000000000000001, rdn, -1, 1
    /* ---- double -> uint32 ---- */
    TFI     22, fcvt.wu.d, 0x41e65a0bc0000000, rne, 0xffffffffb2d05e00, 0   /* 3e9, sign-extended */
    TFI     23, fcvt.wu.d, 0xbff0000000000000, rne, 0, 16
    TFI     24, fcvt.wu.d, 0xbfe0000000000000, rtz, 0, 1                     /* -0.5 -> -0: fine */
    TFI     25, fcvt.wu.d, 0xbfe8000000000000, rne, 0, 16                    /* -0.75 -> -1 */
    TFI     26, fcvt.wu.d, 0x41f0000000000000, rne, -1, 16
    TFI     27, fcvt.wu.d, 0x41efffffffe00000, rne, -1, 0                    /* 2^32 - 1 */
    TFI     28, fcvt.wu.d, DQNAN, rne, -1, 16
    TFI     29, fcvt.wu.d, DMINF, rne, 0, 16
    /* ---- double -> int64, uint64 ---- */
    TFI     30, fcvt.l.d, D2P63, rne, 0x7fffffffffffffff, 16
    TFI     31, fcvt.l.d, DM2P63, rne, 0x8000000000000000, 0
    TFI     32, fcvt.l.d, 0x43dfffffffffffff, rne, 0x7ffffffffffffc00, 0
    TFI     33, fcvt.l.d, DQNAN, rne, 0x7fffffffffffffff, 16
    TFI     34, fcvt.l.d, DMINF, rne, 0x8000000000000000, 16
    TFI     35, fcvt.l.d, 0x7e37e43c8800759c, rne, 0x7fffffffffffffff, 16    /* 1e300 */
    TFI     36, fcvt.l.d, DM2_5, rne, -2, 1
    TFI     37, fcvt.lu.d, D2P64, rne, -1, 16
    TFI     38, fcvt.lu.d, 0x43efffffffffffff, rne, 0xfffffffffffff800, 0
    TFI     39, fcvt.lu.d, 0xbff0000000000000, rne, 0, 16
    TFI     40, fcvt.lu.d, DQNAN, rne, -1, 16
    TFI     41, fcvt.lu.d, D2_5, rmm, 3, 1
    TFI     42, fcvt.lu.d, 0xbfefffffffffffff, rup, 0, 1                     /* -0.99..: rounds to -0 */
    /* ---- single -> integers ---- */
    TFI     43, fcvt.w.s, 0xffffffff40200000, rne, 2, 1                      /* 2.5 */
    TFI     44, fcvt.w.s, 0xffffffff40200000, rmm, 3, 1
    TFI     45, fcvt.w.s, 0xffffffff4f000000, rne, 0x7fffffff, 16            /* 2^31 */
    TFI     46, fcvt.w.s, 0xffffffffcf000000, rne, 0xffffffff80000000, 0
    TFI     47, fcvt.w.s, 0x000000003f800000, rne, 0x7fffffff, 16            /* unboxed: NaN */
    TFI     48, fcvt.wu.s, 0xffffffff4f800000, rne, -1, 16                    /* 2^32 */
    TFI     49, fcvt.wu.s, 0xffffffff4f7fffff, rne, 0xffffffffffffff00, 0
    TFI     50, fcvt.l.s, 0xffffffff5f000000, rne, 0x7fffffffffffffff, 16    /* 2^63 */
    TFI     51, fcvt.l.s, 0xffffffffdf000000, rne, 0x8000000000000000, 0
    TFI     52, fcvt.l.s, 0xffffffff7fa00000, rne, 0x7fffffffffffffff, 16
    TFI     53, fcvt.lu.s, 0xffffffff5f800000, rne, -1, 16                   /* 2^64 */
    TFI     54, fcvt.lu.s, 0xffffffff5f7fffff, rne, 0xffffff0000000000, 0
    TFI     55, fcvt.lu.s, 0xffffffffbf800000, rne, 0, 16
    TFI     56, fcvt.l.s, 0xffffffff3f000000, rdn, 0, 1
    TFI     57, fcvt.l.s, 0xffffffffbf000000, rdn, -1, 1

    /* ---- integers -> double ---- */
    TIFX    58, fcvt.d.w, -1, 0xbff0000000000000, 0
    TIFX    59, fcvt.d.w, 0x100000001, 0x3ff0000000000000, 0             /* low 32 bits */
    TIFX    60, fcvt.d.wu, 0xffffffff, 0x41efffffffe00000, 0
    TIFX    61, fcvt.d.wu, -1, 0x41efffffffe00000, 0
    TIF     62, fcvt.d.l, 0x20000000000001, rne, 0x4340000000000000, 1        /* 2^53 + 1 */
    TIF     63, fcvt.d.l, 0x20000000000001, rup, 0x4340000000000001, 1
    TIF     64, fcvt.d.l, 0x20000000000001, rmm, 0x4340000000000001, 1
    TIF     65, fcvt.d.l, 0x20000000000001, rtz, 0x4340000000000000, 1
    TIF     66, fcvt.d.l, -0x20000000000001, rdn, 0xc340000000000001, 1
    TIF     67, fcvt.d.l, 0x8000000000000000, rne, DM2P63, 0
    TIF     68, fcvt.d.l, 0, rne, 0, 0
    TIF     69, fcvt.d.lu, -1, rne, D2P64, 1
    TIF     70, fcvt.d.lu, -1, rtz, 0x43efffffffffffff, 1
    TIF     71, fcvt.d.lu, -1, rdn, 0x43efffffffffffff, 1
    /* ---- integers -> single ---- */
    TIF     72, fcvt.s.w, 16777217, rne, 0xffffffff4b800000, 1
    TIF     73, fcvt.s.w, 16777217, rmm, 0xffffffff4b800001, 1
    TIF     74, fcvt.s.w, 16777217, rup, 0xffffffff4b800001, 1
    TIF     75, fcvt.s.w, -16777217, rdn, 0xffffffffcb800001, 1
    TIF     76, fcvt.s.w, 0x80000000, rne, 0xffffffffcf000000, 0
    TIF     77, fcvt.s.wu, 0x80000000, rne, 0xffffffff4f000000, 0
    TIF     78, fcvt.s.wu, -1, rne, 0xffffffff4f800000, 1
    TIF     79, fcvt.s.l, -1, rne, 0xffffffffbf800000, 0
    TIF     80, fcvt.s.lu, -1, rne, 0xffffffff5f800000, 1
    TIF     81, fcvt.s.lu, -1, rtz, 0xffffffff5f7fffff, 1
    TIF     82, fcvt.s.l, 0x7fffffffffffffff, rne, 0xffffffff5f000000, 1

    TEST_END
