/*
 * M extension: MUL/MULH/MULHSU/MULHU/MULW and DIV/DIVU/REM/REMU with their
 * W forms, including the architecturally defined results for division by
 * zero (quotient all ones, remainder = dividend) and for signed overflow
 * (MIN / -1 = MIN, remainder 0), rounding toward zero, and W forms ignoring
 * the upper 32 bits of their inputs and sign-extending their result.
 */
#include "test_macros.h"
    .option norvc

    TEST_START

    /* ---- multiplication ---- */
    li      a1, 0x123456789abcdef0
    li      a2, 0xfedcba9876543210
    mul     a0, a1, a2
    CHECK   1, a0, 0x236d88fe5618cf00
    mulh    a0, a1, a2
    CHECK   2, a0, 0xffeb49923cc09532
    mulhu   a0, a1, a2
    CHECK   3, a0, 0x121fa00ad77d7422
    mulhsu  a0, a1, a2              /* rs1 signed (positive), rs2 unsigned */
    CHECK   4, a0, 0x121fa00ad77d7422
    mulhsu  a0, a2, a1              /* rs1 negative */
    CHECK   5, a0, 0xffeb49923cc09532

    li      a1, -1
    mulh    a0, a1, a1              /* (-1)(-1) = 1: high half 0 */
    CHECK   6, a0, 0
    mulhu   a0, a1, a1              /* (2^64-1)^2 */
    CHECK   7, a0, 0xfffffffffffffffe
    mulhsu  a0, a1, a1              /* -1 * (2^64-1): high half all ones */
    CHECK   8, a0, -1
    mul     a0, a1, a1
    CHECK   9, a0, 1
    li      a2, 0x8000000000000000
    mulh    a0, a2, a2              /* MIN*MIN = 2^126 */
    CHECK   10, a0, 0x4000000000000000
    li      a3, -1
    mulhsu  a0, a2, a3              /* -2^63 * (2^64-1) */
    CHECK   11, a0, 0x8000000000000000
    mulhu   a0, a2, zero
    CHECK   12, a0, 0

    li      a1, 0x7fffffff
    li      a2, 2
    mulw    a0, a1, a2              /* 0xfffffffe, sign-extended */
    CHECK   13, a0, -2
    li      a1, 0x123456789         /* only the low 32 bits take part */
    li      a2, 0xffffffffabcdef01
    mulw    a0, a1, a2
    CHECK   14, a0, 0x5aa34e89

    /* ---- division, rounding toward zero ---- */
    li      a1, -7
    li      a2, 2
    div     a0, a1, a2
    CHECK   15, a0, -3
    rem     a0, a1, a2
    CHECK   16, a0, -1
    li      a1, 7
    li      a2, -2
    div     a0, a1, a2
    CHECK   17, a0, -3
    rem     a0, a1, a2
    CHECK   18, a0, 1
    li      a1, -7
    divu    a0, a1, a2              /* 0xff..f9 < 0xff..fe unsigned: 0 */
    CHECK   19, a0, 0
    remu    a0, a1, a2
    CHECK   20, a0, -7
    li      a1, 1000000007
    li      a2, 13
    div     a0, a1, a2
    CHECK   21, a0, 76923077
    remu    a0, a1, a2
    CHECK   22, a0, 6

    /* ---- division by zero ---- */
    li      a1, 12345
    div     a0, a1, zero
    CHECK   23, a0, -1
    divu    a0, a1, zero
    CHECK   24, a0, 0xffffffffffffffff
    rem     a0, a1, zero
    CHECK   25, a0, 12345
    remu    a0, a1, zero
    CHECK   26, a0, 12345
    li      a1, -12345
    rem     a0, a1, zero
    CHECK   27, a0, -12345
    div     a0, a1, zero
    CHECK   28, a0, -1

    /* ---- signed overflow ---- */
    li      a1, 0x8000000000000000
    li      a2, -1
    div     a0, a1, a2
    CHECK   29, a0, 0x8000000000000000
    rem     a0, a1, a2
    CHECK   30, a0, 0
    divu    a0, a1, a2              /* not an overflow unsigned: 0 */
    CHECK   31, a0, 0
    remu    a0, a1, a2
    CHECK   32, a0, 0x8000000000000000

    /* ---- W forms ---- */
    li      a1, 0x1234567800000010  /* low word 16 */
    li      a2, 0xffffffff00000004  /* low word 4 */
    divw    a0, a1, a2
    CHECK   33, a0, 4
    li      a1, -7
    li      a2, 2
    divw    a0, a1, a2
    CHECK   34, a0, -3
    remw    a0, a1, a2
    CHECK   35, a0, -1
    li      a1, 0x00000000fffffff9  /* low word = -7 as unsigned 0xfffffff9 */
    divuw   a0, a1, a2              /* 0x7ffffffc, positive */
    CHECK   36, a0, 0x7ffffffc
    li      a2, 1
    divuw   a0, a1, a2              /* 0xfffffff9 sign-extended */
    CHECK   37, a0, 0xfffffffffffffff9
    li      a2, 0x10
    remuw   a0, a1, a2
    CHECK   38, a0, 9
    li      a1, 0x5555555580000000
    li      a2, 0x0000000100000000  /* low word 0: division by zero */
    divw    a0, a1, a2
    CHECK   39, a0, -1
    divuw   a0, a1, a2              /* 0xffffffff sign-extended */
    CHECK   40, a0, -1
    remw    a0, a1, a2              /* dividend's low word, sign-extended */
    CHECK   41, a0, 0xffffffff80000000
    remuw   a0, a1, a2
    CHECK   42, a0, 0xffffffff80000000
    li      a1, 0x0000000712345678
    remw    a0, a1, zero
    CHECK   43, a0, 0x12345678
    remuw   a0, a1, zero
    CHECK   44, a0, 0x12345678

    /* 32-bit signed overflow */
    li      a1, 0x80000000
    li      a2, -1
    divw    a0, a1, a2
    CHECK   45, a0, 0xffffffff80000000
    remw    a0, a1, a2
    CHECK   46, a0, 0
    divuw   a0, a1, a2              /* 0x80000000 / 0xffffffff = 0 */
    CHECK   47, a0, 0
    remuw   a0, a1, a2
    CHECK   48, a0, 0xffffffff80000000

    /* rd = x0 */
    li      a1, 5
    div     zero, a1, a1
    mul     zero, a1, a1
    mv      a0, zero
    CHECK   49, a0, 0

    TEST_END
