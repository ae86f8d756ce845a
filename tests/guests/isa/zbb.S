/*
 * Zbb (basic bit manipulation): andn/orn/xnor, clz/ctz/cpop and W forms
 * (on 0, all ones, and with garbage in the upper half for the W forms),
 * min/max/minu/maxu, sext.b/sext.h/zext.h, rol/ror/rori and the W forms
 * rolw/rorw/roriw (sign-extended results, shift amount masking), orc.b, rev8.
 */
#include "test_macros.h"
    .option norvc

    TEST_START

    li      a1, 0xf0f0f0f0f0f0f0f0
    li      a2, 0xff00ff00ff00ff00
    andn    a0, a1, a2
    CHECK   1, a0, 0x00f000f000f000f0
    orn     a0, a1, a2
    CHECK   2, a0, 0xf0fff0fff0fff0ff
    xnor    a0, a1, a2
    CHECK   3, a0, 0xf00ff00ff00ff00f

    /* ---- counts ---- */
    clz     a0, zero
    CHECK   4, a0, 64
    ctz     a0, zero
    CHECK   5, a0, 64
    cpop    a0, zero
    CHECK   6, a0, 0
    li      a1, -1
    clz     a0, a1
    CHECK   7, a0, 0
    ctz     a0, a1
    CHECK   8, a0, 0
    cpop    a0, a1
    CHECK   9, a0, 64
    clzw    a0, zero
    CHECK   10, a0, 32
    ctzw    a0, zero
    CHECK   11, a0, 32
    cpopw   a0, zero
    CHECK   12, a0, 0
    clzw    a0, a1
    CHECK   13, a0, 0
    ctzw    a0, a1
    CHECK   14, a0, 0
    cpopw   a0, a1
    CHECK   15, a0, 32
    li      a1, 0x0000100000000800
    clz     a0, a1
    CHECK   16, a0, 19
    ctz     a0, a1
    CHECK   17, a0, 11
    cpop    a0, a1
    CHECK   18, a0, 2
    li      a1, 0xffffffff00000001  /* W forms look at the low word only */
    clzw    a0, a1
    CHECK   19, a0, 31
    ctzw    a0, a1
    CHECK   20, a0, 0
    cpopw   a0, a1
    CHECK   21, a0, 1
    li      a1, 0x0000000100000000
    ctzw    a0, a1
    CHECK   22, a0, 32
    clzw    a0, a1
    CHECK   23, a0, 32
    li      a1, 0x8000000000000000
    ctz     a0, a1
    CHECK   24, a0, 63
    li      a1, 0x00000000f0000000
    clz     a0, a1
    CHECK   25, a0, 32
    clzw    a0, a1
    CHECK   26, a0, 0

    /* ---- min / max ---- */
    li      a1, -1
    li      a2, 1
    min     a0, a1, a2
    CHECK   27, a0, -1
    max     a0, a1, a2
    CHECK   28, a0, 1
    minu    a0, a1, a2
    CHECK   29, a0, 1
    maxu    a0, a1, a2
    CHECK   30, a0, -1
    li      a3, 0x8000000000000000
    min     a0, a3, a1
    CHECK   31, a0, 0x8000000000000000
    maxu    a0, a3, a2
    CHECK   32, a0, 0x8000000000000000
    min     a0, a2, a2
    CHECK   33, a0, 1

    /* ---- sign / zero extension ---- */
    li      a1, 0x1234567890abcd80
    sext.b  a0, a1
    CHECK   34, a0, 0xffffffffffffff80
    sext.h  a0, a1
    CHECK   35, a0, 0xffffffffffffcd80
    zext.h  a0, a1
    CHECK   36, a0, 0xcd80
    li      a1, 0xffffffffffff7f7f
    sext.b  a0, a1
    CHECK   37, a0, 0x7f
    sext.h  a0, a1
    CHECK   38, a0, 0x7f7f
    zext.h  a0, a1
    CHECK   39, a0, 0x7f7f

    /* ---- rotations ---- */
    li      a1, 0x0123456789abcdef
    li      a2, 4
    rol     a0, a1, a2
    CHECK   40, a0, 0x123456789abcdef0
    li      a2, 68                  /* & 63 = 4 */
    rol     a0, a1, a2
    CHECK   41, a0, 0x123456789abcdef0
    li      a2, 4
    ror     a0, a1, a2
    CHECK   42, a0, 0xf0123456789abcde
    ror     a0, a1, zero
    CHECK   43, a0, 0x0123456789abcdef
    rori    a0, a1, 63
    CHECK   44, a0, 0x02468acf13579bde
    rori    a0, a1, 4
    CHECK   45, a0, 0xf0123456789abcde

    li      a1, 0xffffffff80000001
    li      a2, 1
    rolw    a0, a1, a2
    CHECK   46, a0, 3
    li      a2, 33                  /* & 31 = 1 */
    rolw    a0, a1, a2
    CHECK   47, a0, 3
    li      a2, 1
    rorw    a0, a1, a2
    CHECK   48, a0, 0xffffffffc0000000
    roriw   a0, a1, 31
    CHECK   49, a0, 3
    li      a1, 0x1234567887654321
    roriw   a0, a1, 0               /* still sign-extends the low word */
    CHECK   50, a0, 0xffffffff87654321
    li      a1, 0x0000000012345678
    rorw    a0, a1, zero
    CHECK   51, a0, 0x12345678

    /* ---- orc.b, rev8 ---- */
    li      a1, 0x0100200003000040
    orc.b   a0, a1
    CHECK   52, a0, 0xff00ff00ff0000ff
    orc.b   a0, zero
    CHECK   53, a0, 0
    li      a1, 0x0123456789abcdef
    rev8    a0, a1
    CHECK   54, a0, 0xefcdab8967452301

    TEST_END
