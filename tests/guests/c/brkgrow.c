/*
 * brkgrow: grows the heap with brk in steps up to 1 MiB, writes a pattern
 * over each new part and checksums the whole heap, shrinks and regrows it,
 * and asks for an impossible break (2^62), which must be refused by
 * returning the unchanged break.  Only offsets from the initial break are
 * printed, so the output does not depend on where the heap starts.
 * Needs about 1.1 MiB of guest memory.  Exits 0 if every brk call behaved,
 * otherwise the number of the first step that did not.
 */
#include "rt.h"

static uintptr_t base;

/* Pattern depends on the offset only, not on the heap's address. */
static void fill(uintptr_t from, uintptr_t to)
{
    for (uintptr_t off = from; off < to; off += 8)
        *(uint64_t *)(base + off) = (off * 0x9e3779b97f4a7c15UL) ^ (off >> 3);
}

static uint64_t checksum(uintptr_t len)
{
    uint64_t h = 0;
    for (uintptr_t off = 0; off < len; off += 8) {
        h = (h ^ *(uint64_t *)(base + off)) * 0x100000001b3UL;
        h ^= h >> 29;
    }
    return h;
}

static int step(int num, uintptr_t request, uintptr_t expect, const char *what)
{
    uintptr_t got = sys_brk(request);
    print_str("step ");
    print_u64((uint64_t)num);
    print_str(": ");
    print_str(what);
    if (got != expect) {
        print_str(" -> unexpected result\n");
        return num;
    }
    print_str(" -> ok\n");
    return 0;
}

int main(void)
{
    static const uintptr_t sizes[] = { 4096, 65536, 65536 + 100, 262144, 1048576 };
    int bad;

    base = sys_brk(0);
    if (base == 0 || (base & 7) != 0) {
        print_str("initial break is not usable\n");
        return 99;
    }
    uintptr_t cur = 0;
    for (int i = 0; i < 5; i++) {
        print_str("grow to +");
        print_u64(sizes[i]);
        print_str("\n");
        if ((bad = step(i + 1, base + sizes[i], base + sizes[i], "brk(base + size)")))
            return bad;
        fill(cur & ~7UL, sizes[i]);
        cur = sizes[i];
        print_kv_hex("checksum", checksum(cur));
    }

    if ((bad = step(6, 0, base + cur, "brk(0) reports the break")))
        return bad;
    /* far beyond any memory: refused, break unchanged */
    if ((bad = step(7, 1UL << 62, base + cur, "brk(2^62) refused")))
        return bad;
    if ((bad = step(8, 0, base + cur, "break unchanged after refusal")))
        return bad;

    /* shrink, regrow and refill the regrown half */
    if ((bad = step(9, base + 524288, base + 524288, "shrink to +524288")))
        return bad;
    print_kv_hex("checksum", checksum(524288));
    if ((bad = step(10, base + 1048576, base + 1048576, "regrow to +1048576")))
        return bad;
    fill(524288, 1048576);
    print_kv_hex("checksum", checksum(1048576));
    print_str("brkgrow done\n");
    return 0;
}
