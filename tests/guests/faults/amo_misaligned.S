/*
 * amoadd.w on a misaligned address (4-aligned + 2).  AMOs require
 * natural alignment, unlike plain loads and stores.  fault_addr is the
 * misaligned .data symbol.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    la      t0, fault_addr
    li      t1, 1
fault_here:
    amoadd.w a0, t1, (t0)
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall

    .data
    .balign 8
    .2byte  0
    .globl  fault_addr
fault_addr:                         /* address = 8-aligned + 2 */
    .4byte  0
    .2byte  0
