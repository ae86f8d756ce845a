/*
 * RV64I integer computation: register/immediate ALU ops, shifts (6-bit
 * shift amounts), 12-bit immediate sign extension, LUI/AUIPC, the *W word
 * ops (32-bit result sign-extended to 64), writes to x0 being ignored, and
 * FENCE as a no-op.  Exit 0 = pass, else the number of the failing check.
 */
#include "test_macros.h"
    .option norvc           /* test the 32-bit encodings, not c.* forms */

    TEST_START

    /* ---- immediates: 12-bit, sign-extended ---- */
    addi    a0, zero, -2048
    CHECK   1, a0, -2048
    addi    a0, zero, 2047
    CHECK   2, a0, 2047
    li      a1, 0x123456789abcdef0
    addi    a0, a1, -1
    CHECK   3, a0, 0x123456789abcdeef
    li      a1, -1
    addi    a0, a1, 1               /* wraps to 0 */
    CHECK   4, a0, 0

    li      a1, -5
    slti    a0, a1, -4
    CHECK   5, a0, 1
    slti    a0, a1, -5
    CHECK   6, a0, 0
    sltiu   a0, a1, -4              /* 0xff..fb < 0xff..fc (imm sign-extended, unsigned compare) */
    CHECK   7, a0, 1
    li      a1, 5
    sltiu   a0, a1, -1              /* everything but all-ones is below it */
    CHECK   8, a0, 1
    sltiu   a0, zero, 1             /* seqz */
    CHECK   9, a0, 1
    sltiu   a0, a1, 1
    CHECK   10, a0, 0

    li      a1, 0x00ff00ff00ff00ff
    xori    a0, a1, -1              /* not */
    CHECK   11, a0, 0xff00ff00ff00ff00
    xori    a0, a1, 0x7f0
    CHECK   12, a0, 0x00ff00ff00ff070f
    ori     a0, a1, -2048           /* 0xfffffffffffff800 */
    CHECK   13, a0, 0xfffffffffffff8ff
    andi    a0, a1, -256            /* 0xffffffffffffff00 */
    CHECK   14, a0, 0x00ff00ff00ff0000
    andi    a0, a1, 0x0f0
    CHECK   15, a0, 0x00f0

    /* ---- shifts by immediate (RV64: shamt 0..63) ---- */
    li      a1, 0x8000000000000001
    slli    a0, a1, 63
    CHECK   16, a0, 0x8000000000000000
    slli    a0, a1, 1
    CHECK   17, a0, 2
    srli    a0, a1, 63
    CHECK   18, a0, 1
    srai    a0, a1, 63
    CHECK   19, a0, -1
    srai    a0, a1, 4
    CHECK   20, a0, 0xf800000000000000
    srli    a0, a1, 0
    CHECK   21, a0, 0x8000000000000001
    slli    a0, a1, 32
    CHECK   22, a0, 0x0000000100000000

    /* ---- register-register ---- */
    li      a1, 0x7fffffffffffffff
    li      a2, 1
    add     a0, a1, a2              /* signed overflow wraps */
    CHECK   23, a0, 0x8000000000000000
    sub     a0, zero, a2
    CHECK   24, a0, -1
    li      a1, 3
    li      a2, 10
    sub     a0, a1, a2
    CHECK   25, a0, -7

    li      a1, -1
    li      a2, 1
    slt     a0, a1, a2
    CHECK   26, a0, 1
    sltu    a0, a1, a2
    CHECK   27, a0, 0
    slt     a0, a2, a1
    CHECK   28, a0, 0
    sltu    a0, a2, a1
    CHECK   29, a0, 1
    sltu    a0, zero, a2            /* snez */
    CHECK   30, a0, 1
    slt     a0, a1, a1
    CHECK   31, a0, 0

    li      a1, 0xf0f0f0f0f0f0f0f0
    li      a2, 0xff00ff00ff00ff00
    xor     a0, a1, a2
    CHECK   32, a0, 0x0ff00ff00ff00ff0
    or      a0, a1, a2
    CHECK   33, a0, 0xfff0fff0fff0fff0
    and     a0, a1, a2
    CHECK   34, a0, 0xf000f000f000f000

    /* register shifts use only the low 6 bits of rs2 */
    li      a1, 0x8000000000000010
    li      a2, 68                  /* 68 & 63 = 4 */
    sll     a0, a1, a2
    CHECK   35, a0, 0x0000000000000100
    srl     a0, a1, a2
    CHECK   36, a0, 0x0800000000000001
    sra     a0, a1, a2
    CHECK   37, a0, 0xf800000000000001
    li      a2, -1                  /* & 63 = 63 */
    sra     a0, a1, a2
    CHECK   38, a0, -1
    srl     a0, a1, a2
    CHECK   39, a0, 1
    li      a2, 64                  /* & 63 = 0 */
    sll     a0, a1, a2
    CHECK   40, a0, 0x8000000000000010

    /* ---- LUI / AUIPC ---- */
    lui     a0, 0x12345
    CHECK   41, a0, 0x12345000
    lui     a0, 0x80000             /* bit 31 set: sign-extends on RV64 */
    CHECK   42, a0, 0xffffffff80000000
    lui     a0, 0xfffff
    CHECK   43, a0, -4096
    lui     a0, 0x7ffff
    CHECK   44, a0, 0x7ffff000

aui0:
    auipc   a0, 0
    la      a1, aui0
    CHECK_EQ 45, a0, a1
aui1:
    auipc   a0, 1
    la      a1, aui1 + 0x1000
    CHECK_EQ 46, a0, a1
aui2:
    auipc   a0, 0xfffff             /* -4096 */
    la      a1, aui2 - 0x1000
    CHECK_EQ 47, a0, a1

    /* ---- word ops: operate on the low 32 bits, sign-extend the result ---- */
    li      a1, 0x7fffffff
    addiw   a0, a1, 1
    CHECK   48, a0, 0xffffffff80000000
    li      a1, 0x123456789
    addiw   a0, a1, 0               /* sext.w */
    CHECK   49, a0, 0x23456789
    li      a1, 0xabcdef0080000000
    addiw   a0, a1, 0
    CHECK   50, a0, 0xffffffff80000000
    addiw   a0, a1, -1
    CHECK   51, a0, 0x7fffffff

    li      a1, 0xffffffff00000001
    slliw   a0, a1, 31
    CHECK   52, a0, 0xffffffff80000000
    slliw   a0, a1, 0
    CHECK   53, a0, 1
    li      a1, 0x0000000180000000
    srliw   a0, a1, 0               /* shift by 0 still sign-extends */
    CHECK   54, a0, 0xffffffff80000000
    srliw   a0, a1, 1
    CHECK   55, a0, 0x40000000
    srliw   a0, a1, 31
    CHECK   56, a0, 1
    sraiw   a0, a1, 1
    CHECK   57, a0, 0xffffffffc0000000
    sraiw   a0, a1, 31
    CHECK   58, a0, -1
    li      a1, 0xffffffff7fffffff
    sraiw   a0, a1, 4
    CHECK   59, a0, 0x07ffffff

    li      a1, 0x100000000 + 0x7fffffff
    li      a2, 0x200000001
    addw    a0, a1, a2
    CHECK   60, a0, 0xffffffff80000000
    li      a1, 0
    li      a2, 1
    subw    a0, a1, a2
    CHECK   61, a0, -1
    li      a1, 0x80000000
    li      a2, 1
    subw    a0, a1, a2
    CHECK   62, a0, 0x7fffffff

    /* word register shifts use only the low 5 bits of rs2 */
    li      a1, 1
    li      a2, 63                  /* & 31 = 31 */
    sllw    a0, a1, a2
    CHECK   63, a0, 0xffffffff80000000
    li      a1, 0xffffffff80000000
    li      a2, 33                  /* & 31 = 1 */
    srlw    a0, a1, a2
    CHECK   64, a0, 0x40000000
    sraw    a0, a1, a2
    CHECK   65, a0, 0xffffffffc0000000
    li      a2, 32                  /* & 31 = 0 */
    srlw    a0, a1, a2
    CHECK   66, a0, 0xffffffff80000000
    li      a1, 0x12345678ffff0000
    li      a2, 16
    srlw    a0, a1, a2
    CHECK   67, a0, 0xffff
    sraw    a0, a1, a2
    CHECK   68, a0, -1

    /* ---- writes to x0 are discarded ---- */
    addi    x0, x0, 5
    mv      a0, x0
    CHECK   69, a0, 0
    li      a1, 7
    add     x0, a1, a1
    lui     x0, 0x12345
    auipc   x0, 1
    addiw   x0, a1, 1
    slli    x0, a1, 3
    or      a0, x0, zero
    CHECK   70, a0, 0
    add     a0, zero, zero
    CHECK   71, a0, 0

    /* ---- FENCE is a no-op for a single hart ---- */
    li      a0, 42
    fence
    fence   rw, rw
    fence   r, w
    CHECK   72, a0, 42

    /* ---- a NOP really does nothing ---- */
    li      a0, 9
    nop
    CHECK   73, a0, 9

    TEST_END
