/*
 * Zba (address generation): add.uw, sh1add/sh2add/sh3add, their .uw forms
 * (rs1 zero-extended from 32 bits before shifting), slli.uw (including
 * shift 63 and bits shifted out of the top), and zext.w (= add.uw rd, rs, x0).
 */
#include "test_macros.h"
    .option norvc

    TEST_START

    li      a1, 0xffffffff80000001  /* upper half must be ignored by .uw ops */
    li      a2, 0x1000000000000000

    add.uw  a0, a1, a2
    CHECK   1, a0, 0x1000000080000001
    zext.w  a0, a1
    CHECK   2, a0, 0x80000001
    add.uw  a0, a1, zero
    CHECK   3, a0, 0x80000001

    li      a3, 0x100
    li      a4, 7
    sh1add  a0, a4, a3
    CHECK   4, a0, 0x10e
    sh2add  a0, a4, a3
    CHECK   5, a0, 0x11c
    sh3add  a0, a4, a3
    CHECK   6, a0, 0x138
    li      a4, 0xc000000000000001  /* top bits shift out */
    sh1add  a0, a4, zero
    CHECK   7, a0, 0x8000000000000002
    sh3add  a0, a4, a3
    CHECK   8, a0, 0x0000000000000108
    li      a4, -1
    sh2add  a0, a4, a3              /* 0x100 - 4 */
    CHECK   9, a0, 0xfc

    sh1add.uw a0, a1, a2
    CHECK   10, a0, 0x1000000100000002
    sh2add.uw a0, a1, a2
    CHECK   11, a0, 0x1000000200000004
    sh3add.uw a0, a1, a2
    CHECK   12, a0, 0x1000000400000008
    li      a4, -1
    sh3add.uw a0, a4, zero
    CHECK   13, a0, 0x00000007fffffff8

    slli.uw a0, a1, 0
    CHECK   14, a0, 0x80000001
    slli.uw a0, a1, 4
    CHECK   15, a0, 0x0000000800000010
    slli.uw a0, a1, 32
    CHECK   16, a0, 0x8000000100000000
    slli.uw a0, a1, 63              /* only bit 0 survives */
    CHECK   17, a0, 0x8000000000000000
    slli.uw a0, a1, 33              /* bit 31 shifted out */
    CHECK   18, a0, 0x0000000200000000

    /* rd = x0 */
    sh3add  zero, a1, a2
    mv      a0, zero
    CHECK   19, a0, 0

    TEST_END
