/*
 * vfs.c: the guest's file system: its tree of files and directories, paths,
 * and the calls on directories (file descriptors: fd.c; snapshots: vfsstate.c).
 *
 * A small in-memory tree, the same for every run of a job:
 *   - the files the job declares, read-only (mode 0444, owned by root),
 *     whose bytes the host provides by sha256 (struct rv_blob);
 *   - the directories leading to them, which exist implicitly (0755,
 *     owned by the guest), and the working directory;
 *   - /dev/null, /dev/zero, /dev/random and /dev/urandom (the last two
 *     read the seeded stream of rng.c);
 *   - whatever the guest creates: files and directories in host memory,
 *     their bytes counted against the job's file limit (ENOSPC past it).
 * fds 0, 1 and 2 start open on three pipes: the job's stdin, and the
 * captured stdout and stderr with their output cap.
 *
 * Nothing comes from the host's file system or clock. Inode numbers are
 * handed out in creation order; a node's times are the virtual
 * CLOCK_REALTIME of its last change; directories list "." and ".." and then
 * their entries in byte order of their names. There are no symlinks, hard
 * links, sockets, FIFOs or permissions beyond the owner bits that make
 * declared files read-only.
 */
#include <stdlib.h>
#include <string.h>

#include "vfs.h"

/* -- nodes and names ------------------------------------------------------ */

int vfs_name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Index of the entry named (name, len) in dir, or where it would go (*found 0). */
static uint32_t dir_find(const rv_node *dir, const char *name, uint32_t len, int *found)
{
    uint32_t lo = 0, hi = dir->nents;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = vfs_name_cmp(dir->ents[mid].name, dir->ents[mid].len, name, len);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static uint32_t lookup(const rv_vfs *fs, uint32_t dir, const char *name, uint32_t len)
{
    int found;
    const rv_node *d = &fs->nodes[dir];
    uint32_t i = dir_find(d, name, len, &found);
    return found ? d->ents[i].node : NONE;
}

int vfs_link(rv_vfs *fs, uint32_t dir, const char *name, uint32_t len, uint32_t child)
{
    rv_node *d = &fs->nodes[dir];
    int found;
    uint32_t at = dir_find(d, name, len, &found);
    if (found)
        return -RV_EEXIST;
    if (d->nents == d->ents_cap && RV_GROW(d->ents, d->ents_cap, 8))
        return -RV_ENOMEM;
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -RV_ENOMEM;
    memcpy(copy, name, len);
    memmove(&d->ents[at + 1], &d->ents[at], (d->nents - at) * sizeof d->ents[0]);
    d->ents[at] = (rv_dent){copy, len, child};
    d->nents++;
    fs->nodes[child].parent = dir;
    fs->nodes[child].links = 1;
    return 0;
}

void vfs_free_node(rv_vfs *fs, uint32_t i)
{
    rv_node *n = &fs->nodes[i];
    if (n->kind == NODE_FILE) {
        fs->used -= n->size;
        free(n->data);
    }
    for (uint32_t k = 0; k < n->nents; k++)
        free(n->ents[k].name);
    free(n->ents);
    memset(n, 0, sizeof *n);
}

void vfs_maybe_free(rv_vfs *fs, uint32_t i)
{
    /* A removed directory that is still open keeps its parent alive, as
     * Linux's dentries do, so that ".." from it stays meaningful. */
    while (i >= N_PERMANENT && fs->nodes[i].links == 0 && fs->nodes[i].opens == 0) {
        uint32_t parent = fs->nodes[i].parent, pinned = fs->nodes[i].pinned;
        vfs_free_node(fs, i);
        if (!pinned)
            return;
        fs->nodes[parent].opens--;
        i = parent;
    }
}

static void unlink_from(rv_vfs *fs, uint32_t dir, uint32_t at)
{
    rv_node *d = &fs->nodes[dir];
    uint32_t child = d->ents[at].node;
    free(d->ents[at].name);
    memmove(&d->ents[at], &d->ents[at + 1], (d->nents - at - 1) * sizeof d->ents[0]);
    d->nents--;
    rv_node *c = &fs->nodes[child];
    c->links = 0;
    if (c->kind == NODE_DIR && c->opens) {
        c->pinned = 1;
        d->opens++;
    }
    vfs_maybe_free(fs, child);
}

/* Node i as new: no contents, a fresh inode number, under ROOT until linked. */
static void init_node(rv_vfs *fs, uint32_t i, uint32_t kind, uint32_t mode, uint32_t uid, int64_t time)
{
    rv_node *n = &fs->nodes[i];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->mode = mode;
    n->uid = uid;
    n->ino = fs->next_ino++;
    n->time = time;
    n->parent = ROOT;
}

/* A new node (lowest free slot), or NONE when the table is full. */
uint32_t vfs_new_node(rv_vfs *fs, uint32_t kind, uint32_t mode, uint32_t uid, int64_t time)
{
    uint32_t i = N_PERMANENT;
    while (i < fs->nnodes && fs->nodes[i].kind != NODE_FREE)
        i++;
    if (i == fs->nnodes) {
        if (fs->nnodes >= MAX_NODES)
            return NONE;
        if (fs->nnodes == fs->nodes_cap && RV_GROW(fs->nodes, fs->nodes_cap, 32))
            return NONE;
        fs->nnodes++;
    }
    init_node(fs, i, kind, mode, uid, time);
    return i;
}

int vfs_is_dev(uint32_t kind)
{
    return kind == NODE_NULL || kind == NODE_ZERO || kind == NODE_RANDOM || kind == NODE_URANDOM;
}

int vfs_is_pipe(uint32_t kind)
{
    return kind == NODE_STDIN || kind == NODE_STDOUT || kind == NODE_STDERR;
}

/* The owner's bits for the guest's own nodes, the others' for root's. */
int vfs_may(const rv_node *n, uint32_t want)
{
    uint32_t bits = n->uid == RV_UID ? (n->mode >> 6) & 7 : n->mode & 7;
    return (bits & want) == want;
}

/* -- the file system as a whole ------------------------------------------ */

static uint32_t fixed_node(rv_vfs *fs, uint32_t kind, uint32_t mode, uint32_t uid)
{
    uint32_t i = fs->nnodes++;
    init_node(fs, i, kind, mode, uid, 0);
    return i;
}

rv_vfs *vfs_alloc(void)
{
    rv_vfs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    for (int i = 0; i < RV_MAX_FDS; i++)
        fs->fd[i] = -1;
    fs->limit = UINT64_MAX;
    fs->next_ino = 1;
    return fs;
}

rv_vfs *rv_vfs_new(void)
{
    rv_vfs *fs = vfs_alloc();
    if (!fs)
        return NULL;
    fs->nodes_cap = 32;
    fs->nodes = calloc(fs->nodes_cap, sizeof *fs->nodes);
    fs->ofds_cap = 8;
    fs->ofds = calloc(fs->ofds_cap, sizeof *fs->ofds);
    if (!fs->nodes || !fs->ofds) {
        rv_vfs_free(fs);
        return NULL;
    }
    fixed_node(fs, NODE_DIR, 0755, RV_UID);
    fs->nodes[ROOT].links = 1;
    fixed_node(fs, NODE_STDIN, 0600, RV_UID);
    fixed_node(fs, NODE_STDOUT, 0600, RV_UID);
    fixed_node(fs, NODE_STDERR, 0600, RV_UID);
    fs->cwd = ROOT;
    fs->nodes[ROOT].opens = 1;
    static const struct { const char *name; uint32_t kind; } devs[] = {
        {"null", NODE_NULL}, {"random", NODE_RANDOM}, {"urandom", NODE_URANDOM}, {"zero", NODE_ZERO},
    };
    uint32_t dev = vfs_new_node(fs, NODE_DIR, 0755, 0, 0);
    if (dev == NONE || vfs_link(fs, ROOT, "dev", 3, dev)) {
        rv_vfs_free(fs);
        return NULL;
    }
    for (unsigned k = 0; k < sizeof devs / sizeof devs[0]; k++) {
        uint32_t n = vfs_new_node(fs, devs[k].kind, 0666, 0, 0);
        if (n == NONE || vfs_link(fs, dev, devs[k].name, (uint32_t)strlen(devs[k].name), n)) {
            rv_vfs_free(fs);
            return NULL;
        }
    }
    for (uint32_t i = 0; i < 3; i++) {
        fs->ofds[i] = (rv_ofd){N_STDIN + i, i == 0 ? O_RDONLY : O_WRONLY, 1, 0};
        fs->nodes[N_STDIN + i].opens = 1;
        fs->fd[i] = (int32_t)i;
    }
    fs->nofds = 3;
    return fs;
}

void rv_vfs_free(rv_vfs *fs)
{
    if (!fs)
        return;
    for (uint32_t i = 0; i < fs->nnodes; i++)
        vfs_free_node(fs, i);
    free(fs->nodes);
    free(fs->ofds);
    free(fs);
}

uint64_t rv_vfs_used(const rv_vfs *fs)
{
    return fs->used;
}

/* -- paths ------------------------------------------------------------------ */

int vfs_walk(const rv_vfs *fs, uint32_t start, const char *path, walk_t *w)
{
    if (!*path)
        return -RV_ENOENT;
    uint32_t cur = path[0] == '/' ? ROOT : start;
    *w = (walk_t){cur, cur, "", 0, 1, 0};
    const char *p = path;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p) {
            w->slash = p > path && p[-1] == '/' && w->len > 0;
            return 0;
        }
        const char *q = p;
        while (*q && *q != '/')
            q++;
        uint64_t len = (uint64_t)(q - p);
        if (len > RV_NAME_MAX)
            return -RV_ENAMETOOLONG;
        if (w->node == NONE)
            return -RV_ENOENT;
        if (fs->nodes[w->node].kind != NODE_DIR)
            return -RV_ENOTDIR;
        uint32_t dir = w->node;
        w->dir = dir;
        w->name = p;
        w->len = (uint32_t)len;
        w->dots = (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.');
        if (!w->dots && !fs->nodes[dir].links)
            return -RV_ENOENT;      /* a removed directory (an old cwd) holds nothing */
        if (len == 1 && p[0] == '.')
            w->node = dir;
        else if (w->dots)
            w->node = fs->nodes[dir].parent;
        else
            w->node = lookup(fs, dir, p, (uint32_t)len);
        p = q;
    }
}

rv_ofd *vfs_ofd(rv_vfs *fs, int64_t fd)
{
    if (fd < 0 || fd >= RV_MAX_FDS || fs->fd[fd] < 0)
        return NULL;
    return &fs->ofds[fs->fd[fd]];
}

/* The directory a *at() call starts from. */
static int start_dir(rv_vfs *fs, int64_t dirfd, const char *path, uint32_t *out)
{
    if (path[0] == '/' || dirfd == AT_FDCWD) {
        *out = fs->cwd;
        return 0;
    }
    rv_ofd *o = vfs_ofd(fs, dirfd);
    if (!o)
        return -RV_EBADF;
    if (fs->nodes[o->node].kind != NODE_DIR)
        return -RV_ENOTDIR;
    *out = o->node;
    return 0;
}

/* Read a path argument and resolve it relative to dirfd. */
int vfs_resolve_at(rv_machine *m, int64_t dirfd, uint64_t addr, char *buf, walk_t *w)
{
    rv_vfs *fs = m->os->fs;
    int r = rv_user_string(m, addr, buf, RV_PATH_MAX);
    if (r)
        return r;
    uint32_t start;
    if ((r = start_dir(fs, dirfd, buf, &start)))
        return r;
    if ((r = vfs_walk(fs, start, buf, w)))
        return r;
    if (w->node != NONE && w->slash && fs->nodes[w->node].kind != NODE_DIR)
        return -RV_ENOTDIR;
    return 0;
}

/* -- directories -------------------------------------------------------------- */

/* The absolute path of a linked node into out (RV_PATH_MAX bytes): its
 * length, or -1 if it has no name any more or the path is too long. */
static int64_t path_of(const rv_vfs *fs, uint32_t node, char *out)
{
    char tmp[RV_PATH_MAX];
    uint64_t at = sizeof tmp;
    tmp[--at] = 0;
    while (node != ROOT) {
        const rv_node *n = &fs->nodes[node];
        if (!n->links)
            return -1;
        const rv_node *d = &fs->nodes[n->parent];
        uint32_t k = 0;
        while (k < d->nents && d->ents[k].node != node)
            k++;
        if (k == d->nents || d->ents[k].len + 1 > at)
            return -1;
        at -= d->ents[k].len;
        memcpy(tmp + at, d->ents[k].name, d->ents[k].len);
        tmp[--at] = '/';
        node = n->parent;
    }
    if (at == sizeof tmp - 1)
        tmp[--at] = '/';
    memcpy(out, tmp + at, sizeof tmp - at);
    return (int64_t)(sizeof tmp - at - 1);
}

int64_t rv_sys_getcwd(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    char path[RV_PATH_MAX];
    int64_t len = path_of(fs, fs->cwd, path);
    if (len < 0)
        return -RV_ENOENT;
    if ((uint64_t)len + 1 > m->x[11])
        return -RV_ERANGE;
    return rv_user_put(m, m->x[10], path, (uint64_t)len + 1) ? -RV_EFAULT : len + 1;
}

static void set_cwd(rv_vfs *fs, uint32_t node)
{
    uint32_t old = fs->cwd;
    fs->nodes[node].opens++;
    fs->cwd = node;
    fs->nodes[old].opens--;
    vfs_maybe_free(fs, old);
}

int64_t rv_sys_chdir(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    char path[RV_PATH_MAX];
    walk_t w;
    int r = vfs_resolve_at(m, AT_FDCWD, m->x[10], path, &w);
    if (r)
        return r;
    if (w.node == NONE)
        return -RV_ENOENT;
    if (fs->nodes[w.node].kind != NODE_DIR)
        return -RV_ENOTDIR;
    set_cwd(fs, w.node);
    return 0;
}

int64_t rv_sys_fchdir(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    rv_ofd *o = vfs_ofd(fs, (int32_t)m->x[10]);
    if (!o)
        return -RV_EBADF;
    if (fs->nodes[o->node].kind != NODE_DIR)
        return -RV_ENOTDIR;
    set_cwd(fs, o->node);
    return 0;
}

static int64_t make_dir(rv_machine *m, uint32_t dir, const char *name, uint32_t len, uint32_t mode,
                        uint32_t *out)
{
    rv_vfs *fs = m->os->fs;
    uint32_t node = vfs_new_node(fs, NODE_DIR, mode, RV_UID, rv_clock_realtime(m));
    if (node == NONE)
        return -RV_ENOSPC;
    int r = vfs_link(fs, dir, name, len, node);
    if (r) {
        vfs_free_node(fs, node);
        return r;
    }
    fs->nodes[dir].time = fs->nodes[node].time;
    if (out)
        *out = node;
    return 0;
}

int64_t rv_sys_mkdirat(rv_machine *m)
{
    rv_os *os = m->os;
    char path[RV_PATH_MAX];
    walk_t w;
    int r = vfs_resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w);
    if (r)
        return r;
    if (w.node != NONE)
        return -RV_EEXIST;
    if (!vfs_may(&os->fs->nodes[w.dir], 3))
        return -RV_EACCES;
    return make_dir(m, w.dir, w.name, w.len, (uint32_t)(m->x[12] & ~(uint64_t)os->umask & 0777), NULL);
}

int64_t rv_sys_unlinkat(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    uint64_t flags = m->x[12];
    char path[RV_PATH_MAX];
    walk_t w;
    if (flags & ~(uint64_t)AT_REMOVEDIR)
        return -RV_EINVAL;
    int r = vfs_resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w);
    if (r)
        return r;
    if (w.node == NONE)
        return -RV_ENOENT;
    const rv_node *n = &fs->nodes[w.node];
    if (flags & AT_REMOVEDIR) {
        if (n->kind != NODE_DIR)
            return -RV_ENOTDIR;
        if (w.node == ROOT)
            return -RV_EBUSY;
        if (w.len == 1 && w.name[0] == '.')
            return -RV_EINVAL;
        if (w.dots)
            return -RV_ENOTEMPTY;
        if (n->nents)
            return -RV_ENOTEMPTY;
    } else {
        if (n->kind == NODE_DIR)
            return -RV_EISDIR;
    }
    if (!vfs_may(&fs->nodes[w.dir], 3))
        return -RV_EACCES;
    int found;
    uint32_t at = dir_find(&fs->nodes[w.dir], w.name, w.len, &found);
    fs->nodes[w.dir].time = rv_clock_realtime(m);
    unlink_from(fs, w.dir, at);
    return 0;
}

static int64_t chmod_node(rv_machine *m, uint32_t node, uint64_t mode)
{
    rv_node *n = &m->os->fs->nodes[node];
    if (n->uid != RV_UID)
        return -RV_EPERM;
    n->mode = (uint32_t)(mode & 07777);
    n->time = rv_clock_realtime(m);
    return 0;
}

int64_t rv_sys_fchmod(rv_machine *m)
{
    rv_ofd *o = vfs_ofd(m->os->fs, (int32_t)m->x[10]);
    return o ? chmod_node(m, o->node, m->x[11]) : -RV_EBADF;
}

int64_t rv_sys_fchmodat(rv_machine *m)
{
    char path[RV_PATH_MAX];
    walk_t w;
    int r = vfs_resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w);
    if (r)
        return r;
    return w.node == NONE ? -RV_ENOENT : chmod_node(m, w.node, m->x[12]);
}

/* -- set-up by the host (rvcore.h) ------------------------------------------ */

/* Create the directories of an absolute, normalised path (mkdir -p). */
static int make_dirs(rv_machine *m, const char *path, uint32_t *out, int last_too)
{
    rv_vfs *fs = m->os->fs;
    uint32_t cur = ROOT;
    const char *p = path;
    if (*p != '/')
        return -RV_EINVAL;
    for (;;) {
        while (*p == '/')
            p++;
        const char *q = p;
        while (*q && *q != '/')
            q++;
        if (q == p)
            break;
        if (!*q && !last_too) {
            *out = cur;
            return 0;
        }
        uint32_t len = (uint32_t)(q - p);
        if (len > RV_NAME_MAX)
            return -RV_ENAMETOOLONG;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return -RV_EINVAL;
        uint32_t next = lookup(fs, cur, p, len);
        if (next == NONE) {
            if (cur != ROOT && fs->nodes[cur].uid != RV_UID)
                return -RV_EACCES;
            int64_t r = make_dir(m, cur, p, len, 0755, &next);
            if (r)
                return (int)r;
            fs->nodes[next].time = fs->nodes[cur].time = m->os->realtime_start;
        } else if (fs->nodes[next].kind != NODE_DIR) {
            return -RV_ENOTDIR;
        }
        cur = next;
        p = q;
    }
    *out = cur;
    return last_too ? 0 : -RV_EINVAL;
}

int rv_fs_provide(rv_machine *m, const uint8_t *digest, const uint8_t *data, uint64_t len)
{
    rv_os *os = m->os;
    for (uint64_t i = 0; i < os->nblobs; i++)
        if (!memcmp(os->blobs[i].digest, digest, 32))
            return 0;
    if (os->nblobs == os->blobs_cap && RV_GROW(os->blobs, os->blobs_cap, 8))
        return -RV_ENOMEM;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -RV_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    rv_blob *b = &os->blobs[os->nblobs++];
    memcpy(b->digest, digest, 32);
    b->data = copy;
    b->len = len;
    return 0;
}

int rv_fs_declare(rv_machine *m, const char *path, const uint8_t *digest)
{
    rv_os *os = m->os;
    rv_vfs *fs = os->fs;
    uint64_t blob = os->nblobs;
    for (uint64_t i = 0; i < os->nblobs; i++)
        if (!memcmp(os->blobs[i].digest, digest, 32))
            blob = i;
    if (blob == os->nblobs)
        return -RV_ENOENT;
    if (strlen(path) >= RV_PATH_MAX)
        return -RV_ENAMETOOLONG;
    uint32_t dir;
    int r = make_dirs(m, path, &dir, 0);
    if (r)
        return r;
    if (dir != ROOT && fs->nodes[dir].uid != RV_UID)
        return -RV_EACCES;
    const char *name = strrchr(path, '/') + 1;
    uint32_t len = (uint32_t)strlen(name);
    if (lookup(fs, dir, name, len) != NONE)
        return -RV_EEXIST;
    uint32_t node = vfs_new_node(fs, NODE_DECLARED, 0444, 0, os->realtime_start);
    if (node == NONE)
        return -RV_ENOSPC;
    fs->nodes[node].blob = blob;
    if ((r = vfs_link(fs, dir, name, len, node))) {
        vfs_free_node(fs, node);
        return r;
    }
    return 0;
}

int rv_fs_set_cwd(rv_machine *m, const char *path)
{
    if (strlen(path) >= RV_PATH_MAX)
        return -RV_ENAMETOOLONG;
    uint32_t dir;
    int r = make_dirs(m, path, &dir, 1);
    if (r)
        return r;
    set_cwd(m->os->fs, dir);
    return 0;
}

void rv_fs_set_limit(rv_machine *m, uint64_t bytes)
{
    m->os->fs->limit = bytes;
}

/* Every linked FILE, depth first in name order, as records of u32 path
 * length, u64 size, path, bytes. */
static void export_dir(const rv_vfs *fs, uint32_t dir, char *path, uint64_t plen, rv_wr *w)
{
    const rv_node *d = &fs->nodes[dir];
    for (uint32_t i = 0; i < d->nents; i++) {
        const rv_dent *e = &d->ents[i];
        const rv_node *c = &fs->nodes[e->node];
        if (plen + 1 + e->len >= RV_PATH_MAX)
            continue;
        path[plen] = '/';
        memcpy(path + plen + 1, e->name, e->len);
        uint64_t len = plen + 1 + e->len;
        if (c->kind == NODE_DIR) {
            export_dir(fs, e->node, path, len, w);
        } else if (c->kind == NODE_FILE) {
            rv_wr_u32(w, (uint32_t)len);
            rv_wr_u64(w, c->size);
            rv_wr_bytes(w, path, len);
            rv_wr_bytes(w, c->data, c->size);
        }
    }
}

uint64_t rv_fs_export(const rv_machine *m, uint8_t *buf, uint64_t cap)
{
    char path[RV_PATH_MAX];
    rv_wr count = {NULL, 0, 0};
    export_dir(m->os->fs, ROOT, path, 0, &count);
    if (buf && count.len <= cap) {
        rv_wr w = {buf, 0, cap};
        export_dir(m->os->fs, ROOT, path, 0, &w);
    }
    return count.len;
}

