/*
 * EBREAK (the 32-bit encoding 0x00100073), an error in rvdist.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      a0, 0
    .option push
    .option norvc                   /* or gas would emit c.ebreak */
fault_here:
    ebreak
    .option pop
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
