/*
 * Zbs (single-bit operations): bset/bclr/binv/bext with register index
 * (only the low 6 bits count) and their immediate forms bseti/bclri/binvi/
 * bexti, at bit indices 0, 31, 32 and 63.
 */
#include "test_macros.h"
    .option norvc

    TEST_START

    li      a1, 0x00000000ffff0000

    /* ---- immediate forms ---- */
    bseti   a0, zero, 63
    CHECK   1, a0, 0x8000000000000000
    bseti   a0, a1, 0
    CHECK   2, a0, 0x00000000ffff0001
    bseti   a0, a1, 32
    CHECK   3, a0, 0x00000001ffff0000
    bseti   a0, a1, 31              /* already set */
    CHECK   4, a0, 0x00000000ffff0000
    bclri   a0, a1, 31
    CHECK   5, a0, 0x000000007fff0000
    bclri   a0, a1, 63
    CHECK   6, a0, 0x00000000ffff0000
    li      a2, -1
    bclri   a0, a2, 63
    CHECK   7, a0, 0x7fffffffffffffff
    bclri   a0, a2, 0
    CHECK   8, a0, -2
    binvi   a0, a1, 63
    CHECK   9, a0, 0x80000000ffff0000
    binvi   a0, a1, 16
    CHECK   10, a0, 0x00000000fffe0000
    binvi   a0, a1, 32
    CHECK   11, a0, 0x00000001ffff0000
    bexti   a0, a1, 31
    CHECK   12, a0, 1
    bexti   a0, a1, 32
    CHECK   13, a0, 0
    bexti   a0, a2, 63
    CHECK   14, a0, 1
    bexti   a0, a1, 0
    CHECK   15, a0, 0

    /* ---- register forms ---- */
    li      a3, 63
    bset    a0, zero, a3
    CHECK   16, a0, 0x8000000000000000
    li      a3, 64 + 5              /* index taken mod 64 */
    bset    a0, zero, a3
    CHECK   17, a0, 0x20
    li      a3, -1                  /* & 63 = 63 */
    bclr    a0, a2, a3
    CHECK   18, a0, 0x7fffffffffffffff
    li      a3, 31
    bclr    a0, a1, a3
    CHECK   19, a0, 0x000000007fff0000
    li      a3, 32
    binv    a0, a1, a3
    CHECK   20, a0, 0x00000001ffff0000
    binv    a0, a0, a3
    CHECK   21, a0, 0x00000000ffff0000
    li      a3, 16
    bext    a0, a1, a3
    CHECK   22, a0, 1
    li      a3, 15
    bext    a0, a1, a3
    CHECK   23, a0, 0
    li      a3, 0x7f                /* & 63 = 63 */
    li      a4, 0x8000000000000000
    bext    a0, a4, a3
    CHECK   24, a0, 1
    li      a3, 0
    binv    a0, zero, a3
    CHECK   25, a0, 1

    TEST_END
