/*
 * C extension (RV64C, integer): every compressed instruction form, written
 * with explicit c.* mnemonics so the encodings really are 16-bit: C.ADDI4SPN,
 * C.LW/C.LD/C.SW/C.SD, C.NOP, C.ADDI, C.ADDIW, C.LI, C.ADDI16SP, C.LUI,
 * C.SRLI/C.SRAI/C.ANDI, C.SUB/C.XOR/C.OR/C.AND/C.SUBW/C.ADDW, C.J, C.BEQZ,
 * C.BNEZ, C.SLLI, C.LWSP/C.LDSP/C.SWSP/C.SDSP, C.JR, C.JALR, C.MV, C.ADD.
 * Not here: C.JAL (RV32 only), C.EBREAK (an error in rvdist, see faults/),
 * the floating-point loads/stores (no F/D).
 * Registers x8..x15 (s0, s1, a0..a5) are the only ones the 3-bit register
 * fields can name; both ends of that range are exercised.
 */
#include "test_macros.h"
    .option rvc

    TEST_START

    mv      s11, sp                 /* original sp, to check sp arithmetic */

    /* ---- C.ADDI16SP ---- */
    c.addi16sp sp, -512
    addi    a0, s11, -512
    CHECK_EQ 1, sp, a0
    c.addi16sp sp, 496
    addi    a0, s11, -16
    CHECK_EQ 2, sp, a0
    c.addi16sp sp, 16
    CHECK_EQ 3, sp, s11
    c.addi16sp sp, -512             /* 512-byte frame for the sp-based tests */

    /* ---- C.ADDI4SPN ---- */
    c.addi4spn a0, sp, 4
    addi    a1, sp, 4
    CHECK_EQ 4, a0, a1
    c.addi4spn s0, sp, 1020
    addi    a1, sp, 1020
    CHECK_EQ 5, s0, a1
    c.addi4spn a5, sp, 8
    addi    a1, sp, 8
    CHECK_EQ 6, a5, a1

    /* ---- C.SWSP / C.LWSP / C.SDSP / C.LDSP (any register) ---- */
    li      s10, 0x0123456787654321
    c.swsp  s10, 0(sp)
    c.lwsp  s9, 0(sp)               /* sign-extends 0x87654321 */
    CHECK   7, s9, 0xffffffff87654321
    c.swsp  s10, 252(sp)
    c.lwsp  ra, 252(sp)
    CHECK   8, ra, 0xffffffff87654321
    c.sdsp  s10, 8(sp)
    c.ldsp  t5, 8(sp)
    CHECK   9, t5, 0x0123456787654321
    c.sdsp  s10, 504(sp)
    c.ldsp  t3, 504(sp)
    CHECK   10, t3, 0x0123456787654321
    li      a0, 0x42
    c.swsp  a0, 4(sp)
    ld      a1, 0(sp)               /* C.SWSP wrote exactly bytes 4..7 */
    CHECK   11, a1, 0x0000004287654321

    /* ---- C.SW / C.LW / C.SD / C.LD (x8..x15, scaled offsets) ---- */
    c.mv    a5, sp
    li      a4, 0x00000000fedcba98
    c.sw    a4, 124(a5)
    c.lw    a0, 124(a5)
    CHECK   12, a0, 0xfffffffffedcba98
    c.sw    a4, 0(a5)
    c.lw    s1, 0(a5)
    CHECK   13, s1, 0xfffffffffedcba98
    li      s0, 0x1122334455667788
    c.sd    s0, 248(a5)
    c.ld    a3, 248(a5)
    CHECK   14, a3, 0x1122334455667788
    c.mv    s0, sp
    li      a2, -2
    c.sd    a2, 16(s0)
    c.ld    a1, 16(s0)
    CHECK   15, a1, -2
    li      a2, 0x7fffffff
    c.sw    a2, 20(s0)              /* upper half of the dword at 16 */
    ld      a1, 16(s0)
    CHECK   16, a1, 0x7ffffffffffffffe

    c.addi16sp sp, 496              /* +512 is out of range: 496 + 16 */
    c.addi16sp sp, 16
    CHECK_EQ 17, sp, s11

    /* ---- C.LI / C.LUI ---- */
    c.li    a0, -32
    CHECK   18, a0, -32
    c.li    s8, 31
    CHECK   19, s8, 31
    c.li    a0, 0
    CHECK   20, a0, 0
    c.lui   a0, 1
    CHECK   21, a0, 0x1000
    c.lui   a0, 31
    CHECK   22, a0, 0x1f000
    c.lui   t2, 0xfffff             /* nzimm = -1: sign-extends */
    CHECK   23, t2, 0xfffffffffffff000
    c.lui   a0, 0xfffe0             /* nzimm = -32 */
    CHECK   24, a0, 0xfffffffffffe0000

    /* ---- C.ADDI / C.ADDIW / C.NOP ---- */
    li      a0, 100
    c.addi  a0, -32
    CHECK   25, a0, 68
    c.addi  a0, 31
    CHECK   26, a0, 99
    li      s7, -1
    c.addi  s7, 1
    CHECK   27, s7, 0
    li      a0, 0x7fffffff
    c.addiw a0, 1
    CHECK   28, a0, 0xffffffff80000000
    li      a0, 0x100000005
    c.addiw a0, -6
    CHECK   29, a0, -1
    li      a0, 0x180000000
    c.addiw a0, 0                   /* sext.w */
    CHECK   30, a0, 0xffffffff80000000
    li      t4, 0xabcdef0100000002
    c.addiw t4, 31
    CHECK   31, t4, 33
    li      a0, 5
    c.nop
    CHECK   32, a0, 5

    /* ---- C.SLLI (any register, shamt up to 63) ---- */
    li      a0, 3
    c.slli  a0, 63
    CHECK   33, a0, 0x8000000000000000
    li      s6, 0x00000000ffffffff
    c.slli  s6, 32
    CHECK   34, s6, 0xffffffff00000000
    li      a0, 1
    c.slli  a0, 1
    CHECK   35, a0, 2

    /* ---- C.SRLI / C.SRAI / C.ANDI (x8..x15) ---- */
    li      a0, 0x8000000000000000
    c.srli  a0, 63
    CHECK   36, a0, 1
    li      s0, 0x8000000000000000
    c.srai  s0, 63
    CHECK   37, s0, -1
    li      a5, 0xf000000000000010
    c.srai  a5, 4
    CHECK   38, a5, 0xff00000000000001
    li      a5, 0xf000000000000010
    c.srli  a5, 32
    CHECK   39, a5, 0xf0000000
    li      a0, 0x12345678
    c.andi  a0, -32                 /* ~0x1f */
    CHECK   40, a0, 0x12345660
    li      s1, 0x12345678
    c.andi  s1, 31
    CHECK   41, s1, 0x18
    li      a0, -1
    c.andi  a0, 0
    CHECK   42, a0, 0

    /* ---- C.SUB / C.XOR / C.OR / C.AND / C.SUBW / C.ADDW ---- */
    li      a0, 10
    li      a1, 15
    c.sub   a0, a1
    CHECK   43, a0, -5
    li      s0, 0xff00ff00ff00ff00
    li      a5, 0x0ff00ff00ff00ff0
    mv      a0, s0
    c.xor   a0, a5
    CHECK   44, a0, 0xf0f0f0f0f0f0f0f0
    mv      a0, s0
    c.or    a0, a5
    CHECK   45, a0, 0xfff0fff0fff0fff0
    c.and   s0, a5
    CHECK   46, s0, 0x0f000f000f000f00
    li      a0, 0
    li      a1, 1
    c.subw  a0, a1
    CHECK   47, a0, -1
    li      a0, 0x1280000000
    c.subw  a0, a1
    CHECK   48, a0, 0x7fffffff
    li      a2, 0x7fffffff
    c.addw  a2, a1
    CHECK   49, a2, 0xffffffff80000000
    li      a2, 0x00000001ffffffff
    li      a3, 0x0000000300000001
    c.addw  a2, a3
    CHECK   50, a2, 0

    /* ---- C.MV / C.ADD (full 5-bit register fields) ---- */
    li      t3, 0x123456789
    c.mv    s10, t3
    CHECK   51, s10, 0x123456789
    li      s5, 0x1000000000000000
    c.add   s5, t3
    CHECK   52, s5, 0x1000000123456789
    li      a0, -1
    c.add   a0, a0
    CHECK   53, a0, -2

    /* ---- C.J ---- */
    li      a0, 0
    c.j     1f
    li      a0, 99                  /* skipped */
1:  CHECK   54, a0, 0
    li      a0, 0
    c.j     3f
2:  c.addi  a0, 1                   /* reached by the backward c.j below */
    c.j     4f
3:  c.addi  a0, 10
    c.j     2b
4:  CHECK   55, a0, 11

    /* ---- C.BEQZ / C.BNEZ ---- */
    li      a0, 0
    li      s1, 0
    c.beqz  s1, 1f
    li      a0, 1
1:  CHECK   56, a0, 0
    li      s1, 5
    c.beqz  s1, 1f
    li      a0, 2
1:  CHECK   57, a0, 2
    li      a0, 0
    li      a5, -1
    c.bnez  a5, 1f
    li      a0, 3
1:  CHECK   58, a0, 0
    li      a5, 0
    c.bnez  a5, 1f
    li      a0, 4
1:  CHECK   59, a0, 4
    li      a0, 0
    li      a4, 6
1:  c.addi  a0, 2                   /* backward c.bnez loop */
    c.addi  a4, -1
    c.bnez  a4, 1b
    CHECK   60, a0, 12

    /* ---- C.JR / C.JALR ---- */
    li      a0, 0
    la      t0, 1f
    c.jr    t0
    li      a0, 1                   /* skipped */
1:  CHECK   61, a0, 0
    la      s3, cj_target
    li      a0, 0
cj_site:
    c.jalr  s3                      /* ra = cj_site + 2 */
cj_ret:
    CHECK   62, a0, 7
    la      a1, cj_ret
    CHECK_EQ 63, ra, a1
    la      a1, cj_site + 2
    CHECK_EQ 64, ra, a1

    TEST_END

cj_target:
    c.li    a0, 7
    c.jr    ra
