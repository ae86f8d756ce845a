/*
 * A one-instruction infinite loop, for testing max_cycles: whenever the
 * run is stopped, pc is fault_here.  Never exits on its own.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      a0, 0
fault_here:
    j       fault_here
