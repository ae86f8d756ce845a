/*
 * Load beyond the end of memory: an 8-byte load at 0x400000, the first
 * byte past a 4 MiB guest memory (run it with the default 4 MiB).
 * fault_addr is an absolute symbol equal to 0x400000.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .globl  fault_addr
    .set    fault_addr, 0x400000

    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      t0, fault_addr
fault_here:
    ld      a0, 0(t0)
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
