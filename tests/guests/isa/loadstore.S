/*
 * Loads and stores: every width, sign vs zero extension, positive and
 * negative offsets, stores touching only their own bytes, misaligned
 * accesses of every width, and a load and a store that straddle a 4 KiB page
 * boundary (both pages in the data segment).
 */
#include "test_macros.h"
    .option norvc

    .data
    .balign 8
pattern:                            /* bytes 87 86 85 .. 80 (little endian) */
    .dword  0x8081828384858687
    .dword  0x0f0e0d0c0b0a0908
buf:
    .dword  0, 0, 0, 0

    /* two full pages: `straddle` is the first byte of the second page */
    .balign 4096
page0:
    .skip   4096
straddle:
    .skip   4096

    .text
    TEST_START

    la      s0, pattern
    /* ---- sign / zero extension ---- */
    lb      a0, 0(s0)
    CHECK   1, a0, 0xffffffffffffff87
    lbu     a0, 0(s0)
    CHECK   2, a0, 0x87
    lb      a0, 8(s0)
    CHECK   3, a0, 0x08
    lh      a0, 0(s0)
    CHECK   4, a0, 0xffffffffffff8687
    lhu     a0, 0(s0)
    CHECK   5, a0, 0x8687
    lh      a0, 8(s0)
    CHECK   6, a0, 0x0908
    lw      a0, 4(s0)
    CHECK   7, a0, 0xffffffff80818283
    lwu     a0, 4(s0)
    CHECK   8, a0, 0x80818283
    lw      a0, 8(s0)
    CHECK   9, a0, 0x0b0a0908
    ld      a0, 0(s0)
    CHECK   10, a0, 0x8081828384858687
    ld      a0, 8(s0)
    CHECK   11, a0, 0x0f0e0d0c0b0a0908

    /* negative offsets */
    addi    s1, s0, 16
    ld      a0, -16(s1)
    CHECK   12, a0, 0x8081828384858687
    lbu     a0, -1(s1)
    CHECK   13, a0, 0x0f
    lh      a0, -10(s1)             /* bytes 0x81, 0x80 */
    CHECK   14, a0, 0xffffffffffff8081

    /* load into x0 is performed but the value is discarded */
    ld      zero, 0(s0)
    mv      a0, zero
    CHECK   15, a0, 0

    /* ---- stores only write their own bytes ---- */
    la      s1, buf
    li      a1, -1
    sd      a1, 0(s1)
    sd      a1, 8(s1)
    li      a2, 0x1122334455667788
    sb      a2, 1(s1)
    ld      a0, 0(s1)
    CHECK   16, a0, 0xffffffffffff88ff
    sh      a2, 4(s1)
    ld      a0, 0(s1)
    CHECK   17, a0, 0xffff7788ffff88ff
    sw      a2, 8(s1)
    ld      a0, 8(s1)
    CHECK   18, a0, 0xffffffff55667788
    sd      a2, 0(s1)
    ld      a0, 0(s1)
    CHECK   19, a0, 0x1122334455667788
    sb      zero, -1(s1)            /* last byte of pattern+8 */
    ld      a0, 8(s0)
    CHECK   20, a0, 0x000e0d0c0b0a0908
    lw      a0, 12(s1)              /* untouched by the sw */
    CHECK   21, a0, -1

    /* ---- misaligned loads ---- */
    lh      a0, 1(s0)               /* bytes 86 85 */
    CHECK   22, a0, 0xffffffffffff8586
    lhu     a0, 7(s0)               /* bytes 80 08 */
    CHECK   23, a0, 0x0880
    lw      a0, 1(s0)
    CHECK   24, a0, 0xffffffff83848586
    lw      a0, 2(s0)
    CHECK   25, a0, 0xffffffff82838485
    lwu     a0, 3(s0)
    CHECK   26, a0, 0x81828384
    lw      a0, 6(s0)               /* bytes 81 80 08 09 */
    CHECK   27, a0, 0x09088081
    ld      a0, 1(s0)
    CHECK   28, a0, 0x0880818283848586
    ld      a0, 3(s0)
    CHECK   29, a0, 0x0a09088081828384
    ld      a0, 7(s0)
    CHECK   30, a0, 0x0e0d0c0b0a090880

    /* ---- misaligned stores ---- */
    sd      zero, 0(s1)
    sd      zero, 8(s1)
    li      a2, 0x1122334455667788
    sd      a2, 3(s1)
    ld      a0, 0(s1)
    CHECK   31, a0, 0x4455667788000000
    ld      a0, 8(s1)
    CHECK   32, a0, 0x0000000000112233
    sw      a2, 7(s1)
    ld      a0, 0(s1)
    CHECK   33, a0, 0x8855667788000000
    ld      a0, 8(s1)
    CHECK   34, a0, 0x0000000000556677
    sh      a2, 15(s1)
    ld      a0, 8(s1)
    CHECK   35, a0, 0x8800000000556677
    ld      a0, 16(s1)
    CHECK   36, a0, 0x77

    /* ---- accesses straddling a 4 KiB page boundary ---- */
    la      s2, straddle
    li      a2, 0x0102030405060708
    sd      a2, -4(s2)              /* 4 bytes in each page */
    lwu     a0, -4(s2)
    CHECK   37, a0, 0x05060708
    lwu     a0, 0(s2)
    CHECK   38, a0, 0x01020304
    ld      a0, -4(s2)
    CHECK   39, a0, 0x0102030405060708
    ld      a0, -1(s2)              /* 1 byte before, 7 after */
    CHECK   40, a0, 0x0000000102030405
    lw      a0, -2(s2)
    CHECK   41, a0, 0x03040506
    lh      a0, -1(s2)
    CHECK   42, a0, 0x0405
    li      a2, 0xa1a2a3a4a5a6a7a8
    sw      a2, -3(s2)              /* 3 bytes before, 1 after */
    ld      a0, -8(s2)
    CHECK   43, a0, 0xa6a7a80800000000
    ld      a0, 0(s2)
    CHECK   44, a0, 0x010203a5
    sh      a2, -1(s2)
    lhu     a0, -1(s2)
    CHECK   45, a0, 0xa7a8
    lbu     a0, -1(s2)
    CHECK   46, a0, 0xa8
    lbu     a0, 0(s2)
    CHECK   47, a0, 0xa7

    TEST_END
