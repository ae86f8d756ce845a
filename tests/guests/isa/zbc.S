/*
 * Zbc (carry-less multiplication): clmul (low half of the 128-bit
 * carry-less product), clmulh (high half), clmulr (bits 126..63).
 * Expected values computed independently with Python integers.
 */
#include "test_macros.h"
    .option norvc

    TEST_START

    li      a1, 0x123456789abcdef0
    li      a2, 0xfedcba9876543210
    clmul   a0, a1, a2
    CHECK   1, a0, 0x0a0789828c810f00
    clmulh  a0, a1, a2
    CHECK   2, a0, 0x0e038d8688850b04
    clmulr  a0, a1, a2
    CHECK   3, a0, 0x1c071b0d110a1608

    li      a1, -1
    clmul   a0, a1, a1
    CHECK   4, a0, 0x5555555555555555
    clmulh  a0, a1, a1
    CHECK   5, a0, 0x5555555555555555
    clmulr  a0, a1, a1
    CHECK   6, a0, 0xaaaaaaaaaaaaaaaa

    li      a1, 0x8000000000000001
    clmul   a0, a1, a1              /* x^126 + 1: the middle terms cancel */
    CHECK   7, a0, 1
    clmulh  a0, a1, a1
    CHECK   8, a0, 0x4000000000000000
    clmulr  a0, a1, a1
    CHECK   9, a0, 0x8000000000000000

    li      a1, 2
    li      a2, 3
    clmul   a0, a1, a2
    CHECK   10, a0, 6
    clmulh  a0, a1, a2
    CHECK   11, a0, 0
    clmulr  a0, a1, a2
    CHECK   12, a0, 0

    li      a1, 0xdeadbeefcafef00d
    li      a2, 0x0123456789abcdef
    clmul   a0, a1, a2
    CHECK   13, a0, 0xd9fa158ef8ffc52b
    clmulh  a0, a1, a2
    CHECK   14, a0, 0x00c42fde8b6b55d1
    clmulr  a0, a1, a2
    CHECK   15, a0, 0x01885fbd16d6aba3

    clmul   a0, a1, zero
    CHECK   16, a0, 0
    li      a2, 1
    clmul   a0, a1, a2
    CHECK   17, a0, 0xdeadbeefcafef00d
    clmulh  a0, a1, a2
    CHECK   18, a0, 0

    TEST_END
