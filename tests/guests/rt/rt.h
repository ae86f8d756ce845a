/*
 * Tiny freestanding runtime for the rvdist guest programs: syscall wrappers
 * for the four syscalls rvdist implements and a few output/parsing helpers
 * (implemented in rt.c).  No libc is available.
 */
#ifndef RVDIST_GUEST_RT_H
#define RVDIST_GUEST_RT_H

typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned short uint16_t;
typedef unsigned char uint8_t;
typedef unsigned long size_t;
typedef long ssize_t;
typedef unsigned long uintptr_t;

#define NULL ((void *)0)

#define SYS_read 63
#define SYS_write 64
#define SYS_exit 93
#define SYS_exit_group 94
#define SYS_brk 214

static inline long rt_syscall3(long n, long x0, long x1, long x2)
{
    register long a0 __asm__("a0") = x0;
    register long a1 __asm__("a1") = x1;
    register long a2 __asm__("a2") = x2;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return a0;
}

static inline ssize_t sys_read(int fd, void *buf, size_t len)
{
    return rt_syscall3(SYS_read, fd, (long)buf, (long)len);
}

static inline ssize_t sys_write(int fd, const void *buf, size_t len)
{
    return rt_syscall3(SYS_write, fd, (long)buf, (long)len);
}

/* brk(0) returns the current break; brk(addr) the new break, or the
   unchanged old one when the request is refused. */
static inline uintptr_t sys_brk(uintptr_t addr)
{
    return (uintptr_t)rt_syscall3(SYS_brk, (long)addr, 0, 0);
}

static inline __attribute__((noreturn)) void sys_exit(int code)
{
    rt_syscall3(SYS_exit, code, 0, 0);
    __builtin_unreachable();
}

static inline __attribute__((noreturn)) void sys_exit_group(int code)
{
    rt_syscall3(SYS_exit_group, code, 0, 0);
    __builtin_unreachable();
}

/* rt.c */
size_t rt_strlen(const char *s);
/* Writes all of buf to fd (retrying short writes); returns 0 or -1. */
int write_all(int fd, const void *buf, size_t len);
void print_str(const char *s);                 /* to stdout */
void print_u64(uint64_t v);                    /* decimal */
void print_i64(int64_t v);                     /* decimal, with '-' */
void print_hex64(uint64_t v);                  /* "0x" + 16 hex digits */
void print_kv_u64(const char *key, uint64_t v); /* "key=<dec>\n" */
void print_kv_hex(const char *key, uint64_t v); /* "key=0x...\n" */
/* Parses a decimal number; returns 0 and stores it in *out, or -1 when s
   is not all digits (or overflows). */
int parse_u64(const char *s, uint64_t *out);

/* GCC may emit calls to these even with -ffreestanding -fno-builtin. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
