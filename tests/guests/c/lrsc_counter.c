/*
 * lrsc_counter: a long loop of LR/SC read-modify-write sequences and AMOs on
 * a few counters.  argv[1] = iterations (default 1000000).  Prints every
 * counter's final value and how many SCs failed (0 on a single hart that
 * does nothing between LR and SC).  Exits 0, or 1 if an AMO returned a wrong
 * old value, 2 on a bad argument.
 */
#include "rt.h"

static volatile uint32_t c32;       /* LR.W/SC.W: c32 += 0x9e3779b9 (wraps) */
static volatile uint64_t c64;       /* LR.D/SC.D: c64 += i */
static volatile uint64_t sum_sq;    /* amoadd.d: += i*i */
static volatile uint32_t xor32;     /* amoxor.w */
static volatile uint64_t maxv;      /* amomax.d of a signed hash */
static volatile uint32_t minu32 = 0xffffffffu; /* amominu.w of a hash */
static volatile uint64_t last;      /* amoswap.d */
static volatile uint64_t bits;      /* amoor.d */
static volatile uint64_t mask = ~0UL; /* amoand.d */

/* Adds v to *p with LR.W/SC.W; returns the number of failed SCs. */
static inline uint64_t lrsc_add_w(volatile uint32_t *p, uint32_t v)
{
    uint64_t retries = 0, old, tmp, fail;
    __asm__ volatile(
        "1: lr.w    %0, (%4)\n"
        "   addw    %1, %0, %5\n"
        "   sc.w    %2, %1, (%4)\n"
        "   beqz    %2, 2f\n"
        "   addi    %3, %3, 1\n"
        "   j       1b\n"
        "2:\n"
        : "=&r"(old), "=&r"(tmp), "=&r"(fail), "+r"(retries)
        : "r"(p), "r"((uint64_t)v)
        : "memory");
    return retries;
}

static inline uint64_t lrsc_add_d(volatile uint64_t *p, uint64_t v)
{
    uint64_t retries = 0, old, tmp, fail;
    __asm__ volatile(
        "1: lr.d    %0, (%4)\n"
        "   add     %1, %0, %5\n"
        "   sc.d    %2, %1, (%4)\n"
        "   beqz    %2, 2f\n"
        "   addi    %3, %3, 1\n"
        "   j       1b\n"
        "2:\n"
        : "=&r"(old), "=&r"(tmp), "=&r"(fail), "+r"(retries)
        : "r"(p), "r"(v)
        : "memory");
    return retries;
}

#define AMO(insn, type, p, v)                                                 \
    ({                                                                        \
        type old__;                                                           \
        __asm__ volatile(insn " %0, %2, (%1)"                                 \
                         : "=r"(old__)                                        \
                         : "r"(p), "r"(v)                                     \
                         : "memory");                                         \
        old__;                                                                \
    })

int main(int argc, char **argv)
{
    uint64_t n = 1000000, retries = 0;
    int bad = 0;
    if (argc > 1 && parse_u64(argv[1], &n) != 0) {
        print_str("usage: lrsc_counter [iterations]\n");
        return 2;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t hsh = (i + 1) * 0x9e3779b97f4a7c15UL;
        retries += lrsc_add_w(&c32, 0x9e3779b9u);
        retries += lrsc_add_d(&c64, i);
        AMO("amoadd.d", uint64_t, &sum_sq, i * i);
        AMO("amoxor.w", uint64_t, &xor32, (uint32_t)(hsh >> 32));
        AMO("amomax.d", int64_t, &maxv, (int64_t)hsh);
        AMO("amominu.w", uint64_t, &minu32, (uint32_t)hsh | 0x80000000u);
        uint64_t prev = AMO("amoswap.d", uint64_t, &last, i);
        if (i > 0 && prev != i - 1)
            bad = 1;
        AMO("amoor.d", uint64_t, &bits, 1UL << (i % 64));
        AMO("amoand.d", uint64_t, &mask, ~(1UL << ((i * 7) % 61)));
    }
    /* .W AMOs return the old value sign-extended: 0x80000000 | x is negative */
    int64_t old = AMO("amominu.w", int64_t, &minu32, 0xffffffffu);
    if (n > 0 && old >= 0)
        bad = 1;

    print_kv_u64("iterations", n);
    print_kv_hex("c32", c32);
    print_kv_u64("c64", c64);
    print_kv_u64("sum_sq", sum_sq);
    print_kv_hex("xor32", xor32);
    print_kv_hex("maxv", maxv);
    print_kv_hex("minu32", minu32);
    print_kv_u64("last", last);
    print_kv_hex("bits", bits);
    print_kv_hex("mask", mask);
    print_kv_u64("sc_retries", retries);
    return bad;
}
