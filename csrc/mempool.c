/*
 * mempool.c: guest memory mappings, and a small pool of recently freed ones.
 *
 * A fresh anonymous mapping costs the kernel a page fault and a zeroing per
 * 4 KiB page on first touch: about 1.1 us each on the project's VMs, 1.1 ms
 * for 4 MiB, several times what restoring the same bytes into warm memory
 * costs. A host frees and restores machines all the time, so rv_free hands
 * its mapping here, and the next machine of the same size takes it back;
 * then only the pages the old machine may have written need zeroing, and a
 * restore can skip even those it overwrites (rv_new_stale).
 *
 * Bounded by RV_POOL_SLOTS mappings and a byte limit (rv_pool_set_limit;
 * 0 turns the pool off). Python calls in without the GIL, from any thread:
 * a mutex guards the pool, and nothing slow (unmapping) runs under it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t limit = RV_POOL_DEFAULT_LIMIT;
static uint64_t held;
static int count;
static rv_region slot[RV_POOL_SLOTS];   /* oldest first */

/* A process that forks while another thread holds the lock would leave the
 * child with a lock nobody releases: hold it across fork instead. */
static void lock_pool(void)
{
    pthread_mutex_lock(&lock);
}

static void unlock_pool(void)
{
    pthread_mutex_unlock(&lock);
}

__attribute__((constructor)) static void pool_at_fork(void)
{
    pthread_atfork(lock_pool, unlock_pool, unlock_pool);
}

static void unmap(rv_region *r)
{
    munmap(r->mem, r->size);
    free(r->dirty);
}

static int map_fresh(uint64_t size, rv_region *r)
{
    /* MAP_NORESERVE and anonymous zero pages: a 4 GiB guest costs only the
     * pages it touches. */
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uint64_t *dirty = calloc(RV_BITMAP_WORDS(size >> RV_PAGE_SHIFT), sizeof *dirty);
    if (mem == MAP_FAILED || !dirty) {
        if (mem != MAP_FAILED)
            munmap(mem, size);
        free(dirty);
        return -1;
    }
    r->mem = mem;
    r->size = size;
    r->dirty = dirty;
    return 0;
}

/* Take slot i out of the pool; the caller holds the lock. */
static rv_region remove_slot(int i)
{
    rv_region r = slot[i];
    for (int j = i; j + 1 < count; j++)
        slot[j] = slot[j + 1];
    count--;
    held -= r.size;
    return r;
}

/* Drop the oldest mappings until the pool is within its limits with room
 * for `need` more bytes; the caller holds the lock and unmaps them later. */
static int evict(uint64_t need, rv_region *out)
{
    int n = 0;
    while (count > 0 && (count == RV_POOL_SLOTS || held + need > limit))
        out[n++] = remove_slot(0);
    return n;
}

int rv_region_take(uint64_t size, rv_region *r)
{
    pthread_mutex_lock(&lock);
    /* The most recently freed first: its pages are the likeliest in cache. */
    for (int i = count - 1; i >= 0; i--) {
        if (slot[i].size == size) {
            *r = remove_slot(i);
            pthread_mutex_unlock(&lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&lock);
    return map_fresh(size, r);
}

void rv_region_give(rv_region *r)
{
    rv_region out[RV_POOL_SLOTS];
    int n = 0, kept = 0;
    pthread_mutex_lock(&lock);
    if (r->size <= limit) {
        n = evict(r->size, out);
        slot[count++] = *r;
        held += r->size;
        kept = 1;
    }
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        unmap(&out[i]);
    if (!kept)
        unmap(r);
}

int rv_pool_would_keep(uint64_t size)
{
    return size <= __atomic_load_n(&limit, __ATOMIC_RELAXED);
}

uint64_t rv_pool_set_limit(uint64_t max_bytes)
{
    rv_region out[RV_POOL_SLOTS];
    pthread_mutex_lock(&lock);
    uint64_t old = limit;
    __atomic_store_n(&limit, max_bytes, __ATOMIC_RELAXED);
    int n = 0;
    while (count > 0 && held > limit)
        out[n++] = remove_slot(0);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        unmap(&out[i]);
    return old;
}

uint64_t rv_pool_held(void)
{
    pthread_mutex_lock(&lock);
    uint64_t h = held;
    pthread_mutex_unlock(&lock);
    return h;
}
