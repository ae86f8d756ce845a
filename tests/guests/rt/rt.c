/* Helpers declared in rt.h. Output goes straight to write(2): no buffering,
   so what a program printed before a fault is all visible. */
#include "rt.h"

size_t rt_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = sys_write(fd, p, len);
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void print_str(const char *s)
{
    write_all(1, s, rt_strlen(s));
}

void print_u64(uint64_t v)
{
    char buf[20];
    int i = sizeof buf;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    write_all(1, buf + i, sizeof buf - (size_t)i);
}

void print_i64(int64_t v)
{
    if (v < 0) {
        print_str("-");
        print_u64(-(uint64_t)v);
    } else {
        print_u64((uint64_t)v);
    }
}

void print_hex64(uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char buf[18];
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 17; i >= 2; i--) {
        buf[i] = digits[v & 15];
        v >>= 4;
    }
    write_all(1, buf, sizeof buf);
}

void print_kv_u64(const char *key, uint64_t v)
{
    print_str(key);
    print_str("=");
    print_u64(v);
    print_str("\n");
}

void print_kv_hex(const char *key, uint64_t v)
{
    print_str(key);
    print_str("=");
    print_hex64(v);
    print_str("\n");
}

int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (~0UL - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    if (p < q) {
        while (n--)
            *p++ = *q++;
    } else {
        while (n--)
            p[n] = q[n];
    }
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}
