/*
 * ecall with a7 = 1234, a syscall number rvdist does not implement.
 * Under qemu-riscv64 the syscall just returns -ENOSYS and the program
 * goes on to exit 100; under rvdist it is an unsupported-syscall error.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    li      a0, 0
    li      a7, 1234
fault_here:
    ecall
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
