/*
 * Store to read-only data.  The shared linker script (rt/link.ld) puts
 * .rodata in its own read-only PT_LOAD segment (flags R, not R+X), on its
 * own page, so this is a store to a readable, non-writable,
 * non-executable page.  fault_addr is the .rodata symbol stored to.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    la      t0, fault_addr
    li      t1, -1
fault_here:
    sd      t1, 0(t0)
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall

    .section .rodata
    .balign 8
    .globl  fault_addr
fault_addr:
    .8byte  0x0123456789abcdef
