/*
 * rvcore.h: the public interface of the rvdist interpreter core.
 *
 * This one header is the single source of truth for the C declarations:
 * the C sources include it, and build_ffi.py hands the same text to cffi's
 * cdef (stripping the preprocessor lines other than integer #defines).
 * Keep it within the C subset cffi parses: no macros with arguments, no
 * inline functions, array sizes written as numbers.
 */
#ifndef RVCORE_H
#define RVCORE_H

#include <stdint.h>
#include <stddef.h>

#define RV_CORE_VERSION 1

#define RV_PAGE_SHIFT 12
#define RV_PAGE_SIZE 4096

/* Per-page flags. A page is writable when neither EXEC nor FROZEN is set.
 * DIRTY: written since the last snapshot; TOUCHED: written since the image
 * was loaded. */
#define RV_PAGE_EXEC 1
#define RV_PAGE_FROZEN 2
#define RV_PAGE_DIRTY 4
#define RV_PAGE_TOUCHED 8

/* Machine status (rv_machine.status) and rv_run() results. */
#define RV_READY 0
#define RV_EXITED 1
#define RV_ERROR 2
#define RV_HOST_CALL 3
#define RV_BUDGET 4

/* Error kinds (rv_machine.err_kind). */
#define RV_ERR_NONE 0
#define RV_ERR_ILLEGAL 1
#define RV_ERR_FETCH 2
#define RV_ERR_LOAD 3
#define RV_ERR_STORE 4
#define RV_ERR_WRITE_EXEC 5
#define RV_ERR_WRITE_READONLY 6
#define RV_ERR_MISALIGNED_ATOMIC 7
#define RV_ERR_EBREAK 8
#define RV_ERR_CYCLES 9
#define RV_ERR_OUTPUT 10
#define RV_ERR_NOMEM 11
/* Set by the embedder: an ecall nobody handles, a host-call handler that failed. */
#define RV_ERR_SYSCALL 12
#define RV_ERR_HOST 13

/* Cost classes: every instruction belongs to one; a cost model prices each. */
#define RV_CLASS_ALU 0
#define RV_CLASS_JUMP 1
#define RV_CLASS_MEM64 2
#define RV_CLASS_MEM 3
#define RV_CLASS_MUL 4
#define RV_CLASS_DIV 5
#define RV_CLASS_SYSTEM 6
#define RV_CLASS_ATOMIC_W 7
#define RV_CLASS_ATOMIC_D 8
#define RV_CLASS_FP 9
#define RV_CLASS_FP_FMA 10
#define RV_CLASS_FP_DIV 11
#define RV_CLASS_FP_MEM 12
#define RV_CLASS_CSR 13
#define RV_NCLASSES 14
#define RV_MAX_COST 1000000

/* Largest guest memory a machine may have (4 GiB). */
#define RV_MAX_MEMORY 4294967296
/* Default cap on captured stdout and on captured stderr, each (16 MiB). */
#define RV_DEFAULT_OUTPUT_LIMIT 16777216
/* max_cycles when there is no limit. */
#define RV_NO_LIMIT 0xffffffffffffffff

#define RV_NO_RESERVATION 0xffffffffffffffff

/* Floating point (docs/floating-point.md). fflags bits, as in fcsr. */
#define RV_FFLAG_NX 1
#define RV_FFLAG_UF 2
#define RV_FFLAG_OF 4
#define RV_FFLAG_DZ 8
#define RV_FFLAG_NV 16
/* Rounding modes (an instruction's rm field, and frm). 7 in an instruction
 * means "use frm"; 5 and 6 are reserved (illegal). */
#define RV_RM_RNE 0
#define RV_RM_RTZ 1
#define RV_RM_RDN 2
#define RV_RM_RUP 3
#define RV_RM_RMM 4
#define RV_RM_DYN 7

/*
 * The guest's clock, fixed for the whole project: one cycle (as metered by
 * the cost model) is one nanosecond of guest time. The counters a guest
 * reads (rdcycle, rdinstret) are the cycles charged before the reading
 * instruction, and rdtime is that divided by RV_CYCLES_PER_TICK (a 10 MHz
 * timebase). Linux time syscalls use the same clock.
 */
#define RV_NS_PER_CYCLE 1
#define RV_CYCLES_PER_TICK 100
#define RV_TIMEBASE_HZ 10000000

/* The Linux process of a machine (csrc/os.h): opaque outside the core. */
typedef struct rv_os rv_os;

typedef struct rv_buf {
    uint8_t *data;
    uint64_t len;
    uint64_t alloc;
} rv_buf;

/*
 * The whole machine is this one plain struct. Python may read its fields
 * (and guest memory, to snapshot it), but writes only the register file and
 * pc: every other change of state goes through a function below, so that
 * the core alone keeps its fields consistent. Fields under "internal" are
 * the core's own.
 */
typedef struct rv_machine {
    uint64_t x[33];           /* x[32] is a sink: writes to x0 land there */
    uint64_t pc;
    uint64_t cycles;
    uint64_t max_cycles;      /* RV_NO_LIMIT: no limit */
    uint64_t slice_start;     /* cycles when rv_run_slice was last entered */
    uint64_t reservation;     /* LR/SC reserved address or RV_NO_RESERVATION */
    int32_t status;           /* RV_READY, RV_EXITED, RV_ERROR, RV_HOST_CALL */
    int32_t exit_code;

    /* Set when status is RV_ERROR. */
    int32_t err_kind;
    uint32_t err_bits;        /* instruction bits for RV_ERR_ILLEGAL */
    uint64_t err_pc;
    uint64_t err_addr;

    /* Pending host call (status RV_HOST_CALL): number and the ecall's pc. */
    uint64_t host_call;
    uint64_t host_call_pc;

    /* Captured output: out[0] is stdout, out[1] stderr, each capped. */
    rv_buf out[2];
    uint64_t out_cap;

    uint8_t *stdin_data;
    uint64_t stdin_len;
    uint64_t stdin_pos;

    uint64_t brk;
    uint64_t brk_min;
    uint64_t brk_max;

    uint32_t cost[14];        /* RV_NCLASSES entries */

    /* F and D: f0..f31 (singles NaN-boxed in the upper 32 bits), and fcsr
     * split in its two fields. While rv_run runs, some of fflags may still
     * sit in the host FPU's sticky flags; it is complete whenever rv_run
     * has returned. */
    uint64_t f[32];
    uint32_t fflags;
    uint32_t frm;

    /* internal */
    uint8_t *mem;
    uint64_t mem_size;
    uint64_t npages;
    uint8_t *page_flags;
    void **decoded;           /* per page: decoded records, or NULL */
    /* Bitmaps, a bit per page, for reusing memory (see rv_new_stale):
     * used: pages that may hold nonzero bytes without being TOUCHED (the
     * image, and what was TOUCHED before rv_clear_page_flags);
     * stale: pages that still hold an earlier machine's bytes;
     * zeroed: TOUCHED pages known to hold zeros (restored zero pages that
     * nothing wrote since). */
    uint64_t *used;
    uint64_t *stale;
    uint64_t *zeroed;
    rv_os *os;
} rv_machine;

/* Create a machine with mem_size bytes (a multiple of RV_PAGE_SIZE) of zeroed
 * guest memory; untouched pages cost no host memory. NULL if out of memory.
 * The memory may come from the pool of memory that rv_free keeps. A new
 * machine has no cycle limit, every cost 1 and RV_DEFAULT_OUTPUT_LIMIT. */
rv_machine *rv_new(uint64_t mem_size);
void rv_free(rv_machine *m);

/* rv_new for a restore that is about to overwrite most pages anyway: pages
 * reused from the pool keep their old bytes ("stale") instead of being
 * zeroed first. rv_load and rv_scatter_pages clean the pages they write;
 * rv_zero_stale zeroes the rest, and must run before anything else reads
 * guest memory. */
rv_machine *rv_new_stale(uint64_t mem_size);
void rv_zero_stale(rv_machine *m);

/* The pool: rv_free keeps the memory of up to RV_POOL_SLOTS machines, of at
 * most max_bytes in all, for rv_new to reuse warm (a fresh page costs the
 * kernel a fault and zeroing on first touch). 0 turns it off and releases
 * what it holds. Returns the previous limit. Thread-safe. */
#define RV_POOL_SLOTS 8
#define RV_POOL_DEFAULT_LIMIT 268435456
uint64_t rv_pool_set_limit(uint64_t max_bytes);
/* Bytes of guest memory the pool holds now. */
uint64_t rv_pool_held(void);

/* Price each cost class (RV_NCLASSES entries, each 1..RV_MAX_COST). Returns 0,
 * or -1 for an out-of-range cost. Drops decoded code, so call it early. */
int rv_set_costs(rv_machine *m, const uint32_t *costs);

/* Load a segment of the program image: copy len bytes to addr and set the
 * flags of every page in [addr, addr + memsz). Bypasses write protection;
 * only for building the image. Returns 0 or an RV_ERR_* kind. */
int rv_load(rv_machine *m, uint64_t addr, const uint8_t *data, uint64_t len,
            uint64_t memsz, uint32_t flags);

/* Clear the given flags (RV_PAGE_DIRTY and/or RV_PAGE_TOUCHED) on every
 * page. Clearing both after loading makes the image the base that snapshots
 * are relative to; clearing DIRTY after a snapshot starts the next increment. */
void rv_clear_page_flags(rv_machine *m, uint32_t mask);

/* Host access to guest memory. Writes obey W^X and read-only pages and mark
 * pages dirty. Return 0 or an RV_ERR_* kind (nothing is written on error). */
int rv_write(rv_machine *m, uint64_t addr, const uint8_t *src, uint64_t len);
int rv_read(const rv_machine *m, uint64_t addr, uint8_t *dst, uint64_t len);

/* Snapshots. Split the pages having any flag in mask into those holding
 * data and those holding only zeros, each list ascending. Both arrays need
 * room for every page of the machine (npages entries). */
void rv_list_pages(const rv_machine *m, uint32_t mask, uint32_t *data_pages, uint64_t *n_data,
                   uint32_t *zero_pages, uint64_t *n_zero);
/* Copy n whole pages, given by index, into out (n * RV_PAGE_SIZE bytes). */
void rv_gather_pages(const rv_machine *m, const uint32_t *pages, uint64_t n, uint8_t *out);
/* Fill n writable pages from data (n * RV_PAGE_SIZE bytes), or with zeros
 * when data is NULL, and mark them touched. Returns 0 or an RV_ERR_* kind
 * (checked for all pages before any is written). */
int rv_scatter_pages(rv_machine *m, const uint32_t *pages, uint64_t n, const uint8_t *data);

/* Restore a snapshot's page blocks that are stored raw, each copied in
 * while its CRC-32 is checked, in one pass. data_pages lists the n_data data
 * pages; table is the encoded block table (docs/snapshot-format.md: four
 * little-endian u32 per block: pages, bytes, crc32, raw), already checked by
 * rv_snap_decode against n_data and blocks_len; blocks holds all the blocks
 * back to back. Compressed blocks are skipped: the caller decompresses
 * them. Returns 0; an RV_ERR_* kind if a data page is not writable (nothing
 * is written then); or -1 with *bad set to the first block whose checksum
 * fails. */
int rv_scatter_raw_blocks(rv_machine *m, const uint32_t *data_pages, uint64_t n_data,
                          const uint8_t *blocks, uint64_t blocks_len, const uint8_t *table,
                          uint64_t n_blocks, uint64_t *bad);

/* CRC-32 exactly as zlib's crc32(crc, data, len), with CRC hardware if the
 * CPU has some. rv_crc32_level tells which implementation runs (RV_CRC_*);
 * a limit >= 0 caps it, so that tests can check each one; -1 only asks.
 * RV_CRC_BITWISE is slow: Python uses zlib then. */
#define RV_CRC_BITWISE 0
#define RV_CRC_ARMV8 1
#define RV_CRC_PCLMUL 2
#define RV_CRC_VPCLMUL 3
uint32_t rv_crc32(uint32_t crc, const uint8_t *data, uint64_t len);
int rv_crc32_level(int limit);

/*
 * The encoded snapshot (docs/snapshot-format.md, version RV_SNAP_FORMAT):
 * the prefix, then this fixed record of little-endian words, then texts,
 * the block table, the page lists, the I/O block, the page blocks and a
 * CRC-32. The core checks all of it but the blocks' contents in one pass
 * (rv_snap_decode), so Python handles no per-field work on a restore.
 */
#define RV_SNAP_FORMAT 3
#define RV_SNAP_PREFIX 16
/* Record flags. */
#define RV_SNAP_HAS_PARENT 1
#define RV_SNAP_HAS_MAX_CYCLES 2
#define RV_SNAP_HAS_NAME 4
#define RV_SNAP_HAS_HOST_ERROR 8
/* Texts, in order: ISA, program name, cost model, host error. */
#define RV_SNAP_TEXTS 4
#define RV_SNAP_MAX_TEXT 65536
#define RV_SNAP_MAX_BLOCK_PAGES 64
#define RV_SNAP_BLOCK_ENTRY 16
/* Largest stdout + stderr + stdin one snapshot may carry, decompressed. */
#define RV_SNAP_MAX_IO 4294967296
/* Largest OS block (the process and its files), decompressed. */
#define RV_SNAP_MAX_OS 17179869184

typedef struct rv_snap_record {
    uint64_t core_version;
    uint64_t flags;
    uint8_t id[16];
    uint8_t parent[16];       /* zeros without RV_SNAP_HAS_PARENT */
    uint8_t digest[32];       /* sha256 of the program's ELF file */
    uint64_t memory_size;
    uint64_t output_limit;
    uint64_t max_cycles;      /* 0 without RV_SNAP_HAS_MAX_CYCLES */
    uint64_t costs[14];       /* RV_NCLASSES entries */
    uint64_t pc;
    uint64_t x[32];
    uint64_t f[32];
    uint64_t fcsr;            /* frm << 5 | fflags */
    uint64_t cycles;
    uint64_t reservation;
    uint64_t status;          /* RV_READY, RV_EXITED or RV_ERROR */
    int64_t exit_code;
    uint64_t error[6];        /* kind, bits, pc, address, host call, host call pc */
    uint64_t stdin_pos;
    uint64_t brk[3];          /* brk, brk_min, brk_max */
    uint64_t stdout_len;      /* output captured so far */
    uint64_t stderr_len;
    uint64_t stdout_part;     /* of it, the bytes in this snapshot */
    uint64_t stderr_part;
    uint64_t stdin_len;       /* stdin bytes in this snapshot */
    uint64_t io_block;        /* compressed size of the I/O block */
    uint64_t n_data;
    uint64_t n_zero;
    uint64_t n_blocks;
    uint64_t text_len[4];     /* RV_SNAP_TEXTS entries */
    uint64_t os_len;          /* bytes of the OS block (rv_os_encode) */
    uint64_t os_block;        /* its compressed size */
} rv_snap_record;

/* rv_snap_decode's results: RV_SNAP_SHORT, too short to hold the prefix and
 * record; RV_SNAP_VERSION, another format version (see layout.version);
 * RV_SNAP_RECORD, a record size that is not this version's; RV_SNAP_FIELD, a
 * field out of range (layout.field is its offset in the record);
 * RV_SNAP_LENGTH, a length that is not what the record describes;
 * RV_SNAP_PAGES, page lists not ascending, past memory or overlapping;
 * RV_SNAP_BLOCKS, a block table that does not add up. */
#define RV_SNAP_OK 0
#define RV_SNAP_SHORT 1
#define RV_SNAP_MAGIC 2
#define RV_SNAP_VERSION 3
#define RV_SNAP_RECORD 4
#define RV_SNAP_FIELD 5
#define RV_SNAP_LENGTH 6
#define RV_SNAP_CHECKSUM 7
#define RV_SNAP_PAGES 8
#define RV_SNAP_BLOCKS 9

/* Where each section of a decoded snapshot starts, as offsets into it. */
typedef struct rv_snap_layout {
    rv_snap_record rec;       /* an aligned copy of the record */
    uint64_t version;
    uint64_t field;           /* on RV_SNAP_FIELD: offset of the bad field in rec */
    uint64_t texts;
    uint64_t table;
    uint64_t data_pages;
    uint64_t zero_pages;
    uint64_t io;
    uint64_t os;
    uint64_t blocks;
    uint64_t crc;             /* the trailer; blocks end here */
    uint64_t n_raw;           /* blocks stored raw */
} rv_snap_layout;

/* Check an encoded snapshot: structure, every field of the record, the
 * block table, the page lists and the trailing CRC-32 (which covers all but
 * the page blocks; each block carries its own in the table). Fills *out and
 * returns RV_SNAP_OK, or an RV_SNAP_* error. */
int rv_snap_decode(const uint8_t *buf, uint64_t len, rv_snap_layout *out);

/* The machine's state into a record: the config, registers, counters, error
 * and brk, the core version and RV_SNAP_HAS_MAX_CYCLES. The caller fills the
 * rest (ids, digest, I/O and page counts, texts). */
void rv_snap_get_state(const rv_machine *m, rv_snap_record *r);

/* A checked record's state into a machine built for it (its stdin set
 * first). Returns 0, or -1 if stdin_pos is past the machine's stdin. */
int rv_snap_set_state(rv_machine *m, const rv_snap_record *r);

/* Append to captured output (fd 1 or 2), ignoring the cap: for restoring.
 * Returns 0, or -1 for a bad fd or no memory. */
int rv_append_output(rv_machine *m, int fd, const uint8_t *data, uint64_t len);

/* Replace the guest's stdin with a copy of data. Returns 0 or RV_ERR_NOMEM. */
int rv_set_stdin(rv_machine *m, const uint8_t *data, uint64_t len);

/* Run until the guest exits, fails, makes a host call, or the next
 * instruction would take it past cycles + budget. Returns RV_EXITED,
 * RV_ERROR, RV_HOST_CALL or RV_BUDGET. */
int rv_run(rv_machine *m, uint64_t budget);

/* rv_run for callers that slice: returns the cycles used when the budget
 * stopped the machine, or minus the rv_run() result otherwise, so the common
 * case needs no further look at the machine. Budgets above INT64_MAX are
 * treated as INT64_MAX. */
int64_t rv_run_slice(rv_machine *m, uint64_t budget);

/* State changes the embedder asks for. */

/* Finish a pending host call: a0 holds its result; the guest continues
 * after the ecall on the next rv_run(). Returns -1 if none is pending. */
int rv_finish_host_call(rv_machine *m);

/* Fail a pending host call with kind RV_ERR_SYSCALL (nobody serves it) or
 * RV_ERR_HOST (its handler failed): the machine stops in RV_ERROR with pc
 * and err_pc at the ecall. Returns -1 (changing nothing) if no host call is
 * pending or kind is neither. */
int rv_fail_host_call(rv_machine *m, int kind);

/* Set the cycle limit (RV_NO_LIMIT lifts it). A machine stopped by
 * RV_ERR_CYCLES is READY again, to run on from exactly where it stopped (or
 * to stop there again if the new limit does not let the next instruction in). */
void rv_set_max_cycles(rv_machine *m, uint64_t max_cycles);

/* Set the cap on captured stdout and on captured stderr, each. Output
 * already captured stays; the next write past the cap fails the guest. */
void rv_set_output_limit(rv_machine *m, uint64_t limit);

/* Set the range brk may move in and put the break at brk_min (process
 * start). Returns -1 (changing nothing) unless brk_min <= brk_max <= memory. */
int rv_set_brk_range(rv_machine *m, uint64_t brk_min, uint64_t brk_max);

/*
 * The Linux user ABI (docs/linux-abi.md): the core serves the syscalls of
 * a static glibc or musl program itself, over a virtual clock, a seeded
 * random stream and a virtual file system, so that everything the guest
 * observes is a function of its job spec and cycle count.
 */

/* Set up the process (before it runs): seed keys the random stream;
 * realtime_start is CLOCK_REALTIME at cycle 0 in ns since the epoch;
 * stack_size is RLIMIT_STACK; exe is what /proc/self/exe names. Returns 0,
 * or -1 for an exe path of RV_OS_PATH_MAX bytes or more. */
#define RV_OS_PATH_MAX 4096
int rv_os_config(rv_machine *m, uint64_t seed, int64_t realtime_start, uint64_t stack_size,
                 const char *exe);
/* Syscall pointers below guard get EFAULT: the NULL guard under the image.
 * Set with the image (it is the program's, not the snapshot's). */
void rv_os_set_guard(rv_machine *m, uint64_t guard);
/* The next n bytes of the guest's random stream (AT_RANDOM at start). */
void rv_os_random(rv_machine *m, uint8_t *out, uint64_t n);
/* Let the host serve syscall number (below RV_HOST_SYSCALLS; numbers at or
 * above it always go to the host) instead of the core: on = 1, or back to
 * the core: on = 0. Returns -1 for a number out of range. */
#define RV_HOST_SYSCALLS 512
int rv_os_host_syscall(rv_machine *m, uint64_t number, int on);

/* Files. Paths are absolute and normalised (no ".", "..", "//" or trailing
 * "/"). Results are 0 or a negated Linux errno. */
/* Provide the bytes of a declared file, known by their sha256 digest (32
 * bytes): copied once per digest. */
int rv_fs_provide(rv_machine *m, const uint8_t *digest, const uint8_t *data, uint64_t len);
/* Declare a read-only file at path holding the provided bytes of digest;
 * the directories on its path are made as needed. */
int rv_fs_declare(rv_machine *m, const char *path, const uint8_t *digest);
/* Make the directory path (and its parents) and start the guest in it. */
int rv_fs_set_cwd(rv_machine *m, const char *path);
/* Most bytes the files the guest creates may hold in all. */
void rv_fs_set_limit(rv_machine *m, uint64_t bytes);
/* The files the guest created that still have a name, in path order, as
 * records of u32 path length, u64 size, path bytes, file bytes. Returns
 * the size of the whole; buf is filled only if it has room for all. */
uint64_t rv_fs_export(const rv_machine *m, uint8_t *buf, uint64_t cap);

/* The process's state for a snapshot (docs/snapshot-format.md, "OS
 * block"): returns its size, and fills buf if it has room for it all. */
uint64_t rv_os_encode(const rv_machine *m, uint8_t *buf, uint64_t cap);
/* Restore an OS block into a machine that holds the snapshot's image,
 * pages and record state, with every declared file provided. Returns an
 * RV_OS_* code; on any error nothing of the machine's OS state changed.
 * RV_OS_MISSING_FILE puts the digest of a file not provided in missing
 * (32 bytes). */
#define RV_OS_OK 0
#define RV_OS_MALFORMED 1
#define RV_OS_MISSING_FILE 2
#define RV_OS_NOMEM 3
#define RV_OS_PROTECTION 4
int rv_os_decode(rv_machine *m, const uint8_t *buf, uint64_t len, uint8_t *missing);

#endif
