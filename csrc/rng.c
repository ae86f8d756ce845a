/*
 * rng.c: the guest's randomness, a ChaCha20 keystream (RFC 8439's block
 * function) keyed by the job's seed.
 *
 * Key: the seed as 8 little-endian bytes, then 24 zero bytes. Nonce: zero.
 * Block counter: 0, 1, 2, ... as a 64-bit count in state words 12 and 13
 * (the original ChaCha layout; for the first 2^32 blocks it is RFC 8439
 * with a zero nonce). The stream is consumed in order: AT_RANDOM takes the
 * first 16 bytes at process start, then every getrandom and every read of
 * /dev/urandom the next ones. Its whole state is (seed, bytes used).
 */
#include <string.h>

#include "os.h"

static uint32_t rotl(uint32_t v, int n)
{
    return (v << n) | (v >> (32 - n));
}

#define QR(a, b, c, d)                                                     \
    do {                                                                   \
        a += b; d ^= a; d = rotl(d, 16);                                   \
        c += d; b ^= c; b = rotl(b, 12);                                   \
        a += b; d ^= a; d = rotl(d, 8);                                    \
        c += d; b ^= c; b = rotl(b, 7);                                    \
    } while (0)

static void chacha_block(uint64_t seed, uint64_t counter, uint8_t out[64])
{
    uint32_t in[16] = {
        0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,    /* "expand 32-byte k" */
        (uint32_t)seed, (uint32_t)(seed >> 32), 0, 0, 0, 0, 0, 0,
        (uint32_t)counter, (uint32_t)(counter >> 32), 0, 0,
    };
    uint32_t x[16];
    memcpy(x, in, sizeof x);
    for (int i = 0; i < 10; i++) {
        QR(x[0], x[4], x[8], x[12]);
        QR(x[1], x[5], x[9], x[13]);
        QR(x[2], x[6], x[10], x[14]);
        QR(x[3], x[7], x[11], x[15]);
        QR(x[0], x[5], x[10], x[15]);
        QR(x[1], x[6], x[11], x[12]);
        QR(x[2], x[7], x[8], x[13]);
        QR(x[3], x[4], x[9], x[14]);
    }
    for (int i = 0; i < 16; i++) {
        uint32_t v = x[i] + in[i];
        memcpy(out + 4 * i, &v, 4);     /* little-endian host (internal.h) */
    }
}

void rv_rng_seed(rv_rng *r, uint64_t seed)
{
    r->seed = seed;
    r->pos = 0;
    r->cached = 0;
}

void rv_rng_read(rv_rng *r, uint8_t *out, uint64_t n)
{
    while (n) {
        uint64_t block = r->pos >> 6, off = r->pos & 63;
        if (r->cached != block + 1) {
            chacha_block(r->seed, block, r->block);
            r->cached = block + 1;
        }
        uint64_t take = 64 - off < n ? 64 - off : n;
        memcpy(out, r->block + off, take);
        out += take;
        n -= take;
        r->pos += take;
    }
}
