/*
 * Store to the program's own text segment (R+X, not writable): a store
 * access fault at fault_here; the address is the global text symbol
 * fault_addr.
 * Fault program convention: the one deliberate fault happens at the global
 * label fault_here.  If execution ever gets past it the program
 * exits with code 100, which a test can tell apart from any real outcome.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here, fault_addr
_start:
    la      t0, fault_addr
    li      t1, 0x12345678
fault_here:
    sw      t1, 0(t0)
    li      a0, 100                 /* only reached if nothing faulted */
    li      a7, 93
    ecall
    .balign 8
fault_addr:                         /* a word inside the text segment */
    .4byte  0x00000013              /* nop */
