/*
 * Shared macros for the self-checking ISA tests (isa/*.S).
 *
 * Convention: checks are numbered 1..255 in increasing order; tp (x4) holds
 * the number of the check being run and t6 (x31) is scratch for expected
 * values, so tests must not use tp or t6 otherwise.  The program exits 0
 * when every check passed, or with the number of the first failing check.
 *
 * The tests are assembled with .option norelax (and linked with --no-relax)
 * so every instruction stays exactly as written: no gp-relative rewriting,
 * no linker compression, and no relaxation padding in front of .balign.
 */
    .option norelax

/* Number of the check that follows; the assembler rejects numbers that do
   not increase or do not fit in an exit code. */
    .set LAST_CHECK, 0
.macro CHECK_NUM num
    .if (\num) <= LAST_CHECK
    .error "check numbers must increase"
    .endif
    .if (\num) > 255
    .error "check number does not fit in an exit code"
    .endif
    .set LAST_CHECK, \num
    li      tp, \num
.endm

/* Check `num`: register `reg` must equal the constant `expected`.
   beq+j rather than bne, so `fail` may be anywhere in the file. */
.macro CHECK num, reg, expected
    CHECK_NUM \num
    li      t6, \expected
    beq     \reg, t6, .Lok\@
    j       fail
.Lok\@:
.endm

/* Another assertion belonging to the current check (same number). */
.macro CHECK_MORE reg, expected
    li      t6, \expected
    beq     \reg, t6, .Lok\@
    j       fail
.Lok\@:
.endm

/* Check `num`: registers `ra_` and `rb_` must be equal. */
.macro CHECK_EQ num, ra_, rb_
    CHECK_NUM \num
    beq     \ra_, \rb_, .Lok\@
    j       fail
.Lok\@:
.endm

.macro TEST_START
    .section .text.start, "ax", @progbits
    .globl  _start
_start:
    li      tp, 0
.endm

/* pass: exit(0); fail: exit(number of the failing check). */
.macro TEST_END
pass:
    li      a0, 0
    li      a7, 93
    ecall
fail:
    mv      a0, tp
    li      a7, 93
    ecall
1:  j       1b
.endm
