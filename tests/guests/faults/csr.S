/*
 * A CSR instruction: csrr a0, mstatus.  rvdist has no CSRs, so any CSR
 * instruction is illegal; mstatus is used because it is illegal in user
 * mode on real hardware and under qemu-riscv64 too (unlike cycle/time).
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      a0, 0
    .option push
    .option arch, +zicsr            /* not in the build's -march */
fault_here:
    csrr    a0, mstatus             /* csrrs a0, mstatus, zero = 0x30002573 */
    .option pop
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
