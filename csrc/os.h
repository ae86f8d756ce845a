/*
 * os.h: what the files of the Linux user ABI share (linux.c, mm.c, vfs.c,
 * rng.c, osstate.c, uaccess.c). Python never sees it; rvcore.h declares the
 * few calls Python makes.
 *
 * Everything a guest can observe through a syscall lives in struct rv_os
 * and the machine, and is a function of the job spec and the cycle count:
 * there is no host clock, host file or host randomness anywhere below.
 */
#ifndef RV_OS_H
#define RV_OS_H

#include "internal.h"

/* Linux errno values (asm-generic). Syscalls return them negated in a0. */
#define RV_EPERM 1
#define RV_ENOENT 2
#define RV_ESRCH 3
#define RV_ENXIO 6
#define RV_EBADF 9
#define RV_EAGAIN 11
#define RV_ENOMEM 12
#define RV_EACCES 13
#define RV_EFAULT 14
#define RV_EBUSY 16
#define RV_EEXIST 17
#define RV_ENODEV 19
#define RV_ENOTDIR 20
#define RV_EISDIR 21
#define RV_EINVAL 22
#define RV_EMFILE 24
#define RV_ENOTTY 25
#define RV_EFBIG 27
#define RV_ENOSPC 28
#define RV_ESPIPE 29
#define RV_ERANGE 34
#define RV_ENAMETOOLONG 36
#define RV_ENOSYS 38
#define RV_ENOTEMPTY 39
#define RV_EOPNOTSUPP 95
#define RV_ETIMEDOUT 110

/* A syscall handler's result when it stopped the machine (exit, error)
 * instead of producing a value for a0. */
#define RV_SYS_STOP INT64_MIN

/* Fixed identity of every guest (docs/linux-abi.md). */
#define RV_PID 1
#define RV_UID 1000
#define RV_GID 1000

#define RV_LINUX_SYSCALLS RV_HOST_SYSCALLS
#define RV_MAX_FDS 1024
#define RV_PATH_MAX RV_OS_PATH_MAX
#define RV_NAME_MAX 255
#define RV_NSIG 64
#define RV_NLIMITS 16

/* ChaCha20 keystream (rng.c). The key is the seed; pos counts the bytes
 * handed out so far. block caches the keystream block pos falls in. */
typedef struct rv_rng {
    uint64_t seed;
    uint64_t pos;
    uint64_t cached;          /* index + 1 of the block in `block`, 0: none */
    uint8_t block[64];
} rv_rng;

/* One anonymous or file-copy mapping made by mmap (mm.c). */
typedef struct rv_map {
    uint64_t start, end;      /* page-aligned, end exclusive */
    uint64_t prot;            /* PROT_* bits as the guest asked */
} rv_map;

typedef struct rv_vfs rv_vfs;

/* The bytes of a file the job declared, known by their sha256. */
typedef struct rv_blob {
    uint8_t digest[32];
    uint8_t *data;
    uint64_t len;
} rv_blob;

typedef struct rv_sigaction {
    uint64_t handler, flags, mask;
} rv_sigaction;

struct rv_os {
    /* Configuration, not state: derived from the program on every load. */
    uint64_t guard;           /* syscall pointers below this fault (the NULL guard) */

    /* Syscalls 0..511 the host serves instead of the core: a bit each. */
    uint64_t host[8];

    /* The process (linux.c). */
    int64_t realtime_start;   /* CLOCK_REALTIME at cycle 0, ns since the epoch */
    uint64_t sleep_ns;        /* virtual time slept: nanosleep moves the clocks on */
    uint64_t tid_address;
    uint64_t robust_head, robust_len;
    uint64_t sigmask;
    uint64_t altstack[3];     /* sp, flags, size */
    rv_sigaction sigact[RV_NSIG];
    uint64_t limits[RV_NLIMITS][2];
    uint32_t umask;
    char exe[RV_PATH_MAX];    /* what /proc/self/exe names, NUL-terminated */

    rv_rng rng;

    /* Memory mappings (mm.c), sorted by address, not overlapping. */
    rv_map *maps;
    uint64_t nmaps, maps_cap;

    /* The file system (vfs.c), and the declared files' bytes it refers to:
     * provided by the host, never in a snapshot. */
    rv_vfs *fs;
    rv_blob *blobs;
    uint64_t nblobs, blobs_cap;
};

/* machine.c / os lifetime (linux.c). */
rv_os *rv_os_new(void);
void rv_os_free(rv_os *os);

/* uaccess.c: guest memory as syscalls see it. A range is accessible when
 * it lies in guest memory above the NULL guard; to be written it must also
 * be writable (not code, not read-only). Zero-length ranges always are. */
const uint8_t *rv_user_in(const rv_machine *m, uint64_t addr, uint64_t len);
/* Whether a range lies in the guest's address space at all (Linux's
 * access_ok): read and write check the whole buffer so, before the bytes
 * they move. */
int rv_user_range(const rv_machine *m, uint64_t addr, uint64_t len);
/* Checks, marks the pages dirty and returns where to write; NULL: EFAULT. */
uint8_t *rv_user_out(rv_machine *m, uint64_t addr, uint64_t len);
/* Copy the NUL-terminated string at addr (at most max bytes with its NUL)
 * into out. 0, -RV_EFAULT or -RV_ENAMETOOLONG. */
int rv_user_string(const rv_machine *m, uint64_t addr, char *out, uint64_t max);
/* Write a u64 / a block of bytes to the guest: 0 or -RV_EFAULT. */
int rv_user_put(rv_machine *m, uint64_t addr, const void *src, uint64_t len);
/* Host-side fill of [addr, addr+len): src bytes, or zeros when src is NULL,
 * ignoring read-only pages (the loader's view; never code pages). Marks
 * the pages that change as written. */
void rv_fill(rv_machine *m, uint64_t addr, const uint8_t *src, uint64_t len);

/* rng.c */
void rv_rng_seed(rv_rng *r, uint64_t seed);
void rv_rng_read(rv_rng *r, uint8_t *out, uint64_t n);

/* linux.c: the virtual clocks, in ns. */
uint64_t rv_clock_monotonic(const rv_machine *m);
int64_t rv_clock_realtime(const rv_machine *m);

/* The syscalls, each taking its arguments from a0..a5 and returning the
 * value for a0 (a negated errno on failure) or RV_SYS_STOP. */
typedef int64_t (*rv_sys_fn)(rv_machine *m);

/* mm.c */
int64_t rv_sys_brk(rv_machine *m);
int64_t rv_sys_mmap(rv_machine *m);
int64_t rv_sys_munmap(rv_machine *m);
int64_t rv_sys_mremap(rv_machine *m);
int64_t rv_sys_mprotect(rv_machine *m);
int64_t rv_sys_madvise(rv_machine *m);
/* Bytes of guest memory mappings hold (for sysinfo). */
uint64_t rv_mm_mapped(const rv_machine *m);

/* vfs.c */
rv_vfs *rv_vfs_new(void);
void rv_vfs_free(rv_vfs *fs);
/* Bytes of files the guest created (for sysinfo). */
uint64_t rv_vfs_used(const rv_vfs *fs);
/* mmap of a file: its bytes from off (n of them, maybe fewer than asked),
 * or a negated errno. */
int64_t rv_vfs_map_source(rv_machine *m, int64_t fd, uint64_t off, uint64_t prot, uint64_t flags,
                          const uint8_t **data, uint64_t *n);
int64_t rv_sys_read(rv_machine *m);
int64_t rv_sys_write(rv_machine *m);
int64_t rv_sys_readv(rv_machine *m);
int64_t rv_sys_writev(rv_machine *m);
int64_t rv_sys_pread64(rv_machine *m);
int64_t rv_sys_pwrite64(rv_machine *m);
int64_t rv_sys_openat(rv_machine *m);
int64_t rv_sys_close(rv_machine *m);
int64_t rv_sys_lseek(rv_machine *m);
int64_t rv_sys_fstat(rv_machine *m);
int64_t rv_sys_newfstatat(rv_machine *m);
int64_t rv_sys_getdents64(rv_machine *m);
int64_t rv_sys_ioctl(rv_machine *m);
int64_t rv_sys_fcntl(rv_machine *m);
int64_t rv_sys_dup(rv_machine *m);
int64_t rv_sys_dup3(rv_machine *m);
int64_t rv_sys_faccessat(rv_machine *m);
int64_t rv_sys_faccessat2(rv_machine *m);
int64_t rv_sys_readlinkat(rv_machine *m);
int64_t rv_sys_getcwd(rv_machine *m);
int64_t rv_sys_chdir(rv_machine *m);
int64_t rv_sys_fchdir(rv_machine *m);
int64_t rv_sys_mkdirat(rv_machine *m);
int64_t rv_sys_unlinkat(rv_machine *m);
int64_t rv_sys_ftruncate(rv_machine *m);
int64_t rv_sys_fsync(rv_machine *m);
int64_t rv_sys_fchmod(rv_machine *m);
int64_t rv_sys_fchmodat(rv_machine *m);

/* osstate.c: a little-endian byte writer and a bounds-checked reader for
 * the encoded OS state. A writer with buf NULL only counts. */
typedef struct rv_wr {
    uint8_t *buf;
    uint64_t len, cap;
} rv_wr;

typedef struct rv_rd {
    const uint8_t *buf;
    uint64_t len, pos;
    int bad;                  /* set once anything read past the end */
} rv_rd;

void rv_wr_u32(rv_wr *w, uint32_t v);
void rv_wr_u64(rv_wr *w, uint64_t v);
void rv_wr_bytes(rv_wr *w, const void *p, uint64_t n);
uint32_t rv_rd_u32(rv_rd *r);
uint64_t rv_rd_u64(rv_rd *r);
/* A pointer to the next n bytes, or NULL (and r->bad) if there are fewer. */
const uint8_t *rv_rd_bytes(rv_rd *r, uint64_t n);

/* Each module writes and reads its own part of the state. The readers build
 * into fresh objects and return 0 or an RV_OS_* error; nothing of the
 * machine changes until every part has been read. */
void rv_vfs_encode(const rv_os *os, rv_wr *w);
int rv_vfs_decode(const rv_os *os, rv_rd *r, rv_vfs **out, uint8_t *missing);

/* syscall.c: stop the machine with an error of this kind at the ecall. */
int64_t rv_sys_fail(rv_machine *m, int kind, uint64_t addr);

#endif
