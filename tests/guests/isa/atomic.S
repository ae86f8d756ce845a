/*
 * A extension: LR/SC (success, SC with no reservation, SC after a
 * successful SC, SC to an address other than the reserved one, LR.W sign
 * extension) and every AMO in .W and .D form, checking the returned old
 * value (sign-extended for .W), the new memory value, that .W only touches
 * its own 4 bytes, and that .W ops only use the low 32 bits of rs2.
 */
#include "test_macros.h"
    .option norvc

#define SEXT32(x) ((((x) & 0xffffffff) ^ 0x80000000) - 0x80000000)

    .data
    .balign 8
wmem:   .word   0, 0
dmem:   .dword  0, 0
    .balign 4096
other_page:                         /* an address far from the reservation */
    .dword  0

    .text
    TEST_START

    la      s0, wmem
    la      s1, dmem

    /* ---- SC with no reservation at all (nothing done LR yet): fails ---- */
    li      a1, 0x1111
    sw      zero, 0(s0)
    sc.w    a0, a1, (s0)
    snez    a0, a0
    CHECK   1, a0, 1
    lw      a0, 0(s0)
    CHECK_MORE a0, 0
    sc.d    a0, a1, (s1)
    snez    a0, a0
    CHECK   2, a0, 1

    /* ---- LR.W / SC.W ---- */
    li      a1, 0x80000001
    sw      a1, 0(s0)
    lr.w    a0, (s0)                /* sign-extends */
    CHECK   3, a0, 0xffffffff80000001
    li      a2, 0x12345678
    sc.w    a0, a2, (s0)
    CHECK   4, a0, 0                /* success */
    lw      a0, 0(s0)
    CHECK   5, a0, 0x12345678
    li      a2, 0x0badf00d
    sc.w    a0, a2, (s0)            /* reservation consumed by the first SC */
    snez    a0, a0
    CHECK   6, a0, 1
    lw      a0, 0(s0)
    CHECK   7, a0, 0x12345678

    /* ---- LR.D / SC.D ---- */
    li      a1, 0x8000000000000002
    sd      a1, 0(s1)
    lr.d    a0, (s1)
    CHECK   8, a0, 0x8000000000000002
    li      a2, 0x1122334455667788
    sc.d    a0, a2, (s1)
    CHECK   9, a0, 0
    ld      a0, 0(s1)
    CHECK   10, a0, 0x1122334455667788
    sc.d    a0, zero, (s1)
    snez    a0, a0
    CHECK   11, a0, 1
    ld      a0, 0(s1)
    CHECK   12, a0, 0x1122334455667788

    /* with .aq/.rl bits, which a single hart ignores */
    lr.d.aq a0, (s1)
    sc.d.rl a3, zero, (s1)
    CHECK   13, a3, 0
    ld      a0, 0(s1)
    CHECK_MORE a0, 0
    lr.w.aqrl a0, (s0)
    sc.w.aqrl a3, zero, (s0)
    CHECK   14, a3, 0

    /* SC to an address in another page than the reserved one fails (the
       reservation set never spans pages), and still ends the reservation */
    la      s2, other_page
    li      a1, 77
    sd      a1, 0(s2)
    lr.d    a0, (s1)
    sc.d    a0, zero, (s2)
    snez    a0, a0
    CHECK   15, a0, 1
    ld      a0, 0(s2)
    CHECK_MORE a0, 77
    sc.d    a0, zero, (s1)
    snez    a0, a0
    CHECK   16, a0, 1

    /* an LR/SC retry loop as compilers emit it */
    li      a1, 40
    sd      a1, 0(s1)
1:  lr.d    a0, (s1)
    addi    a0, a0, 2
    sc.d    a3, a0, (s1)
    bnez    a3, 1b
    ld      a0, 0(s1)
    CHECK   17, a0, 42

    /* ---- AMO .W: old value (sign-extended) in rd, new value in memory,
       the neighbouring word untouched ---- */
.macro AMOW num, op, init, operand, result
    li      a1, \init
    sw      a1, 0(s0)
    li      a1, 0x5a5a5a5a
    sw      a1, 4(s0)
    li      a2, \operand
    \op     a0, a2, (s0)
    CHECK   \num, a0, SEXT32(\init)
    lw      a0, 0(s0)
    CHECK   \num + 1, a0, SEXT32(\result)
    lw      a0, 4(s0)
    CHECK_MORE a0, 0x5a5a5a5a
.endm
    AMOW    20, amoswap.w, 0x80000000, 0x12345678, 0x12345678
    AMOW    22, amoadd.w,  0x7fffffff, 1, 0x80000000
    AMOW    24, amoadd.w,  0xffffffff, 0x0000000500000002, 1  /* carry out of bit 31 dropped */
    AMOW    26, amoxor.w,  0xf0f0f0f0, 0xff00ff00, 0x0ff00ff0
    AMOW    28, amoand.w,  0xf0f0f0f0, 0x0ff00ff0, 0x00f000f0
    AMOW    30, amoor.w,   0x0000f0f0, 0x80000000, 0x8000f0f0
    AMOW    32, amomin.w,  0x80000000, 5, 0x80000000
    AMOW    34, amomin.w,  5, 0x00000001fffffffe, 0xfffffffe   /* low word is -2 */
    AMOW    36, amomax.w,  0x80000000, 5, 5
    AMOW    38, amomax.w,  0xfffffffe, 0x00000001ffffffff, 0xffffffff  /* -2 vs -1 */
    AMOW    40, amominu.w, 0x80000000, 5, 5
    AMOW    42, amominu.w, 7, 0xffffffff00000003, 3
    AMOW    44, amomaxu.w, 0x80000000, 5, 0x80000000
    AMOW    46, amomaxu.w, 7, 0x00000001fffffff0, 0xfffffff0
    AMOW    48, amoadd.w.aqrl, 10, 20, 30

    /* rd = x0: the memory update still happens */
    li      a1, 100
    sw      a1, 0(s0)
    li      a2, 5
    amoadd.w zero, a2, (s0)
    lw      a0, 0(s0)
    CHECK   50, a0, 105

    /* ---- AMO .D ---- */
.macro AMOD num, op, init, operand, result
    li      a1, \init
    sd      a1, 0(s1)
    li      a1, 0x5a5a5a5a5a5a5a5a
    sd      a1, 8(s1)
    li      a2, \operand
    \op     a0, a2, (s1)
    CHECK   \num, a0, \init
    ld      a0, 0(s1)
    CHECK   \num + 1, a0, \result
    ld      a0, 8(s1)
    CHECK_MORE a0, 0x5a5a5a5a5a5a5a5a
.endm
    AMOD    60, amoswap.d, 0x8000000000000000, 0x123456789abcdef0, 0x123456789abcdef0
    AMOD    62, amoadd.d,  0x7fffffffffffffff, 1, 0x8000000000000000
    AMOD    64, amoadd.d,  0x00000000ffffffff, 1, 0x0000000100000000
    AMOD    66, amoxor.d,  0xf0f0f0f0f0f0f0f0, 0xff00ff00ff00ff00, 0x0ff00ff00ff00ff0
    AMOD    68, amoand.d,  0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, 0x00f000f000f000f0
    AMOD    70, amoor.d,   0x000000000000f0f0, 0x8000000000000000, 0x800000000000f0f0
    AMOD    72, amomin.d,  0x8000000000000000, 5, 0x8000000000000000
    AMOD    74, amomin.d,  5, -2, -2
    AMOD    76, amomax.d,  0x8000000000000000, 5, 5
    AMOD    78, amomax.d,  -2, -1, -1
    AMOD    80, amominu.d, 0x8000000000000000, 5, 5
    AMOD    82, amominu.d, 0x0000000100000000, 0x00000000ffffffff, 0x00000000ffffffff
    AMOD    84, amomaxu.d, 0x8000000000000000, 5, 0x8000000000000000
    AMOD    86, amomaxu.d, 7, -16, -16
    AMOD    88, amoswap.d.aq, 1, 2, 2
    AMOD    90, amoor.d.rl, 1, 2, 3

    /* rd == rs2: the old value lands in rd after the operand was used */
    li      a1, 1000
    sd      a1, 0(s1)
    li      a2, 1
    amoadd.d a2, a2, (s1)
    CHECK   92, a2, 1000
    ld      a0, 0(s1)
    CHECK   93, a0, 1001

    TEST_END
