/*
 * Writes "spam spam spam spam\n" (20 bytes) to stdout forever, for testing
 * the output cap.  fault_here labels the write ecall, which is where the
 * run must stop once the cap is hit.  Never exits on its own.
 */
    .section .text.start, "ax", @progbits
    .globl  _start, fault_here
_start:
    la      s0, msg
1:  li      a0, 1
    mv      a1, s0
    li      a2, 20
    li      a7, 64
fault_here:
    ecall
    j       1b

    .section .rodata
msg:
    .ascii  "spam spam spam spam\n"
