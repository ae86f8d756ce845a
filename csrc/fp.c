/*
 * fp.c: RISC-V F and D arithmetic that does not trust the host FPU.
 *
 * Everything here is integer code, so it gives the same bits and flags on
 * every host. The dispatch loop (handlers_fp.inc) uses the host FPU itself
 * only where IEEE 754 fixes the result and the flags (docs/floating-point.md):
 * + - * / sqrt fma and conversions in round-to-nearest-even with an ordinary
 * result, truncating conversions to integers in range, compares without
 * NaNs. Every other case comes here, through fpexec.c.
 *
 * Values travel as raw bits: fmt 0 is binary32 (in the low 32 bits, already
 * unboxed by the caller), fmt 1 binary64. A finite nonzero value is handled
 * as sig * 2^exp with sig an integer; results go through one rounding
 * routine, which implements all five RISC-V rounding modes and detects
 * tininess after rounding, as RISC-V requires.
 */
#include "internal.h"

typedef unsigned __int128 u128;

static const int MANT[2] = {23, 52};        /* stored fraction bits */
static const int BIAS[2] = {127, 1023};
static const int EMAXB[2] = {255, 2047};    /* biased exponent of inf/NaN */

#define SIGN_BIT(fmt) ((uint64_t)1 << ((fmt) ? 63 : 31))
#define EXP_OF(fmt, v) ((int)(((v) >> MANT[fmt]) & (uint64_t)EMAXB[fmt]))
#define FRAC_OF(fmt, v) ((v) & (((uint64_t)1 << MANT[fmt]) - 1))
#define QUIET_BIT(fmt) ((uint64_t)1 << (MANT[fmt] - 1))

uint64_t rv_fp_canonical_nan(int fmt)
{
    return fmt ? RV_CANONICAL_NAN_D : RV_CANONICAL_NAN_S;
}

static int is_nan(int fmt, uint64_t v)
{
    return EXP_OF(fmt, v) == EMAXB[fmt] && FRAC_OF(fmt, v) != 0;
}

static int is_snan(int fmt, uint64_t v)
{
    return is_nan(fmt, v) && !(v & QUIET_BIT(fmt));
}

static int is_inf(int fmt, uint64_t v)
{
    return EXP_OF(fmt, v) == EMAXB[fmt] && FRAC_OF(fmt, v) == 0;
}

static int is_zero(int fmt, uint64_t v)
{
    return (v & ~SIGN_BIT(fmt)) == 0;
}

static int sign_of(int fmt, uint64_t v)
{
    return (v & SIGN_BIT(fmt)) != 0;
}

static uint64_t inf_of(int fmt, int sign)
{
    return (sign ? SIGN_BIT(fmt) : 0) | ((uint64_t)EMAXB[fmt] << MANT[fmt]);
}

static uint64_t zero_of(int fmt, int sign)
{
    return sign ? SIGN_BIT(fmt) : 0;
}

/* A finite nonzero value as sig * 2^exp. */
static void unpack(int fmt, uint64_t v, uint64_t *sig, int *exp)
{
    int e = EXP_OF(fmt, v);
    uint64_t f = FRAC_OF(fmt, v);
    if (e) {
        *sig = f | ((uint64_t)1 << MANT[fmt]);
        *exp = e - BIAS[fmt] - MANT[fmt];
    } else {
        *sig = f;
        *exp = 1 - BIAS[fmt] - MANT[fmt];
    }
}

static int msb128(u128 v)
{
    uint64_t hi = (uint64_t)(v >> 64);
    return hi ? 127 - __builtin_clzll(hi) : 63 - __builtin_clzll((uint64_t)v);
}

/* v >> n, with every bit shifted out ORed into bit 0 ("jamming"): exact
 * enough for rounding as long as the result keeps two bits below the
 * rounding position. */
static u128 shr_jam128(u128 v, int n)
{
    if (n <= 0)
        return v;
    if (n >= 128)
        return v != 0;
    return (v >> n) | ((v & (((u128)1 << n) - 1)) != 0);
}

/* Whether to round the kept part up, given the discarded part rem and its
 * halfway point half (rem < 2 * half). */
static int round_up(uint64_t kept, uint64_t rem, uint64_t half, int sign, int rm)
{
    switch (rm) {
    case RV_RM_RNE: return rem > half || (rem == half && (kept & 1));
    case RV_RM_RTZ: return 0;
    case RV_RM_RDN: return rem != 0 && sign;
    case RV_RM_RUP: return rem != 0 && !sign;
    default: return rem >= half;   /* RV_RM_RMM */
    }
}

/* sig (nonzero, top bit at 63) rounded to keep bits, keep in [-inf, 63]:
 * the kept integer (possibly 2^keep after rounding up) and inexactness. */
static uint64_t round_to(uint64_t sig, int keep, int sign, int rm, int *inexact)
{
    if (keep <= 0) {
        /* Everything goes: below half unless keep == 0 (sig >= 2^63 = half). */
        uint64_t rem = keep == 0 ? sig : 1, half = keep == 0 ? (uint64_t)1 << 63 : 2;
        *inexact = 1;
        return round_up(0, rem, half, sign, rm);
    }
    const int shift = 64 - keep;
    uint64_t kept = sig >> shift, rem = sig & (((uint64_t)1 << shift) - 1);
    *inexact = rem != 0;
    return kept + (uint64_t)round_up(kept, rem, (uint64_t)1 << (shift - 1), sign, rm);
}

/* Round sig * 2^exp (sig nonzero; bit 0 may hold jammed lower bits) to fmt. */
static uint64_t round_pack(int fmt, int sign, int exp, uint64_t sig, int rm, uint32_t *flags)
{
    const int p = MANT[fmt] + 1, emin = 1 - BIAS[fmt];
    const int lz = __builtin_clzll(sig);
    sig <<= lz;
    int e = exp + 63 - lz;          /* exponent of the leading bit */
    int inexact;
    /* Tininess after rounding: rounded to p bits with an unbounded exponent. */
    int tiny = 0;
    if (e < emin) {
        uint64_t k = round_to(sig, p, sign, rm, &inexact);
        tiny = (k >> p) ? e + 1 < emin : 1;
    }
    const int keep = e >= emin ? p : p - (emin - e);
    uint64_t kept = round_to(sig, keep, sign, rm, &inexact);
    uint64_t bits;
    if (e >= emin) {
        if (kept >> p) {
            kept >>= 1;
            e++;
        }
        const int biased = e + BIAS[fmt];
        if (biased >= EMAXB[fmt]) {
            *flags |= RV_FFLAG_OF | RV_FFLAG_NX;
            int to_inf = rm == RV_RM_RNE || rm == RV_RM_RMM || (rm == RV_RM_RDN && sign) ||
                         (rm == RV_RM_RUP && !sign);
            return to_inf ? inf_of(fmt, sign) : inf_of(fmt, sign) - 1;
        }
        bits = ((uint64_t)biased << MANT[fmt]) | (kept & (((uint64_t)1 << MANT[fmt]) - 1));
    } else {
        /* Subnormal: a kept value of 2^(p-1) is the smallest normal, whose
         * bits are exactly that integer. */
        bits = kept;
    }
    if (inexact) {
        *flags |= RV_FFLAG_NX;
        if (tiny)
            *flags |= RV_FFLAG_UF;
    }
    return bits | zero_of(fmt, sign);
}

/* Round a 128-bit sig * 2^exp. */
static uint64_t round_pack128(int fmt, int sign, int exp, u128 sig, int rm, uint32_t *flags)
{
    const int m = msb128(sig);
    if (m > 63) {
        sig = shr_jam128(sig, m - 63);
        exp += m - 63;
    }
    return round_pack(fmt, sign, exp, (uint64_t)sig, rm, flags);
}

/* NaN in, canonical NaN out; NV for a signalling one. */
static uint64_t nan_result(int fmt, uint64_t a, uint64_t b, uint64_t c, int n, uint32_t *flags)
{
    if (is_snan(fmt, a) || (n > 1 && is_snan(fmt, b)) || (n > 2 && is_snan(fmt, c)))
        *flags |= RV_FFLAG_NV;
    return rv_fp_canonical_nan(fmt);
}

static uint64_t invalid(int fmt, uint32_t *flags)
{
    *flags |= RV_FFLAG_NV;
    return rv_fp_canonical_nan(fmt);
}

/* sa * A * 2^ea + sb * B * 2^eb for A, B nonzero and at most 2^125. */
static uint64_t add_core(int fmt, int sa, u128 a, int ea, int sb, u128 b, int eb, int rm,
                         uint32_t *flags)
{
    /* Both to their top bit at 125; two bits of headroom for the sum. */
    int sh = 125 - msb128(a);
    a <<= sh;
    ea -= sh;
    sh = 125 - msb128(b);
    b <<= sh;
    eb -= sh;
    if (ea < eb || (ea == eb && a < b)) {
        u128 t = a; a = b; b = t;
        int te = ea; ea = eb; eb = te;
        int ts = sa; sa = sb; sb = ts;
    }
    /* Exponent differences can reach ~4500: shr_jam128 saturates. */
    const long d = (long)ea - (long)eb;
    b = shr_jam128(b, d > 200 ? 200 : (int)d);
    u128 s = sa == sb ? a + b : a - b;
    if (s == 0)
        return zero_of(fmt, rm == RV_RM_RDN);
    return round_pack128(fmt, sa, ea, s, rm, flags);
}

uint64_t rv_fp_add(int fmt, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (is_nan(fmt, a) || is_nan(fmt, b))
        return nan_result(fmt, a, b, 0, 2, flags);
    const int sa = sign_of(fmt, a), sb = sign_of(fmt, b);
    if (is_inf(fmt, a)) {
        if (is_inf(fmt, b) && sa != sb)
            return invalid(fmt, flags);
        return a;
    }
    if (is_inf(fmt, b))
        return b;
    if (is_zero(fmt, a) && is_zero(fmt, b))
        return zero_of(fmt, sa == sb ? sa : rm == RV_RM_RDN);
    if (is_zero(fmt, a))
        return b;
    if (is_zero(fmt, b))
        return a;
    uint64_t ma, mb;
    int ea, eb;
    unpack(fmt, a, &ma, &ea);
    unpack(fmt, b, &mb, &eb);
    return add_core(fmt, sa, ma, ea, sb, mb, eb, rm, flags);
}

uint64_t rv_fp_mul(int fmt, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (is_nan(fmt, a) || is_nan(fmt, b))
        return nan_result(fmt, a, b, 0, 2, flags);
    const int s = sign_of(fmt, a) ^ sign_of(fmt, b);
    if (is_inf(fmt, a) || is_inf(fmt, b)) {
        if (is_zero(fmt, a) || is_zero(fmt, b))
            return invalid(fmt, flags);
        return inf_of(fmt, s);
    }
    if (is_zero(fmt, a) || is_zero(fmt, b))
        return zero_of(fmt, s);
    uint64_t ma, mb;
    int ea, eb;
    unpack(fmt, a, &ma, &ea);
    unpack(fmt, b, &mb, &eb);
    return round_pack128(fmt, s, ea + eb, (u128)ma * mb, rm, flags);
}

uint64_t rv_fp_div(int fmt, uint64_t a, uint64_t b, int rm, uint32_t *flags)
{
    if (is_nan(fmt, a) || is_nan(fmt, b))
        return nan_result(fmt, a, b, 0, 2, flags);
    const int s = sign_of(fmt, a) ^ sign_of(fmt, b);
    if (is_inf(fmt, a)) {
        if (is_inf(fmt, b))
            return invalid(fmt, flags);
        return inf_of(fmt, s);
    }
    if (is_inf(fmt, b))
        return zero_of(fmt, s);
    if (is_zero(fmt, b)) {
        if (is_zero(fmt, a))
            return invalid(fmt, flags);
        *flags |= RV_FFLAG_DZ;
        return inf_of(fmt, s);
    }
    if (is_zero(fmt, a))
        return zero_of(fmt, s);
    uint64_t ma, mb;
    int ea, eb;
    unpack(fmt, a, &ma, &ea);
    unpack(fmt, b, &mb, &eb);
    int la = __builtin_clzll(ma), lb = __builtin_clzll(mb);
    ma <<= la;
    ea -= la;
    mb <<= lb;
    eb -= lb;
    /* (ma * 2^64) / mb lies in (2^63, 2^65): 64 or 65 significant bits. */
    u128 n = (u128)ma << 64;
    u128 q = n / mb;
    int rem = (n - q * mb) != 0;
    return round_pack128(fmt, s, ea - 64 - eb, q | (u128)rem, rm, flags);
}

uint64_t rv_fp_sqrt(int fmt, uint64_t a, int rm, uint32_t *flags)
{
    if (is_nan(fmt, a))
        return nan_result(fmt, a, 0, 0, 1, flags);
    if (is_zero(fmt, a))
        return a;
    if (sign_of(fmt, a))
        return invalid(fmt, flags);
    if (is_inf(fmt, a))
        return a;
    uint64_t m;
    int e;
    unpack(fmt, a, &m, &e);
    /* n = m * 2^k with the top bit at 124 or 125 and e - k even. */
    int k = 124 - (63 - __builtin_clzll(m));
    if ((e - k) & 1)
        k++;
    u128 n = (u128)m << k;
    /* Bit-by-bit integer square root: r = floor(sqrt(n)), n - r^2 the rest. */
    u128 r = 0, bit = (u128)1 << 124;
    while (bit > n)
        bit >>= 2;
    while (bit) {
        if (n >= r + bit) {
            n -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    return round_pack128(fmt, 0, (e - k) / 2, r | (u128)(n != 0), rm, flags);
}

uint64_t rv_fp_fma(int fmt, uint64_t a, uint64_t b, uint64_t c, int rm, uint32_t *flags)
{
    const int zero_inf = (is_zero(fmt, a) && is_inf(fmt, b)) || (is_inf(fmt, a) && is_zero(fmt, b));
    if (is_nan(fmt, a) || is_nan(fmt, b) || is_nan(fmt, c)) {
        /* RISC-V: 0 * inf + qNaN is invalid too (IEEE leaves it open). */
        if (zero_inf)
            *flags |= RV_FFLAG_NV;
        return nan_result(fmt, a, b, c, 3, flags);
    }
    if (zero_inf)
        return invalid(fmt, flags);
    const int sp = sign_of(fmt, a) ^ sign_of(fmt, b), sc = sign_of(fmt, c);
    if (is_inf(fmt, a) || is_inf(fmt, b)) {
        if (is_inf(fmt, c) && sc != sp)
            return invalid(fmt, flags);
        return inf_of(fmt, sp);
    }
    if (is_inf(fmt, c))
        return c;
    if (is_zero(fmt, a) || is_zero(fmt, b)) {
        if (is_zero(fmt, c))
            return zero_of(fmt, sp == sc ? sp : rm == RV_RM_RDN);
        return c;
    }
    uint64_t ma, mb;
    int ea, eb;
    unpack(fmt, a, &ma, &ea);
    unpack(fmt, b, &mb, &eb);
    const u128 prod = (u128)ma * mb;
    if (is_zero(fmt, c))
        return round_pack128(fmt, sp, ea + eb, prod, rm, flags);
    uint64_t mc;
    int ec;
    unpack(fmt, c, &mc, &ec);
    return add_core(fmt, sp, prod, ea + eb, sc, mc, ec, rm, flags);
}

uint64_t rv_fp_cvt_ff(int to, uint64_t a, int rm, uint32_t *flags)
{
    const int from = !to;
    if (is_nan(from, a)) {
        if (is_snan(from, a))
            *flags |= RV_FFLAG_NV;
        return rv_fp_canonical_nan(to);
    }
    const int s = sign_of(from, a);
    if (is_inf(from, a))
        return inf_of(to, s);
    if (is_zero(from, a))
        return zero_of(to, s);
    uint64_t m;
    int e;
    unpack(from, a, &m, &e);
    return round_pack(to, s, e, m, rm, flags);
}

uint64_t rv_fp_from_int(int fmt, uint64_t v, int kind, int rm, uint32_t *flags)
{
    int s = 0;
    switch (kind) {
    case RV_CVT_W:
        v = (uint64_t)(int64_t)(int32_t)v;
        /* fallthrough */
    case RV_CVT_L:
        if ((int64_t)v < 0) {
            s = 1;
            v = -v;
        }
        break;
    case RV_CVT_WU:
        v = (uint32_t)v;
        break;
    }
    if (v == 0)
        return 0;
    return round_pack(fmt, s, 0, v, rm, flags);
}

uint64_t rv_fp_to_int(int fmt, uint64_t a, int kind, int rm, uint32_t *flags)
{
    const int wide = kind == RV_CVT_L || kind == RV_CVT_LU;
    const int is_signed = kind == RV_CVT_W || kind == RV_CVT_L;
    /* The saturated results, as the 64-bit register values. */
    const uint64_t max = is_signed ? (wide ? INT64_MAX : INT32_MAX) : UINT64_MAX;
    const uint64_t min = is_signed ? (wide ? (uint64_t)INT64_MIN : (uint64_t)(int64_t)INT32_MIN) : 0;
    if (is_nan(fmt, a)) {
        *flags |= RV_FFLAG_NV;
        return max;
    }
    const int s = sign_of(fmt, a);
    if (is_inf(fmt, a)) {
        *flags |= RV_FFLAG_NV;
        return s ? min : max;
    }
    if (is_zero(fmt, a))
        return 0;
    uint64_t m;
    int e;
    unpack(fmt, a, &m, &e);
    uint64_t mag;
    int inexact = 0;
    if (e >= 0) {
        if (64 - __builtin_clzll(m) + e > 64) {   /* at least 2^64 */
            *flags |= RV_FFLAG_NV;
            return s ? min : max;
        }
        mag = m << e;
    } else {
        /* Round the integer part: m * 2^e with -e fraction bits. */
        const int lz = __builtin_clzll(m);
        const int keep = 64 - lz + e;   /* integer bits of m * 2^e */
        mag = round_to(m << lz, keep, s, rm, &inexact);
    }
    /* Range of the rounded magnitude for each kind and sign. */
    uint64_t lim;
    if (is_signed)
        lim = wide ? (s ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1)
                   : (s ? (uint64_t)1 << 31 : ((uint64_t)1 << 31) - 1);
    else
        lim = s ? 0 : (wide ? UINT64_MAX : UINT32_MAX);
    if (mag > lim) {
        *flags |= RV_FFLAG_NV;
        return s ? min : max;
    }
    if (inexact)
        *flags |= RV_FFLAG_NX;
    uint64_t r = s ? -mag : mag;
    return wide ? r : (uint64_t)(int64_t)(int32_t)r;
}

uint64_t rv_fp_class(int fmt, uint64_t a)
{
    const int s = sign_of(fmt, a);
    if (is_nan(fmt, a))
        return is_snan(fmt, a) ? 1 << 8 : 1 << 9;
    if (is_inf(fmt, a))
        return s ? 1 << 0 : 1 << 7;
    if (is_zero(fmt, a))
        return s ? 1 << 3 : 1 << 4;
    if (EXP_OF(fmt, a) == 0)
        return s ? 1 << 2 : 1 << 5;
    return s ? 1 << 1 : 1 << 6;
}

/* Non-NaN values in an unsigned order in which -0 < +0. */
static uint64_t order_key(int fmt, uint64_t v)
{
    const uint64_t sb = SIGN_BIT(fmt);
    return (v & sb) ? ~v & (sb | (sb - 1)) : v | sb;
}

uint64_t rv_fp_minmax(int fmt, uint64_t a, uint64_t b, int max, uint32_t *flags)
{
    const int na = is_nan(fmt, a), nb = is_nan(fmt, b);
    if (is_snan(fmt, a) || is_snan(fmt, b))
        *flags |= RV_FFLAG_NV;
    if (na && nb)
        return rv_fp_canonical_nan(fmt);
    if (na)
        return b;
    if (nb)
        return a;
    const int a_less = order_key(fmt, a) < order_key(fmt, b);
    return a_less != max ? a : b;
}

uint64_t rv_fp_compare(int fmt, uint64_t a, uint64_t b, int op, uint32_t *flags)
{
    if (is_nan(fmt, a) || is_nan(fmt, b)) {
        /* FEQ is quiet: only a signalling NaN is invalid. FLT and FLE signal. */
        if (op != RV_CMP_EQ || is_snan(fmt, a) || is_snan(fmt, b))
            *flags |= RV_FFLAG_NV;
        return 0;
    }
    /* +0 and -0 compare equal: fold -0 into +0 first. */
    if (is_zero(fmt, a))
        a = 0;
    if (is_zero(fmt, b))
        b = 0;
    const uint64_t ka = order_key(fmt, a), kb = order_key(fmt, b);
    switch (op) {
    case RV_CMP_EQ: return ka == kb;
    case RV_CMP_LT: return ka < kb;
    default: return ka <= kb;
    }
}

/*
 * The host FPU's sticky flags and control. rv_run installs the default
 * environment on entry (round-to-nearest, all exceptions masked, no
 * flush-to-zero or denormals-are-zero, flags clear), whatever the embedding
 * process had set, and folds the flags into fflags on exit; in between,
 * the dispatch loop reads and clears them only as internal.h says. On x86-64 and aarch64 that is one or two register moves
 * (MXCSR; FPCR and FPSR): fegetenv/fesetenv cost about 1.5% of a 10k-cycle
 * slice. Elsewhere <fenv.h> does it.
 */
#if defined(__x86_64__)
static uint32_t host_status(void)
{
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v) : : "memory");
    return v;
}

static void host_set_status(uint32_t v)
{
    __asm__ volatile("ldmxcsr %0" : : "m"(v) : "memory");
}

/* MXCSR: IE 1, DE 2 (not IEEE), ZE 4, OE 8, UE 16, PE 32; 0x1f80 masks all. */
static uint32_t status_flags(uint32_t v)
{
    return (v & 1 ? RV_FFLAG_NV : 0) | (v & 4 ? RV_FFLAG_DZ : 0) | (v & 8 ? RV_FFLAG_OF : 0) |
           (v & 16 ? RV_FFLAG_UF : 0) | (v & 32 ? RV_FFLAG_NX : 0);
}
#define STATUS_FLAG_BITS 0x3fu

void rv_fp_enter(rv_fp_env *saved)
{
    saved->control = host_status();
    host_set_status(0x1f80);
}

void rv_fp_leave(rv_machine *m, const rv_fp_env *saved)
{
    if (m)
        m->fflags |= status_flags(host_status());
    host_set_status((uint32_t)saved->control);
}
#elif defined(__aarch64__)
static uint64_t host_status(void)
{
    uint64_t v;
    __asm__ volatile("mrs %0, fpsr" : "=r"(v) : : "memory");
    return v;
}

static void host_set_status(uint64_t v)
{
    __asm__ volatile("msr fpsr, %0" : : "r"(v) : "memory");
}

/* FPSR: IOC 1, DZC 2, OFC 4, UFC 8, IXC 16, IDC 128 (not IEEE). */
static uint32_t status_flags(uint64_t v)
{
    return (v & 1 ? RV_FFLAG_NV : 0) | (v & 2 ? RV_FFLAG_DZ : 0) | (v & 4 ? RV_FFLAG_OF : 0) |
           (v & 8 ? RV_FFLAG_UF : 0) | (v & 16 ? RV_FFLAG_NX : 0);
}
#define STATUS_FLAG_BITS 0x9fu

void rv_fp_enter(rv_fp_env *saved)
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr) : : "memory");
    saved->control = fpcr;
    saved->status = host_status();
    /* FPCR 0: round-to-nearest, no FZ, no DN, no AH, traps off. */
    __asm__ volatile("msr fpcr, %0" : : "r"((uint64_t)0) : "memory");
    host_set_status(0);
}

void rv_fp_leave(rv_machine *m, const rv_fp_env *saved)
{
    if (m)
        m->fflags |= status_flags(host_status());
    __asm__ volatile("msr fpcr, %0" : : "r"(saved->control) : "memory");
    host_set_status(saved->status);
}
#else
static int host_status(void)
{
    return fetestexcept(FE_ALL_EXCEPT);
}

static void host_set_status(int v)
{
    feclearexcept(FE_ALL_EXCEPT & ~v);
}

static uint32_t status_flags(int e)
{
    return (e & FE_INVALID ? RV_FFLAG_NV : 0) | (e & FE_DIVBYZERO ? RV_FFLAG_DZ : 0) |
           (e & FE_OVERFLOW ? RV_FFLAG_OF : 0) | (e & FE_UNDERFLOW ? RV_FFLAG_UF : 0) |
           (e & FE_INEXACT ? RV_FFLAG_NX : 0);
}
#define STATUS_FLAG_BITS FE_ALL_EXCEPT

void rv_fp_enter(rv_fp_env *saved)
{
    fegetenv(&saved->env);
    fesetenv(FE_DFL_ENV);
}

void rv_fp_leave(rv_machine *m, const rv_fp_env *saved)
{
    if (m)
        m->fflags |= status_flags(host_status());
    fesetenv(&saved->env);
}
#endif

uint32_t rv_fp_host_take_rare(void)
{
    const uint32_t f = status_flags(host_status());
    if (f & ~(uint32_t)RV_FFLAG_NX) {
        host_set_status(host_status() & ~STATUS_FLAG_BITS);
        return f;
    }
    return 0;
}

uint32_t rv_fp_host_nx(void)
{
    return status_flags(host_status()) & RV_FFLAG_NX;
}

void rv_fp_host_clear(void)
{
    /* Reading is cheaper than writing (which serialises the FPU). */
    if (host_status() & STATUS_FLAG_BITS)
        host_set_status(host_status() & ~STATUS_FLAG_BITS);
}

int rv_fp_host_fma(void)
{
#if defined(__x86_64__)
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("fma") != 0;
    }
    return known;
#else
    return 0;
#endif
}
