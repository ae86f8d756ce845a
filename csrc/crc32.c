/*
 * crc32.c: the CRC-32 of snapshot data (zlib's: the IEEE polynomial,
 * bit-reflected), optionally fused with copying the data into guest memory.
 *
 * Restoring a snapshot checks the checksum of every page it copies in.
 * zlib's crc32 runs at about 6.5 GB/s on the project's VMs, slower than the
 * copy itself; carry-less multiplication folds the data 64 bytes (PCLMULQDQ)
 * or 256 bytes (VPCLMULQDQ on AVX-512) per step instead, and aarch64 has
 * CRC-32 instructions. Doing it while copying reads each byte once.
 *
 * The folding follows Gopal et al., "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ Instruction" (Intel, 2009), with the
 * bit-reflected constants zlib's SIMD code uses. Without CRC hardware
 * everything still works, a bit at a time; rv_crc32_level() then reports
 * RV_CRC_BITWISE so that Python uses zlib instead.
 *
 * Internally a CRC is carried as zlib's register value, inverted (~crc).
 */
#include <string.h>

#include "internal.h"

#define CRC_POLY 0xedb88320u

/* One bit at a time: for the last few bytes, and hosts without CRC hardware. */
static uint32_t crc_bits(uint32_t c, const uint8_t *p, uint64_t n)
{
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (CRC_POLY & (0u - (c & 1)));
    }
    return c;
}

static uint32_t copy_bits(uint32_t c, const uint8_t *src, uint8_t *dst, uint64_t n)
{
    if (dst)
        memcpy(dst, src, n);
    return crc_bits(c, src, n);
}

#if defined(__x86_64__)
#include <immintrin.h>

#define T128 __attribute__((target("pclmul,sse4.1")))
#define T512 __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.1")))
#define INLINE static inline __attribute__((always_inline))

/* Fold constants, as pairs (x^(d+32) mod P, x^(d-32) mod P) reflected, for
 * moving a 128-bit lane d bits forward; and the Barrett reduction pair. */
#define K_2048 0x01322d1430, 0x011542778a   /* 4 x 512-bit lanes (AVX-512 loop) */
#define K_512 0x01c6e41596, 0x0154442bd4    /* 4 x 128-bit lanes, or one zmm lane */
#define K_128 0x00ccaa009e, 0x01751997d0    /* one 128-bit lane */
#define K_96 0, 0x0163cd6124                /* 96 -> 64 bits */
#define K_BARRETT 0x01f7011641, 0x01db710641

/* x * k folded forward onto next: the one step of the whole method. */
INLINE T128 __m128i fold128(__m128i x, __m128i k, __m128i next)
{
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00),
                                       _mm_clmulepi64_si128(x, k, 0x11)), next);
}

/* copy is a constant in every caller: the stores vanish where it is 0. */
INLINE T128 __m128i load_copy128(const uint8_t *src, uint8_t *dst, int copy)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)src);
    if (copy)
        _mm_storeu_si128((__m128i *)(void *)dst, v);
    return v;
}

/* Fold the remaining 16-byte blocks into one lane, reduce it to 32 bits,
 * and finish the last n % 16 bytes a bit at a time. */
INLINE T128 uint32_t finish128(__m128i x, const uint8_t *src, uint8_t *dst, uint64_t n, int copy)
{
    const __m128i k128 = _mm_set_epi64x(K_128), k96 = _mm_set_epi64x(K_96);
    const __m128i barrett = _mm_set_epi64x(K_BARRETT);
    const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
    for (; n >= 16; n -= 16, src += 16, dst += copy ? 16 : 0)
        x = fold128(x, k128, load_copy128(src, dst, copy));
    /* 128 -> 64 bits, then Barrett reduction to 32. */
    x = _mm_xor_si128(_mm_srli_si128(x, 8), _mm_clmulepi64_si128(x, k128, 0x10));
    x = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x, low32), k96, 0x00), _mm_srli_si128(x, 4));
    __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x, low32), barrett, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), barrett, 0x00);
    uint32_t c = (uint32_t)_mm_extract_epi32(_mm_xor_si128(x, t), 1);
    return copy_bits(c, src, copy ? dst : NULL, n);
}

/* PCLMULQDQ: four 128-bit lanes, 64 bytes per step. The lanes are named
 * variables, not an array, so that they stay in registers. */
typedef struct lanes128 {
    __m128i a, b, c, d;
} lanes128;

INLINE T128 void start128(lanes128 *s, uint32_t crc, const uint8_t *src, uint8_t *dst, int copy)
{
    s->a = _mm_xor_si128(load_copy128(src, dst, copy), _mm_cvtsi32_si128((int)crc));
    s->b = load_copy128(src + 16, dst + 16, copy);
    s->c = load_copy128(src + 32, dst + 32, copy);
    s->d = load_copy128(src + 48, dst + 48, copy);
}

INLINE T128 void run128(lanes128 *s, const uint8_t *src, uint8_t *dst, uint64_t n, int copy)
{
    const __m128i k = _mm_set_epi64x(K_512);
    __m128i a = s->a, b = s->b, c = s->c, d = s->d;
    for (; n >= 64; n -= 64, src += 64, dst += copy ? 64 : 0) {
        a = fold128(a, k, load_copy128(src, dst, copy));
        b = fold128(b, k, load_copy128(src + 16, dst + 16, copy));
        c = fold128(c, k, load_copy128(src + 32, dst + 32, copy));
        d = fold128(d, k, load_copy128(src + 48, dst + 48, copy));
    }
    *s = (lanes128){a, b, c, d};
}

INLINE T128 __m128i merge128(const lanes128 *s)
{
    const __m128i k = _mm_set_epi64x(K_128);
    return fold128(fold128(fold128(s->a, k, s->b), k, s->c), k, s->d);
}

/* VPCLMULQDQ: four 512-bit lanes, 256 bytes per step. */
typedef struct lanes512 {
    __m512i a, b, c, d;
} lanes512;

INLINE T512 __m512i fold512(__m512i x, __m512i k, __m512i next)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

INLINE T512 __m512i load_copy512(const uint8_t *src, uint8_t *dst, int copy)
{
    __m512i v = _mm512_loadu_si512(src);
    if (copy)
        _mm512_storeu_si512(dst, v);
    return v;
}

INLINE T512 void start512(lanes512 *s, uint32_t crc, const uint8_t *src, uint8_t *dst, int copy)
{
    s->a = _mm512_xor_si512(load_copy512(src, dst, copy),
                            _mm512_castsi128_si512(_mm_cvtsi32_si128((int)crc)));
    s->b = load_copy512(src + 64, dst + 64, copy);
    s->c = load_copy512(src + 128, dst + 128, copy);
    s->d = load_copy512(src + 192, dst + 192, copy);
}

INLINE T512 void run512(lanes512 *s, const uint8_t *src, uint8_t *dst, uint64_t n, int copy)
{
    const __m512i k = _mm512_broadcast_i32x4(_mm_set_epi64x(K_2048));
    __m512i a = s->a, b = s->b, c = s->c, d = s->d;
    for (; n >= 256; n -= 256, src += 256, dst += copy ? 256 : 0) {
        a = fold512(a, k, load_copy512(src, dst, copy));
        b = fold512(b, k, load_copy512(src + 64, dst + 64, copy));
        c = fold512(c, k, load_copy512(src + 128, dst + 128, copy));
        d = fold512(d, k, load_copy512(src + 192, dst + 192, copy));
    }
    *s = (lanes512){a, b, c, d};
}

/* Four zmm lanes into one, then its four 128-bit parts into one. */
INLINE T512 __m128i merge512(const lanes512 *s)
{
    const __m512i k = _mm512_broadcast_i32x4(_mm_set_epi64x(K_512));
    __m512i x = fold512(fold512(fold512(s->a, k, s->b), k, s->c), k, s->d);
    lanes128 q = {_mm512_extracti32x4_epi32(x, 0), _mm512_extracti32x4_epi32(x, 1),
                  _mm512_extracti32x4_epi32(x, 2), _mm512_extracti32x4_epi32(x, 3)};
    return merge128(&q);
}

/* The two shapes of work, for each instruction set: a span of n bytes
 * (n >= 64 or 256), and n whole pages of src copied to scattered pages. */
static T128 uint32_t span128(uint32_t crc, const uint8_t *src, uint64_t n)
{
    lanes128 s;
    uint64_t body = n & ~(uint64_t)63;
    start128(&s, crc, src, NULL, 0);
    run128(&s, src + 64, NULL, body - 64, 0);
    return finish128(merge128(&s), src + body, NULL, n - body, 0);
}

static T128 uint32_t scatter128(uint32_t crc, const uint8_t *src, uint8_t *mem, const uint32_t *pages,
                                uint64_t n)
{
    lanes128 s;
    uint8_t *dst = mem + ((uint64_t)pages[0] << RV_PAGE_SHIFT);
    start128(&s, crc, src, dst, 1);
    run128(&s, src + 64, dst + 64, RV_PAGE_SIZE - 64, 1);
    for (uint64_t i = 1; i < n; i++)
        run128(&s, src + i * RV_PAGE_SIZE, mem + ((uint64_t)pages[i] << RV_PAGE_SHIFT), RV_PAGE_SIZE, 1);
    return finish128(merge128(&s), NULL, NULL, 0, 0);
}

static T512 uint32_t span512(uint32_t crc, const uint8_t *src, uint64_t n)
{
    lanes512 s;
    uint64_t body = n & ~(uint64_t)255;
    start512(&s, crc, src, NULL, 0);
    run512(&s, src + 256, NULL, body - 256, 0);
    return finish128(merge512(&s), src + body, NULL, n - body, 0);
}

static T512 uint32_t scatter512(uint32_t crc, const uint8_t *src, uint8_t *mem, const uint32_t *pages,
                                uint64_t n)
{
    lanes512 s;
    uint8_t *dst = mem + ((uint64_t)pages[0] << RV_PAGE_SHIFT);
    start512(&s, crc, src, dst, 1);
    run512(&s, src + 256, dst + 256, RV_PAGE_SIZE - 256, 1);
    for (uint64_t i = 1; i < n; i++)
        run512(&s, src + i * RV_PAGE_SIZE, mem + ((uint64_t)pages[i] << RV_PAGE_SHIFT), RV_PAGE_SIZE, 1);
    return finish128(merge512(&s), NULL, NULL, 0, 0);
}

static int best_level(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul"))
        return RV_CRC_VPCLMUL;
    if (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        return RV_CRC_PCLMUL;
    return RV_CRC_BITWISE;
}

#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>

#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif

/* The ARMv8 CRC32 instructions use zlib's polynomial and bit order. */
__attribute__((target("+crc")))
static uint32_t span_arm(uint32_t c, const uint8_t *src, uint8_t *dst, uint64_t n)
{
    for (; n >= 8; n -= 8, src += 8) {
        uint64_t w;
        memcpy(&w, src, 8);
        if (dst) {
            memcpy(dst, &w, 8);
            dst += 8;
        }
        c = __crc32d(c, w);
    }
    for (; n; n--, src++) {
        if (dst)
            *dst++ = *src;
        c = __crc32b(c, *src);
    }
    return c;
}

static int best_level(void)
{
    return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? RV_CRC_ARMV8 : RV_CRC_BITWISE;
}

#else
static int best_level(void)
{
    return RV_CRC_BITWISE;
}
#endif

/* The implementation in use: the best the CPU has, unless a test lowered it.
 * Every level computes the same CRC, so racing first calls are harmless. */
static int best = -1, level = -1;

static int best_cached(void)
{
    int b = __atomic_load_n(&best, __ATOMIC_RELAXED);
    if (b < 0) {
        b = best_level();
        __atomic_store_n(&best, b, __ATOMIC_RELAXED);
    }
    return b;
}

static int crc_level(void)
{
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    return l < 0 ? best_cached() : l;
}

int rv_crc32_level(int limit)
{
    if (limit >= 0) {
        int b = best_cached();
        __atomic_store_n(&level, limit < b ? limit : b, __ATOMIC_RELAXED);
    }
    return crc_level();
}

/* ~crc of src, copied to dst on the way if dst is not NULL. */
static uint32_t span(uint32_t c, const uint8_t *src, uint8_t *dst, uint64_t n)
{
    switch (crc_level()) {
#if defined(__x86_64__)
    case RV_CRC_VPCLMUL:
        if (n >= 256 && !dst)
            return span512(c, src, n);
        /* fall through */
    case RV_CRC_PCLMUL:
        if (n >= 64 && !dst)
            return span128(c, src, n);
        break;
#elif defined(__aarch64__)
    case RV_CRC_ARMV8:
        return span_arm(c, src, dst, n);
#endif
    default:
        break;
    }
    return copy_bits(c, src, dst, n);
}

uint32_t rv_crc32(uint32_t crc, const uint8_t *data, uint64_t len)
{
    return ~span(~crc, data, NULL, len);
}

uint32_t rv_crc32_scatter(uint32_t crc, const uint8_t *src, uint8_t *mem, const uint32_t *pages,
                          uint64_t n)
{
    uint32_t c = ~crc;
    if (n == 0)
        return crc;
#if defined(__x86_64__)
    switch (crc_level()) {
    case RV_CRC_VPCLMUL:
        return ~scatter512(c, src, mem, pages, n);
    case RV_CRC_PCLMUL:
        return ~scatter128(c, src, mem, pages, n);
    default:
        break;
    }
#endif
    for (uint64_t i = 0; i < n; i++)
        c = span(c, src + i * RV_PAGE_SIZE, mem + ((uint64_t)pages[i] << RV_PAGE_SHIFT), RV_PAGE_SIZE);
    return ~c;
}
