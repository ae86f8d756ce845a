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
#define RV_NCLASSES 9
#define RV_MAX_COST 1000000

#define RV_NO_RESERVATION 0xffffffffffffffff

typedef struct rv_buf {
    uint8_t *data;
    uint64_t len;
    uint64_t alloc;
} rv_buf;

/*
 * The whole machine is this one plain struct. Python reads and writes the
 * register file, pc and counters directly; everything under "internal" is
 * owned by the C side.
 */
typedef struct rv_machine {
    uint64_t x[33];           /* x[32] is a sink: writes to x0 land there */
    uint64_t pc;
    uint64_t cycles;
    uint64_t max_cycles;      /* UINT64_MAX: no limit */
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

    uint32_t cost[9];         /* RV_NCLASSES entries */

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
} rv_machine;

/* Create a machine with mem_size bytes (a multiple of RV_PAGE_SIZE) of zeroed
 * guest memory; untouched pages cost no host memory. NULL if out of memory.
 * The memory may come from the pool of memory that rv_free keeps. */
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

/* Restore a snapshot's page blocks that are stored raw (docs/snapshot-format.md),
 * each copied in while its CRC-32 is checked, in one pass. data_pages lists
 * the n_data data pages; table has 4 numbers per block as the header lists
 * them (pages, bytes, crc32, raw); blocks holds all the blocks back to back.
 * Compressed blocks are skipped: the caller decompresses them. Returns 0; an
 * RV_ERR_* kind if a data page is not writable (nothing is written then); or
 * -1 with *bad set to the first block whose checksum fails, or to n_blocks
 * if the table does not add up to n_data pages in blocks_len bytes. */
int rv_scatter_raw_blocks(rv_machine *m, const uint32_t *data_pages, uint64_t n_data,
                          const uint8_t *blocks, uint64_t blocks_len, const uint64_t *table,
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

/* Check decoded snapshot page lists: each ascending, below npages, and no
 * page in both. Returns 0 if they are sound, -1 if not. */
int rv_check_page_lists(const uint32_t *data, uint64_t nd, const uint32_t *zero, uint64_t nz,
                        uint64_t npages);

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

/* Finish a pending host call: a0 holds its result; the guest continues
 * after the ecall on the next rv_run(). Returns -1 if none is pending. */
int rv_finish_host_call(rv_machine *m);

#endif
