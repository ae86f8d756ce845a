/*
 * Jump into the data segment (R+W, not executable): the fetch at
 * fault_here faults.  fault_here and fault_addr are the same address, in
 * .data, and hold valid instructions, so only the missing execute
 * permission stops them.  jump_here labels the jump that gets there
 * (qemu-riscv64's last executed instruction).
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, jump_here
_start:
    la      t0, fault_here
jump_here:
    jr      t0
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall

    .data
    .balign 4
    .globl  fault_here, fault_addr
fault_here:
fault_addr:
    li      a0, 101                 /* would exit 101 if data were executable */
    li      a7, 93
    ecall
