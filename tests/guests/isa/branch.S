/*
 * Branches and jumps: every conditional branch taken and not taken
 * (signed vs unsigned comparisons, equal operands), backward branches,
 * branches over a long distance, JAL/JALR link values (pc+4), JAL/JALR with
 * rd=x0, JALR clearing bit 0 of the target, JALR with rd == rs1.
 */
#include "test_macros.h"
    .option norvc

    TEST_START

    li      s1, -1
    li      s2, 1
    li      s3, 1

    /* Each branch sets a0 to 1 when taken, 0 when not. */
.macro BR num, op, x, y, expect_taken
    li      a0, 0
    \op     \x, \y, .Lt\@
    j       .Ld\@
.Lt\@:
    li      a0, 1
.Ld\@:
    CHECK   \num, a0, \expect_taken
.endm

    BR      1,  beq,  s2, s3, 1
    BR      2,  beq,  s1, s2, 0
    BR      3,  bne,  s1, s2, 1
    BR      4,  bne,  s2, s3, 0
    BR      5,  blt,  s1, s2, 1     /* -1 < 1 signed */
    BR      6,  blt,  s2, s1, 0
    BR      7,  blt,  s2, s3, 0     /* equal: not less */
    BR      8,  bge,  s2, s1, 1
    BR      9,  bge,  s2, s3, 1     /* equal: taken */
    BR      10, bge,  s1, s2, 0
    BR      11, bltu, s2, s1, 1     /* 1 < 0xff..ff unsigned */
    BR      12, bltu, s1, s2, 0
    BR      13, bltu, s2, s3, 0
    BR      14, bgeu, s1, s2, 1
    BR      15, bgeu, s2, s3, 1
    BR      16, bgeu, s2, s1, 0
    BR      17, beq,  zero, zero, 1
    BR      18, blt,  zero, s1, 0   /* 0 < -1 is false */
    BR      19, bltu, zero, s1, 1
    li      s4, 0x8000000000000000
    li      s5, 0x7fffffffffffffff
    BR      20, blt,  s4, s5, 1     /* INT64_MIN < INT64_MAX */
    BR      21, bltu, s4, s5, 0
    BR      22, bge,  s5, s4, 1
    BR      23, bgeu, s5, s4, 0

    /* backward branch: a counted loop */
    li      a0, 0
    li      a1, 10
1:  addi    a0, a0, 3
    addi    a1, a1, -1
    bnez    a1, 1b
    CHECK   24, a0, 30

    /* long forward and backward branches (about 3 KiB each way) */
    li      a0, 0
    beqz    a0, far_fwd
    j       fail_25
far_back:
    li      a0, 2
    j       far_done
    .fill   750, 4, 0x00000013      /* nops */
far_fwd:
    li      a0, 1
    bnez    a0, far_back
    j       fail_25
far_done:
    CHECK   25, a0, 2

    /* ---- JAL ---- */
jal_site:
    jal     ra, jal_target          /* ra = jal_site + 4 */
jal_ret:
    j       1f
jal_target:
    la      a0, jal_ret
    CHECK_EQ 26, ra, a0
    jr      ra
1:
    li      t0, 0x55
    jal     t0, 2f                  /* link register other than ra */
1:  j       fail_27
2:  la      a0, 1b
    CHECK_EQ 27, t0, a0
    li      ra, 0x1234
    jal     zero, 3f                /* rd = x0: no link */
    j       fail_28
3:  li      a0, 0x1234
    CHECK_EQ 28, ra, a0

    /* ---- JALR ---- */
    la      t1, jalr_target
    li      ra, 0
jalr_site:
    jalr    ra, 0(t1)
jalr_ret:
    j       1f
jalr_target:
    la      a0, jalr_ret
    CHECK_EQ 29, ra, a0
    ret
1:
    /* target = (rs1 + imm) with bit 0 cleared */
    li      a0, 0
    la      t1, jalr_target2
    addi    t1, t1, 1
    jalr    ra, 0(t1)
    j       1f
jalr_target2:
    li      a0, 30
    ret
1:  CHECK   30, a0, 30
    li      a0, 0
    la      t1, jalr_target3 + 9
    jalr    ra, -8(t1)              /* (x + 9 - 8) & ~1 = x */
    j       1f
jalr_target3:
    li      a0, 31
    ret
1:  CHECK   31, a0, 31
    /* rd == rs1: the target uses the old value, then the link is written */
    la      t2, jalr_target4
    jalr    t2, 0(t2)
jalr_ret4:
    j       1f
jalr_target4:
    la      a0, jalr_ret4
    CHECK_EQ 32, t2, a0
    jr      t2
1:
    /* rd = x0: plain indirect jump, x0 stays 0 */
    la      t1, 1f
    jalr    zero, 0(t1)
    j       fail_33
1:  mv      a0, zero
    CHECK   33, a0, 0
    /* (x + 3) & ~1 = x + 2: lands on a 2-byte-aligned compressed
       instruction, skipping the c.li in front of it (a0 = 2, not 7) */
    li      a0, 0
    la      t1, jalr_target5
    jalr    ra, 3(t1)
    j       1f
    .balign 4
jalr_target5:
    .option push
    .option rvc
    c.li    a0, 5                   /* skipped by the +2 */
    c.addi  a0, 2
    c.jr    ra
    .option pop
1:  CHECK   34, a0, 2

    TEST_END

fail_25: li tp, 25
    j fail
fail_27: li tp, 27
    j fail
fail_28: li tp, 28
    j fail
fail_33: li tp, 33
    j fail
