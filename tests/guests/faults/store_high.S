/*
 * Store to 0xffffffffffff0000, far outside any guest memory.  fault_addr
 * is an absolute symbol with that value.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .globl  fault_addr
    .set    fault_addr, 0xffffffffffff0000

    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      t0, fault_addr
    li      t1, 1
fault_here:
    sd      t1, 0(t0)
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
