/*
 * Startup code for the C guest programs.
 *
 * rvdist also passes argc/argv in a0/a1, but qemu-riscv64 does not, so read
 * them from the initial stack (Linux layout: argc, argv[0..argc-1], NULL,
 * envp..., NULL, auxv...) to behave the same under both.
 * Whatever main returns becomes the exit code (exit, syscall 93).
 */
    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    /* gp must be set before any relaxed gp-relative access; the load itself
       must not be relaxed against the (still unset) gp. */
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop
    ld      a0, 0(sp)           /* argc */
    addi    a1, sp, 8           /* argv */
    call    main
    li      a7, 93              /* exit(main's return value) */
    ecall
1:  j       1b                  /* not reached */
    .size _start, . - _start
