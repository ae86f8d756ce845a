/*
 * A 4-byte instruction that straddles a 4 KiB page boundary inside the text
 * segment: its low half is the last 2 bytes of one page, its high half the
 * first 2 bytes of the next.  It is reached twice: by sliding through a run
 * of c.nop that fills the first page, and by a direct jump to it.  The
 * instruction's immediate lives in its high half, so fetching the wrong
 * bytes for that half gives a wrong result rather than passing silently.
 * `straddle_insn` is global so tests can check its address is 0x...ffe.
 */
#include "test_macros.h"

    TEST_START

    li      a0, 0
    call    slide                   /* runs 2047 c.nop then the straddler */
    CHECK   1, a0, 0x5a5

    li      a0, 0
    la      t0, straddle_insn
    jalr    ra, 0(t0)
    CHECK   2, a0, 0x5a5

    /* check the layout really is what this test is about */
    la      a0, straddle_insn
    slli    a0, a0, 52              /* keep the low 12 bits */
    srli    a0, a0, 52
    CHECK   3, a0, 0xffe

    TEST_END

    /* its own page-aligned section so the padding is exact */
    .section .text.straddle, "ax", @progbits
    .balign 4096
slide:
    .fill   2047, 2, 0x0001         /* c.nop x 2047 = 4094 bytes */
    .globl  straddle_insn
straddle_insn:
    .option push
    .option norvc
    addi    a0, a0, 0x5a5           /* bytes ffe..1001 of the two pages */
    .option pop
    ret
