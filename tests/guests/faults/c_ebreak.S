/*
 * C.EBREAK (the 16-bit encoding 0x9002), an error in rvdist.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      a0, 0
fault_here:
    c.ebreak
    .2byte  0x0001                  /* c.nop: keeps what follows 4-aligned */
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
