/*
 * vfs.c: the guest's file system and file descriptors.
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

#include "os.h"

enum {
    NODE_FREE, NODE_DIR, NODE_FILE, NODE_DECLARED,
    NODE_NULL, NODE_ZERO, NODE_RANDOM, NODE_URANDOM,
    NODE_STDIN, NODE_STDOUT, NODE_STDERR,
    NODE_KINDS
};

/* Node indices that exist from the start and are never freed. */
#define ROOT 0
#define N_STDIN 1
#define N_STDOUT 2
#define N_STDERR 3
#define N_PERMANENT 4
#define NONE UINT32_MAX

#define MAX_NODES 65536
#define MAX_RW 0x7ffff000u     /* Linux's MAX_RW_COUNT: longest read or write */

#define O_ACCMODE 3
#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define O_APPEND 02000
#define O_NONBLOCK 04000
#define O_DIRECT 040000
#define O_LARGEFILE 0100000
#define O_DIRECTORY 0200000
#define O_NOATIME 01000000
#define O_CLOEXEC 02000000
#define O_PATH 010000000
#define O_TMPFILE 020000000
/* What F_SETFL may change (plus O_ASYNC, 020000). */
#define SETFL_MASK (O_APPEND | O_NONBLOCK | 020000 | O_DIRECT | O_NOATIME)
/* What an open file description keeps. */
#define OFD_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK | 020000 | O_DIRECT | O_LARGEFILE | O_NOATIME | \
                  O_PATH | O_DIRECTORY)

#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR 0x200
#define AT_EACCESS 0x200
#define AT_NO_AUTOMOUNT 0x800
#define AT_EMPTY_PATH 0x1000

#define S_IFIFO 0010000
#define S_IFCHR 0020000
#define S_IFDIR 0040000
#define S_IFREG 0100000

#define DEV_VFS 1
#define DEV_PIPE 2

typedef struct rv_dent {
    char *name;
    uint32_t len;
    uint32_t node;
} rv_dent;

typedef struct rv_node {
    uint32_t kind, mode;      /* mode: permission bits only */
    uint32_t uid;
    uint32_t links;           /* names it has: 0 or 1 */
    uint32_t opens;           /* open file descriptions on it, +1 while it is the cwd,
                               * +1 for each removed directory still open in it */
    uint32_t pinned;          /* a removed directory that still holds its parent */
    uint32_t parent;          /* the directory holding its name (root: itself) */
    uint64_t ino;
    int64_t time;             /* ns since the epoch of the last change */
    uint8_t *data;            /* FILE: owned; DECLARED: its blob's bytes */
    uint64_t size, cap;
    uint64_t blob;            /* DECLARED: index in os->blobs */
    rv_dent *ents;            /* DIR: sorted by name */
    uint32_t nents, ents_cap;
} rv_node;

typedef struct rv_ofd {
    uint32_t node, flags, refs;   /* refs 0: a free slot */
    uint64_t pos;
} rv_ofd;

struct rv_vfs {
    rv_node *nodes;
    uint32_t nnodes, nodes_cap;
    rv_ofd *ofds;
    uint32_t nofds, ofds_cap;
    int32_t fd[RV_MAX_FDS];       /* open file description, or -1 */
    uint8_t cloexec[RV_MAX_FDS];
    uint32_t cwd;
    uint64_t next_ino;
    uint64_t used, limit;         /* bytes of FILE data, and their cap */
};

/* -- nodes and names ------------------------------------------------------ */

static int name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen)
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
        int c = name_cmp(dir->ents[mid].name, dir->ents[mid].len, name, len);
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

static int link_into(rv_vfs *fs, uint32_t dir, const char *name, uint32_t len, uint32_t child)
{
    rv_node *d = &fs->nodes[dir];
    int found;
    uint32_t at = dir_find(d, name, len, &found);
    if (found)
        return -RV_EEXIST;
    if (d->nents == d->ents_cap) {
        uint32_t cap = d->ents_cap ? 2 * d->ents_cap : 8;
        rv_dent *p = realloc(d->ents, cap * sizeof *p);
        if (!p)
            return -RV_ENOMEM;
        d->ents = p;
        d->ents_cap = cap;
    }
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

static void free_node(rv_vfs *fs, uint32_t i)
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

static void maybe_free(rv_vfs *fs, uint32_t i)
{
    /* A removed directory that is still open keeps its parent alive, as
     * Linux's dentries do, so that ".." from it stays meaningful. */
    while (i >= N_PERMANENT && fs->nodes[i].links == 0 && fs->nodes[i].opens == 0) {
        uint32_t parent = fs->nodes[i].parent, pinned = fs->nodes[i].pinned;
        free_node(fs, i);
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
    maybe_free(fs, child);
}

/* A new node (lowest free slot), or NONE when the table is full. */
static uint32_t new_node(rv_vfs *fs, uint32_t kind, uint32_t mode, uint32_t uid, int64_t time)
{
    uint32_t i = N_PERMANENT;
    while (i < fs->nnodes && fs->nodes[i].kind != NODE_FREE)
        i++;
    if (i == fs->nnodes) {
        if (fs->nnodes >= MAX_NODES)
            return NONE;
        if (fs->nnodes == fs->nodes_cap) {
            uint32_t cap = fs->nodes_cap ? 2 * fs->nodes_cap : 32;
            rv_node *p = realloc(fs->nodes, cap * sizeof *p);
            if (!p)
                return NONE;
            fs->nodes = p;
            fs->nodes_cap = cap;
        }
        fs->nnodes++;
    }
    rv_node *n = &fs->nodes[i];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->mode = mode;
    n->uid = uid;
    n->ino = fs->next_ino++;
    n->time = time;
    n->parent = ROOT;
    return i;
}

static int is_dev(uint32_t kind)
{
    return kind == NODE_NULL || kind == NODE_ZERO || kind == NODE_RANDOM || kind == NODE_URANDOM;
}

static int is_pipe(uint32_t kind)
{
    return kind == NODE_STDIN || kind == NODE_STDOUT || kind == NODE_STDERR;
}

/* The owner's bits for the guest's own nodes, the others' for root's. */
static int may(const rv_node *n, uint32_t want)
{
    uint32_t bits = n->uid == RV_UID ? (n->mode >> 6) & 7 : n->mode & 7;
    return (bits & want) == want;
}

/* -- the file system as a whole ------------------------------------------ */

static uint32_t fixed_node(rv_vfs *fs, uint32_t kind, uint32_t mode, uint32_t uid)
{
    uint32_t i = fs->nnodes++;
    rv_node *n = &fs->nodes[i];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->mode = mode;
    n->uid = uid;
    n->ino = fs->next_ino++;
    n->parent = ROOT;
    return i;
}

static rv_vfs *vfs_alloc(void)
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
    uint32_t dev = new_node(fs, NODE_DIR, 0755, 0, 0);
    if (dev == NONE || link_into(fs, ROOT, "dev", 3, dev)) {
        rv_vfs_free(fs);
        return NULL;
    }
    for (unsigned k = 0; k < sizeof devs / sizeof devs[0]; k++) {
        uint32_t n = new_node(fs, devs[k].kind, 0666, 0, 0);
        if (n == NONE || link_into(fs, dev, devs[k].name, (uint32_t)strlen(devs[k].name), n)) {
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
        free_node(fs, i);
    free(fs->nodes);
    free(fs->ofds);
    free(fs);
}

uint64_t rv_vfs_used(const rv_vfs *fs)
{
    return fs->used;
}

/* -- paths ------------------------------------------------------------------ */

typedef struct walk_t {
    uint32_t dir;             /* the directory the last component was looked up in */
    uint32_t node;            /* what the path names, or NONE */
    const char *name;         /* the last component ("" for "/") */
    uint32_t len;
    int dots;                 /* the last component is "." or ".." */
    int slash;                /* the path ends in '/' */
} walk_t;

/* Resolve path from directory start. Intermediate components must exist and
 * be directories; the last may be missing (node NONE). */
static int walk(const rv_vfs *fs, uint32_t start, const char *path, walk_t *w)
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

static rv_ofd *ofd_of(rv_vfs *fs, int64_t fd)
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
    rv_ofd *o = ofd_of(fs, dirfd);
    if (!o)
        return -RV_EBADF;
    if (fs->nodes[o->node].kind != NODE_DIR)
        return -RV_ENOTDIR;
    *out = o->node;
    return 0;
}

/* Read a path argument and resolve it relative to dirfd. */
static int resolve_at(rv_machine *m, int64_t dirfd, uint64_t addr, char *buf, walk_t *w)
{
    rv_vfs *fs = m->os->fs;
    int r = rv_user_string(m, addr, buf, RV_PATH_MAX);
    if (r)
        return r;
    uint32_t start;
    if ((r = start_dir(fs, dirfd, buf, &start)))
        return r;
    if ((r = walk(fs, start, buf, w)))
        return r;
    if (w->node != NONE && w->slash && fs->nodes[w->node].kind != NODE_DIR)
        return -RV_ENOTDIR;
    return 0;
}

/* -- file descriptors ------------------------------------------------------- */

static uint64_t nofile(const rv_machine *m)
{
    uint64_t lim = m->os->limits[7][0];     /* RLIMIT_NOFILE */
    return lim < RV_MAX_FDS ? lim : RV_MAX_FDS;
}

static int64_t lowest_fd(const rv_machine *m, uint64_t from)
{
    const rv_vfs *fs = m->os->fs;
    for (uint64_t f = from; f < nofile(m); f++)
        if (fs->fd[f] < 0)
            return (int64_t)f;
    return -RV_EMFILE;
}

static int64_t new_ofd(rv_vfs *fs, uint32_t node, uint32_t flags)
{
    uint32_t i = 0;
    while (i < fs->nofds && fs->ofds[i].refs)
        i++;
    if (i == fs->nofds) {
        if (fs->nofds == fs->ofds_cap) {
            uint32_t cap = 2 * fs->ofds_cap;
            rv_ofd *p = realloc(fs->ofds, cap * sizeof *p);
            if (!p)
                return -RV_ENOMEM;
            fs->ofds = p;
            fs->ofds_cap = cap;
        }
        fs->nofds++;
    }
    fs->ofds[i] = (rv_ofd){node, flags, 0, 0};
    fs->nodes[node].opens++;
    return i;
}

static void put_ofd(rv_vfs *fs, int32_t i)
{
    rv_ofd *o = &fs->ofds[i];
    if (--o->refs == 0) {
        uint32_t node = o->node;
        fs->nodes[node].opens--;
        maybe_free(fs, node);
    }
}

static void install(rv_vfs *fs, int64_t fd, int32_t ofd, int cloexec)
{
    fs->fd[fd] = ofd;
    fs->cloexec[fd] = (uint8_t)(cloexec != 0);
    fs->ofds[ofd].refs++;
}

static void close_fd(rv_vfs *fs, int64_t fd)
{
    int32_t o = fs->fd[fd];
    fs->fd[fd] = -1;
    fs->cloexec[fd] = 0;
    put_ofd(fs, o);
}

static int readable(const rv_ofd *o)
{
    return !(o->flags & O_PATH) && (o->flags & O_ACCMODE) != O_WRONLY;
}

static int writable(const rv_ofd *o)
{
    return !(o->flags & O_PATH) && (o->flags & O_ACCMODE) != O_RDONLY;
}

/* -- file contents ------------------------------------------------------------ */

/* Make room for a FILE to hold `size` bytes, zero-filling any gap. */
static int file_resize(rv_vfs *fs, rv_node *n, uint64_t size)
{
    if (size > n->size && size - n->size > fs->limit - fs->used)
        return -RV_ENOSPC;
    if (size > n->cap) {
        uint64_t cap = n->cap ? n->cap : 256;
        while (cap < size)
            cap = cap > UINT64_MAX / 2 ? size : 2 * cap;
        uint8_t *p = realloc(n->data, cap);
        if (!p)
            return -RV_ENOSPC;
        n->data = p;
        n->cap = cap;
    }
    if (size > n->size)
        memset(n->data + n->size, 0, size - n->size);
    fs->used = fs->used - n->size + size;
    n->size = size;
    return 0;
}

static uint64_t file_size(const rv_os *os, const rv_node *n)
{
    return n->kind == NODE_DECLARED ? os->blobs[n->blob].len : n->size;
}

static const uint8_t *file_data(const rv_os *os, const rv_node *n)
{
    return n->kind == NODE_DECLARED ? os->blobs[n->blob].data : n->data;
}

/* read(2) on an open file description; at < 0: at its position. */
static int64_t do_read(rv_machine *m, rv_ofd *o, uint64_t buf, uint64_t len, int64_t at)
{
    rv_os *os = m->os;
    rv_node *n = &os->fs->nodes[o->node];
    if (!readable(o))
        return -RV_EBADF;
    if (!rv_user_range(m, buf, len))
        return -RV_EFAULT;
    if (len > MAX_RW)
        len = MAX_RW;
    uint64_t pos = at < 0 ? o->pos : (uint64_t)at;
    uint8_t *dst;
    uint64_t count = 0;
    switch (n->kind) {
    case NODE_DIR:
        return -RV_EISDIR;
    case NODE_STDIN: {
        uint64_t left = m->stdin_len - m->stdin_pos;
        count = len < left ? len : left;
        if (!(dst = rv_user_out(m, buf, count)))
            return -RV_EFAULT;
        if (count)
            memcpy(dst, m->stdin_data + m->stdin_pos, count);
        m->stdin_pos += count;
        return (int64_t)count;
    }
    case NODE_FILE:
    case NODE_DECLARED: {
        uint64_t size = file_size(os, n);
        count = pos >= size ? 0 : (len < size - pos ? len : size - pos);
        if (!(dst = rv_user_out(m, buf, count)))
            return -RV_EFAULT;
        if (count)
            memcpy(dst, file_data(os, n) + pos, count);
        break;
    }
    case NODE_NULL:
        return 0;
    case NODE_ZERO:
    case NODE_RANDOM:
    case NODE_URANDOM:
        count = len;
        if (!(dst = rv_user_out(m, buf, count)))
            return -RV_EFAULT;
        if (n->kind == NODE_ZERO)
            memset(dst, 0, count);
        else
            rv_rng_read(&os->rng, dst, count);
        return (int64_t)count;
    default:
        return -RV_EBADF;
    }
    if (at < 0)
        o->pos = pos + count;
    return (int64_t)count;
}

static int64_t do_write(rv_machine *m, rv_ofd *o, uint64_t buf, uint64_t len, int64_t at)
{
    rv_os *os = m->os;
    rv_vfs *fs = os->fs;
    rv_node *n = &fs->nodes[o->node];
    if (!writable(o))
        return -RV_EBADF;
    if (!rv_user_range(m, buf, len))
        return -RV_EFAULT;
    if (len > MAX_RW)
        len = MAX_RW;
    const uint8_t *src = rv_user_in(m, buf, len);
    if (!src)
        return -RV_EFAULT;
    switch (n->kind) {
    case NODE_STDOUT:
    case NODE_STDERR: {
        rv_buf *b = &m->out[n->kind == NODE_STDOUT ? 0 : 1];
        /* Never drop output silently: a write past the cap fails the run whole. */
        if (b->len > m->out_cap || len > m->out_cap - b->len)
            return rv_sys_fail(m, RV_ERR_OUTPUT, buf);
        if (rv_append_output(m, n->kind == NODE_STDOUT ? 1 : 2, src, len))
            return rv_sys_fail(m, RV_ERR_NOMEM, buf);
        return (int64_t)len;
    }
    case NODE_FILE: {
        uint64_t pos = (o->flags & O_APPEND) ? n->size : (at < 0 ? o->pos : (uint64_t)at);
        if (len == 0)
            return 0;
        if (pos > UINT64_MAX / 2 || len > UINT64_MAX / 2 - pos)
            return -RV_EFBIG;
        if (pos + len > n->size) {
            /* Write what fits, as a full disk does; nothing fits: ENOSPC. */
            uint64_t room = fs->limit - fs->used;
            if (pos > n->size && pos - n->size >= room)
                return -RV_ENOSPC;
            uint64_t grow = pos + len - n->size;
            if (grow > room)
                len -= grow - room;
            if (len == 0)
                return -RV_ENOSPC;
            int r = file_resize(fs, n, pos + len);
            if (r)
                return r;
        }
        memcpy(n->data + pos, src, len);
        n->time = rv_clock_realtime(m);
        if (at < 0)
            o->pos = pos + len;
        return (int64_t)len;
    }
    case NODE_NULL:
    case NODE_ZERO:
    case NODE_RANDOM:
    case NODE_URANDOM:
        return (int64_t)len;
    default:
        return -RV_EBADF;
    }
}

int64_t rv_sys_read(rv_machine *m)
{
    rv_ofd *o = ofd_of(m->os->fs, (int64_t)m->x[10]);
    return o ? do_read(m, o, m->x[11], m->x[12], -1) : -RV_EBADF;
}

int64_t rv_sys_write(rv_machine *m)
{
    rv_ofd *o = ofd_of(m->os->fs, (int64_t)m->x[10]);
    return o ? do_write(m, o, m->x[11], m->x[12], -1) : -RV_EBADF;
}

static int seekable(const rv_vfs *fs, const rv_ofd *o)
{
    uint32_t kind = fs->nodes[o->node].kind;
    return !is_pipe(kind);
}

static int64_t positional(rv_machine *m, int write)
{
    rv_vfs *fs = m->os->fs;
    rv_ofd *o = ofd_of(fs, (int64_t)m->x[10]);
    int64_t off = (int64_t)m->x[13];
    if (!o)
        return -RV_EBADF;
    if (write ? !writable(o) : !readable(o))
        return -RV_EBADF;
    if (!seekable(fs, o))
        return -RV_ESPIPE;
    if (off < 0)
        return -RV_EINVAL;
    return write ? do_write(m, o, m->x[11], m->x[12], off) : do_read(m, o, m->x[11], m->x[12], off);
}

int64_t rv_sys_pread64(rv_machine *m)
{
    return positional(m, 0);
}

int64_t rv_sys_pwrite64(rv_machine *m)
{
    return positional(m, 1);
}

static int64_t vectored(rv_machine *m, int write)
{
    rv_ofd *o = ofd_of(m->os->fs, (int64_t)m->x[10]);
    uint64_t iov = m->x[11], cnt = m->x[12];
    if (!o)
        return -RV_EBADF;
    if (cnt > 1024)
        return -RV_EINVAL;
    const uint8_t *v = rv_user_in(m, iov, 16 * cnt);
    if (!v)
        return -RV_EFAULT;
    uint64_t total = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t len;
        memcpy(&len, v + 16 * i + 8, 8);
        if (len > INT64_MAX - total)
            return -RV_EINVAL;
        total += len;
    }
    int64_t done = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t base, len;
        memcpy(&base, v + 16 * i, 8);
        memcpy(&len, v + 16 * i + 8, 8);
        if (len == 0)
            continue;
        int64_t r = write ? do_write(m, o, base, len, -1) : do_read(m, o, base, len, -1);
        if (r == RV_SYS_STOP)
            return r;
        if (r < 0)
            return done ? done : r;
        done += r;
        if ((uint64_t)r < len)
            break;
    }
    return done;
}

int64_t rv_sys_readv(rv_machine *m)
{
    return vectored(m, 0);
}

int64_t rv_sys_writev(rv_machine *m)
{
    return vectored(m, 1);
}

/* -- opening and closing ---------------------------------------------------- */

int64_t rv_sys_openat(rv_machine *m)
{
    rv_os *os = m->os;
    rv_vfs *fs = os->fs;
    int64_t dirfd = (int32_t)m->x[10];
    uint64_t flags = m->x[12] & 0xffffffffu, mode = m->x[13] & 07777;
    uint64_t acc = flags & O_ACCMODE;
    char path[RV_PATH_MAX];
    walk_t w;
    if ((flags & O_TMPFILE) == O_TMPFILE)
        return -RV_EOPNOTSUPP;
    if (acc == 3 && !(flags & O_PATH))
        return -RV_EINVAL;
    if (flags & O_PATH)
        flags &= O_PATH | O_DIRECTORY | O_CLOEXEC | 0400000;
    int r = resolve_at(m, dirfd, m->x[11], path, &w);
    if (r)
        return r;
    int64_t fd = lowest_fd(m, 0);
    if (fd < 0)
        return fd;
    uint32_t node = w.node;
    if (node == NONE) {
        if (!(flags & O_CREAT))
            return -RV_ENOENT;
        if (w.slash)
            return -RV_EISDIR;
        if (!may(&fs->nodes[w.dir], 3))
            return -RV_EACCES;
        node = new_node(fs, NODE_FILE, (uint32_t)(mode & ~(uint64_t)os->umask & 07777), RV_UID,
                        rv_clock_realtime(m));
        if (node == NONE)
            return -RV_ENOSPC;
        if ((r = link_into(fs, w.dir, w.name, w.len, node))) {
            free_node(fs, node);
            return r;
        }
        /* A new file may be written even if its own mode says read-only. */
    } else {
        rv_node *n = &fs->nodes[node];
        if ((flags & O_CREAT) && (flags & O_EXCL))
            return -RV_EEXIST;
        if ((flags & O_DIRECTORY) && n->kind != NODE_DIR)
            return -RV_ENOTDIR;
        if (n->kind == NODE_DIR && ((flags & O_CREAT) || (!(flags & O_PATH) && acc != O_RDONLY)))
            return -RV_EISDIR;
        if (!(flags & O_PATH)) {
            uint32_t want = (acc != O_WRONLY ? 4 : 0) | (acc != O_RDONLY ? 2 : 0);
            if (!may(n, want))
                return -RV_EACCES;
            if ((flags & O_TRUNC) && acc != O_RDONLY && n->kind == NODE_FILE) {
                file_resize(fs, n, 0);
                n->time = rv_clock_realtime(m);
            }
        }
    }
    int64_t o = new_ofd(fs, node, (uint32_t)((flags & OFD_MASK) | O_LARGEFILE));
    if (o < 0) {
        maybe_free(fs, node);
        return o;
    }
    install(fs, fd, (int32_t)o, (flags & O_CLOEXEC) != 0);
    return fd;
}

int64_t rv_sys_close(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t fd = (int32_t)m->x[10];
    if (!ofd_of(fs, fd))
        return -RV_EBADF;
    close_fd(fs, fd);
    return 0;
}

int64_t rv_sys_lseek(rv_machine *m)
{
    rv_os *os = m->os;
    rv_vfs *fs = os->fs;
    rv_ofd *o = ofd_of(fs, (int32_t)m->x[10]);
    int64_t off = (int64_t)m->x[11];
    uint64_t whence = m->x[12];
    if (!o)
        return -RV_EBADF;
    const rv_node *n = &fs->nodes[o->node];
    if (is_pipe(n->kind))
        return -RV_ESPIPE;
    if (is_dev(n->kind))
        return 0;
    int64_t base;
    uint64_t size = n->kind == NODE_DIR ? 0 : file_size(os, n);
    switch (whence) {
    case 0: base = 0; break;                      /* SEEK_SET */
    case 1: base = (int64_t)o->pos; break;        /* SEEK_CUR */
    case 2: base = (int64_t)size; break;          /* SEEK_END */
    case 3:                                       /* SEEK_DATA */
    case 4:                                       /* SEEK_HOLE */
        if (n->kind == NODE_DIR)
            return -RV_EINVAL;
        if (off < 0 || (uint64_t)off >= size)
            return -RV_ENXIO;
        o->pos = whence == 3 ? (uint64_t)off : size;
        return (int64_t)o->pos;
    default:
        return -RV_EINVAL;
    }
    if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
        return -RV_EINVAL;
    o->pos = (uint64_t)(base + off);
    return (int64_t)o->pos;
}

/* -- metadata ------------------------------------------------------------------ */

static uint32_t subdirs(const rv_vfs *fs, const rv_node *d)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < d->nents; i++)
        k += fs->nodes[d->ents[i].node].kind == NODE_DIR;
    return k;
}

/* struct stat of riscv64 (asm-generic/stat.h): 128 bytes. */
static void fill_stat(const rv_os *os, uint32_t idx, uint8_t st[128])
{
    const rv_vfs *fs = os->fs;
    const rv_node *n = &fs->nodes[idx];
    uint64_t dev = DEV_VFS, rdev = 0, size = 0, blocks = 0;
    uint32_t type = S_IFREG, nlink = n->links;
    switch (n->kind) {
    case NODE_DIR:
        type = S_IFDIR;
        nlink = 2 + subdirs(fs, n);
        size = 4096;
        blocks = 8;
        break;
    case NODE_FILE:
    case NODE_DECLARED:
        size = file_size(os, n);
        blocks = (size + 4095) / 4096 * 8;
        break;
    case NODE_NULL: type = S_IFCHR; rdev = 0x103; break;
    case NODE_ZERO: type = S_IFCHR; rdev = 0x105; break;
    case NODE_RANDOM: type = S_IFCHR; rdev = 0x108; break;
    case NODE_URANDOM: type = S_IFCHR; rdev = 0x109; break;
    default:
        type = S_IFIFO;
        dev = DEV_PIPE;
        nlink = 1;
        break;
    }
    uint32_t mode = type | n->mode, uid = n->uid, gid = n->uid ? RV_GID : 0;
    int32_t blksize = 4096;
    int64_t sec = n->time >= 0 ? n->time / 1000000000 : -((-n->time + 999999999) / 1000000000);
    int64_t nsec = n->time - sec * 1000000000;
    memset(st, 0, 128);
    memcpy(st + 0, &dev, 8);
    memcpy(st + 8, &n->ino, 8);
    memcpy(st + 16, &mode, 4);
    memcpy(st + 20, &nlink, 4);
    memcpy(st + 24, &uid, 4);
    memcpy(st + 28, &gid, 4);
    memcpy(st + 32, &rdev, 8);
    memcpy(st + 48, &size, 8);
    memcpy(st + 56, &blksize, 4);
    memcpy(st + 64, &blocks, 8);
    for (int t = 0; t < 3; t++) {
        memcpy(st + 72 + 16 * t, &sec, 8);
        memcpy(st + 80 + 16 * t, &nsec, 8);
    }
}

static int64_t put_stat(rv_machine *m, uint32_t node, uint64_t addr)
{
    uint8_t st[128];
    fill_stat(m->os, node, st);
    return rv_user_put(m, addr, st, sizeof st);
}

int64_t rv_sys_fstat(rv_machine *m)
{
    rv_ofd *o = ofd_of(m->os->fs, (int32_t)m->x[10]);
    return o ? put_stat(m, o->node, m->x[11]) : -RV_EBADF;
}

int64_t rv_sys_newfstatat(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t dirfd = (int32_t)m->x[10];
    uint64_t flags = m->x[13];
    char path[RV_PATH_MAX];
    walk_t w;
    if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
        return -RV_EINVAL;
    if (flags & AT_EMPTY_PATH) {
        int r = rv_user_string(m, m->x[11], path, RV_PATH_MAX);
        if (r)
            return r;
        if (!path[0]) {
            if (dirfd == AT_FDCWD)
                return put_stat(m, fs->cwd, m->x[12]);
            rv_ofd *o = ofd_of(fs, dirfd);
            return o ? put_stat(m, o->node, m->x[12]) : -RV_EBADF;
        }
    }
    int r = resolve_at(m, dirfd, m->x[11], path, &w);
    if (r)
        return r;
    return w.node == NONE ? -RV_ENOENT : put_stat(m, w.node, m->x[12]);
}

static int64_t access_at(rv_machine *m, int64_t dirfd, uint64_t addr, uint64_t mode, uint64_t flags)
{
    rv_vfs *fs = m->os->fs;
    char path[RV_PATH_MAX];
    walk_t w;
    if (mode & ~(uint64_t)7)
        return -RV_EINVAL;
    if (flags & ~(uint64_t)(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
        return -RV_EINVAL;
    uint32_t node;
    int r = rv_user_string(m, addr, path, RV_PATH_MAX);
    if (r)
        return r;
    if ((flags & AT_EMPTY_PATH) && !path[0]) {
        rv_ofd *o = dirfd == AT_FDCWD ? NULL : ofd_of(fs, dirfd);
        if (dirfd != AT_FDCWD && !o)
            return -RV_EBADF;
        node = o ? o->node : fs->cwd;
    } else {
        if ((r = resolve_at(m, dirfd, addr, path, &w)))
            return r;
        if (w.node == NONE)
            return -RV_ENOENT;
        node = w.node;
    }
    return may(&fs->nodes[node], (uint32_t)mode) ? 0 : -RV_EACCES;
}

int64_t rv_sys_faccessat(rv_machine *m)
{
    return access_at(m, (int32_t)m->x[10], m->x[11], m->x[12], 0);
}

int64_t rv_sys_faccessat2(rv_machine *m)
{
    return access_at(m, (int32_t)m->x[10], m->x[11], m->x[12], m->x[13]);
}

int64_t rv_sys_getdents64(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    rv_ofd *o = ofd_of(fs, (int32_t)m->x[10]);
    uint64_t buf = m->x[11], count = m->x[12] & 0xffffffffu;
    if (!o || (o->flags & O_PATH))
        return -RV_EBADF;
    const rv_node *d = &fs->nodes[o->node];
    if (d->kind != NODE_DIR)
        return -RV_ENOTDIR;
    uint64_t out = 0;
    while (o->pos < 2 + (uint64_t)d->nents) {
        uint64_t i = o->pos;
        const char *name = i == 0 ? "." : "..";
        uint32_t len = (uint32_t)i + 1, child;
        if (i >= 2) {
            name = d->ents[i - 2].name;
            len = d->ents[i - 2].len;
            child = d->ents[i - 2].node;
        } else {
            child = i == 0 ? o->node : d->parent;
        }
        /* struct linux_dirent64: ino, off, reclen, type, name, NUL, padding to 8. */
        uint64_t reclen = (19 + len + 1 + 7) & ~(uint64_t)7;
        if (out + reclen > count)
            break;
        uint8_t rec[19 + RV_NAME_MAX + 1 + 8];
        memset(rec, 0, reclen);
        const rv_node *c = &fs->nodes[child];
        uint64_t next = i + 1;
        uint16_t rl = (uint16_t)reclen;
        uint8_t type = c->kind == NODE_DIR ? 4 : c->kind == NODE_FILE || c->kind == NODE_DECLARED ? 8 : 2;
        memcpy(rec, &c->ino, 8);
        memcpy(rec + 8, &next, 8);
        memcpy(rec + 16, &rl, 2);
        rec[18] = type;
        memcpy(rec + 19, name, len);
        if (rv_user_put(m, buf + out, rec, reclen))
            return out ? (int64_t)out : -RV_EFAULT;
        out += reclen;
        o->pos = next;
    }
    if (out == 0 && o->pos < 2 + (uint64_t)d->nents)
        return -RV_EINVAL;      /* the buffer cannot hold the next entry */
    return (int64_t)out;
}

int64_t rv_sys_ioctl(rv_machine *m)
{
    /* No terminals: TCGETS and every other request get ENOTTY. */
    return ofd_of(m->os->fs, (int32_t)m->x[10]) ? -RV_ENOTTY : -RV_EBADF;
}

int64_t rv_sys_fcntl(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t fd = (int32_t)m->x[10];
    uint64_t cmd = m->x[11] & 0xffffffffu, arg = m->x[12];
    rv_ofd *o = ofd_of(fs, fd);
    if (!o)
        return -RV_EBADF;
    switch (cmd) {
    case 0:         /* F_DUPFD */
    case 1030: {    /* F_DUPFD_CLOEXEC */
        if (arg >= nofile(m))
            return -RV_EINVAL;
        int64_t nfd = lowest_fd(m, arg);
        if (nfd >= 0)
            install(fs, nfd, fs->fd[fd], cmd == 1030);
        return nfd;
    }
    case 1:         /* F_GETFD */
        return fs->cloexec[fd];
    case 2:         /* F_SETFD */
        fs->cloexec[fd] = arg & 1;
        return 0;
    case 3:         /* F_GETFL */
        return o->flags;
    case 4:         /* F_SETFL */
        o->flags = (uint32_t)((o->flags & ~(uint64_t)SETFL_MASK) | (arg & SETFL_MASK));
        return 0;
    case 5:         /* F_GETLK: a lone process never meets a conflicting lock */
    case 36: {      /* F_OFD_GETLK */
        uint16_t unlck = 2;
        return rv_user_in(m, arg, 32) ? rv_user_put(m, arg, &unlck, 2) : -RV_EFAULT;
    }
    case 6: case 7: case 37: case 38:   /* F_SETLK, F_SETLKW and the OFD forms */
        return rv_user_in(m, arg, 32) ? 0 : -RV_EFAULT;
    default:
        return -RV_EINVAL;
    }
}

int64_t rv_sys_dup(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t fd = (int32_t)m->x[10];
    if (!ofd_of(fs, fd))
        return -RV_EBADF;
    int64_t nfd = lowest_fd(m, 0);
    if (nfd >= 0)
        install(fs, nfd, fs->fd[fd], 0);
    return nfd;
}

int64_t rv_sys_dup3(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t fd = (int32_t)m->x[10], nfd = (int32_t)m->x[11];
    uint64_t flags = m->x[12];
    if (flags & ~(uint64_t)O_CLOEXEC)
        return -RV_EINVAL;
    if (!ofd_of(fs, fd))
        return -RV_EBADF;
    if (fd == nfd)
        return -RV_EINVAL;
    if (nfd < 0 || (uint64_t)nfd >= nofile(m))
        return -RV_EBADF;
    int32_t o = fs->fd[fd];
    fs->ofds[o].refs++;         /* hold it while the target closes */
    if (fs->fd[nfd] >= 0)
        close_fd(fs, nfd);
    install(fs, nfd, o, (flags & O_CLOEXEC) != 0);
    fs->ofds[o].refs--;
    return nfd;
}

int64_t rv_sys_readlinkat(rv_machine *m)
{
    rv_os *os = m->os;
    char path[RV_PATH_MAX];
    walk_t w;
    int64_t size = (int64_t)m->x[13];
    if (size <= 0)
        return -RV_EINVAL;
    int r = rv_user_string(m, m->x[11], path, RV_PATH_MAX);
    if (r)
        return r;
    /* The one symlink there is: the program itself. */
    if (!strcmp(path, "/proc/self/exe")) {
        uint64_t len = strlen(os->exe), n = len < (uint64_t)size ? len : (uint64_t)size;
        return rv_user_put(m, m->x[12], os->exe, n) ? -RV_EFAULT : (int64_t)n;
    }
    if ((r = resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w)))
        return r;
    return w.node == NONE ? -RV_ENOENT : -RV_EINVAL;
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
    maybe_free(fs, old);
}

int64_t rv_sys_chdir(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    char path[RV_PATH_MAX];
    walk_t w;
    int r = resolve_at(m, AT_FDCWD, m->x[10], path, &w);
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
    rv_ofd *o = ofd_of(fs, (int32_t)m->x[10]);
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
    uint32_t node = new_node(fs, NODE_DIR, mode, RV_UID, rv_clock_realtime(m));
    if (node == NONE)
        return -RV_ENOSPC;
    int r = link_into(fs, dir, name, len, node);
    if (r) {
        free_node(fs, node);
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
    int r = resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w);
    if (r)
        return r;
    if (w.node != NONE)
        return -RV_EEXIST;
    if (!may(&os->fs->nodes[w.dir], 3))
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
    int r = resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w);
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
    if (!may(&fs->nodes[w.dir], 3))
        return -RV_EACCES;
    int found;
    uint32_t at = dir_find(&fs->nodes[w.dir], w.name, w.len, &found);
    fs->nodes[w.dir].time = rv_clock_realtime(m);
    unlink_from(fs, w.dir, at);
    return 0;
}

int64_t rv_sys_ftruncate(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    rv_ofd *o = ofd_of(fs, (int32_t)m->x[10]);
    int64_t len = (int64_t)m->x[11];
    if (!o)
        return -RV_EBADF;
    rv_node *n = &fs->nodes[o->node];
    if (len < 0 || !writable(o) || n->kind != NODE_FILE)
        return -RV_EINVAL;
    int r = file_resize(fs, n, (uint64_t)len);
    if (r)
        return r == -RV_ENOSPC ? -RV_EFBIG : r;
    n->time = rv_clock_realtime(m);
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
    rv_ofd *o = ofd_of(m->os->fs, (int32_t)m->x[10]);
    return o ? chmod_node(m, o->node, m->x[11]) : -RV_EBADF;
}

int64_t rv_sys_fchmodat(rv_machine *m)
{
    char path[RV_PATH_MAX];
    walk_t w;
    int r = resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w);
    if (r)
        return r;
    return w.node == NONE ? -RV_ENOENT : chmod_node(m, w.node, m->x[12]);
}

int64_t rv_sys_fsync(rv_machine *m)
{
    return ofd_of(m->os->fs, (int32_t)m->x[10]) ? 0 : -RV_EBADF;
}

int64_t rv_vfs_map_source(rv_machine *m, int64_t fd, uint64_t off, uint64_t prot, uint64_t flags,
                          const uint8_t **data, uint64_t *n)
{
    rv_os *os = m->os;
    rv_ofd *o = ofd_of(os->fs, fd);
    if (!o)
        return -RV_EBADF;
    const rv_node *node = &os->fs->nodes[o->node];
    if (node->kind != NODE_FILE && node->kind != NODE_DECLARED)
        return -RV_ENODEV;
    if (!readable(o))
        return -RV_EACCES;
    /* Mappings are copies: a shared writable one could not write back. */
    if ((flags & 3) != 2 && (prot & 2))
        return writable(o) ? -RV_ENODEV : -RV_EACCES;
    uint64_t size = file_size(os, node);
    *data = file_data(os, node) + (off < size ? off : size);
    *n = off < size ? size - off : 0;
    return 0;
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
    if (os->nblobs == os->blobs_cap) {
        uint64_t cap = os->blobs_cap ? 2 * os->blobs_cap : 8;
        rv_blob *p = realloc(os->blobs, cap * sizeof *p);
        if (!p)
            return -RV_ENOMEM;
        os->blobs = p;
        os->blobs_cap = cap;
    }
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
    uint32_t node = new_node(fs, NODE_DECLARED, 0444, 0, os->realtime_start);
    if (node == NONE)
        return -RV_ENOSPC;
    fs->nodes[node].blob = blob;
    if ((r = link_into(fs, dir, name, len, node))) {
        free_node(fs, node);
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

/* -- snapshots ----------------------------------------------------------------- */

void rv_vfs_encode(const rv_os *os, rv_wr *w)
{
    const rv_vfs *fs = os->fs;
    rv_wr_u64(w, fs->next_ino);
    rv_wr_u64(w, fs->limit);
    rv_wr_u32(w, fs->cwd);
    rv_wr_u32(w, fs->nnodes);
    for (uint32_t i = 0; i < fs->nnodes; i++) {
        const rv_node *n = &fs->nodes[i];
        rv_wr_u32(w, n->kind);
        if (n->kind == NODE_FREE)
            continue;
        rv_wr_u32(w, n->mode);
        rv_wr_u32(w, n->uid);
        rv_wr_u32(w, n->links | n->pinned << 1);
        rv_wr_u32(w, n->parent);
        rv_wr_u64(w, n->ino);
        rv_wr_u64(w, (uint64_t)n->time);
        if (n->kind == NODE_FILE) {
            rv_wr_u64(w, n->size);
            rv_wr_bytes(w, n->data, n->size);
        } else if (n->kind == NODE_DECLARED) {
            rv_wr_bytes(w, os->blobs[n->blob].digest, 32);
        } else if (n->kind == NODE_DIR) {
            rv_wr_u32(w, n->nents);
            for (uint32_t k = 0; k < n->nents; k++) {
                rv_wr_u32(w, n->ents[k].node);
                rv_wr_u32(w, n->ents[k].len);
                rv_wr_bytes(w, n->ents[k].name, n->ents[k].len);
            }
        }
    }
    rv_wr_u32(w, fs->nofds);
    for (uint32_t i = 0; i < fs->nofds; i++) {
        const rv_ofd *o = &fs->ofds[i];
        rv_wr_u32(w, o->refs);
        if (!o->refs)
            continue;
        rv_wr_u32(w, o->node);
        rv_wr_u32(w, o->flags);
        rv_wr_u64(w, o->pos);
    }
    uint32_t nfd = RV_MAX_FDS;
    while (nfd && fs->fd[nfd - 1] < 0)
        nfd--;
    rv_wr_u32(w, nfd);
    for (uint32_t i = 0; i < nfd; i++) {
        rv_wr_u32(w, (uint32_t)fs->fd[i]);
        rv_wr_u32(w, fs->cloexec[i]);
    }
}

static int valid_name(const uint8_t *p, uint32_t len)
{
    if (len == 0 || len > RV_NAME_MAX || (len == 1 && p[0] == '.') ||
        (len == 2 && p[0] == '.' && p[1] == '.'))
        return 0;
    for (uint32_t i = 0; i < len; i++)
        if (p[i] == 0 || p[i] == '/')
            return 0;
    return 1;
}

/* The permanent nodes must be what rv_vfs_new makes of them. */
static int permanent_kind(uint32_t i)
{
    return i == ROOT ? NODE_DIR : i == N_STDIN ? NODE_STDIN : i == N_STDOUT ? NODE_STDOUT : NODE_STDERR;
}

static int decode_into(const rv_os *os, rv_rd *r, rv_vfs *fs, uint8_t *missing)
{
    fs->next_ino = rv_rd_u64(r);
    fs->limit = rv_rd_u64(r);
    fs->cwd = rv_rd_u32(r);
    uint32_t nn = rv_rd_u32(r);
    if (r->bad || nn < N_PERMANENT || nn > MAX_NODES)
        return RV_OS_MALFORMED;
    fs->nodes = calloc(nn, sizeof *fs->nodes);
    if (!fs->nodes)
        return RV_OS_NOMEM;
    fs->nodes_cap = nn;
    for (uint32_t i = 0; i < nn; i++) {
        rv_node *n = &fs->nodes[i];
        fs->nnodes = i + 1;     /* what free_node must see on failure */
        n->kind = rv_rd_u32(r);
        if (r->bad || n->kind >= NODE_KINDS || (i < N_PERMANENT && n->kind != (uint32_t)permanent_kind(i)) ||
            (i >= N_PERMANENT && is_pipe(n->kind)))
            return RV_OS_MALFORMED;
        if (n->kind == NODE_FREE)
            continue;
        n->mode = rv_rd_u32(r);
        n->uid = rv_rd_u32(r);
        n->links = rv_rd_u32(r);
        n->pinned = n->links >> 1;
        n->links &= 1;
        n->parent = rv_rd_u32(r);
        n->ino = rv_rd_u64(r);
        n->time = (int64_t)rv_rd_u64(r);
        if (r->bad || n->mode > 07777 || (n->uid != 0 && n->uid != RV_UID) || n->pinned > 1 ||
            (n->pinned && (n->links || n->kind != NODE_DIR)) || n->parent >= nn ||
            n->ino >= fs->next_ino)
            return RV_OS_MALFORMED;
        if (n->kind == NODE_FILE) {
            uint64_t size = rv_rd_u64(r);
            const uint8_t *p = rv_rd_bytes(r, size);
            if (!p || size > fs->limit - fs->used)
                return RV_OS_MALFORMED;
            n->data = malloc(size ? size : 1);
            if (!n->data)
                return RV_OS_NOMEM;
            if (size)
                memcpy(n->data, p, size);
            n->size = n->cap = size;
            fs->used += size;
        } else if (n->kind == NODE_DECLARED) {
            /* Declared files travel by digest: the host provides their
             * bytes again (rv_fs_provide) before a restore. */
            const uint8_t *digest = rv_rd_bytes(r, 32);
            if (!digest)
                return RV_OS_MALFORMED;
            n->blob = os->nblobs;
            for (uint64_t b = 0; b < os->nblobs; b++)
                if (!memcmp(os->blobs[b].digest, digest, 32))
                    n->blob = b;
            if (n->blob == os->nblobs) {
                if (missing)
                    memcpy(missing, digest, 32);
                return RV_OS_MISSING_FILE;
            }
        } else if (n->kind == NODE_DIR) {
            uint32_t ne = rv_rd_u32(r);
            if (r->bad || ne > nn)
                return RV_OS_MALFORMED;
            n->ents = calloc(ne ? ne : 1, sizeof *n->ents);
            if (!n->ents)
                return RV_OS_NOMEM;
            n->ents_cap = ne ? ne : 1;
            for (uint32_t k = 0; k < ne; k++) {
                uint32_t child = rv_rd_u32(r), len = rv_rd_u32(r);
                const uint8_t *name = rv_rd_bytes(r, len);
                if (!name || child >= nn || child < N_PERMANENT || !valid_name(name, len))
                    return RV_OS_MALFORMED;
                if (k && name_cmp(n->ents[k - 1].name, n->ents[k - 1].len, (const char *)name, len) >= 0)
                    return RV_OS_MALFORMED;
                n->ents[k].name = malloc(len);
                if (!n->ents[k].name)
                    return RV_OS_NOMEM;
                memcpy(n->ents[k].name, name, len);
                n->ents[k].len = len;
                n->ents[k].node = child;
                n->nents = k + 1;
            }
        }
    }
    /* Names: every entry names a live node that records this directory as
     * its parent, no node is named twice, and the named ones are exactly
     * those with links 1. */
    uint32_t *named = calloc(nn, sizeof *named);
    if (!named)
        return RV_OS_NOMEM;
    int bad = 0;
    for (uint32_t i = 0; i < nn && !bad; i++) {
        const rv_node *n = &fs->nodes[i];
        if (n->kind != NODE_DIR)
            continue;
        for (uint32_t k = 0; k < n->nents; k++) {
            uint32_t c = n->ents[k].node;
            if (fs->nodes[c].kind == NODE_FREE || fs->nodes[c].parent != i || named[c]++)
                bad = 1;
        }
    }
    for (uint32_t i = 1; i < nn && !bad; i++)
        if (fs->nodes[i].kind != NODE_FREE && named[i] != fs->nodes[i].links && i >= N_PERMANENT)
            bad = 1;
    /* Every named node hangs off the root: walking up from it reaches the
     * root within nn steps (a cycle never does). */
    for (uint32_t i = N_PERMANENT; i < nn && !bad; i++) {
        uint32_t c = i, steps = 0;
        if (fs->nodes[i].kind == NODE_FREE || !fs->nodes[i].links)
            continue;
        while (c != ROOT && steps++ < nn && fs->nodes[c].links)
            c = fs->nodes[c].parent;
        bad = c != ROOT;
    }
    free(named);
    if (bad || fs->nodes[ROOT].parent != ROOT || fs->nodes[ROOT].links != 1)
        return RV_OS_MALFORMED;

    uint32_t no = rv_rd_u32(r);
    if (r->bad || no > RV_MAX_FDS * 2 + 3)
        return RV_OS_MALFORMED;
    fs->ofds = calloc(no ? no : 1, sizeof *fs->ofds);
    if (!fs->ofds)
        return RV_OS_NOMEM;
    fs->ofds_cap = no ? no : 1;
    fs->nofds = no;
    for (uint32_t i = 0; i < no; i++) {
        rv_ofd *o = &fs->ofds[i];
        o->refs = rv_rd_u32(r);
        if (!o->refs)
            continue;
        o->node = rv_rd_u32(r);
        o->flags = rv_rd_u32(r);
        o->pos = rv_rd_u64(r);
        if (r->bad || o->node >= nn || fs->nodes[o->node].kind == NODE_FREE ||
            (o->flags & ~(uint32_t)OFD_MASK) || (o->flags & O_ACCMODE) == 3 || o->pos > INT64_MAX)
            return RV_OS_MALFORMED;
        fs->nodes[o->node].opens++;
    }
    uint32_t nfd = rv_rd_u32(r);
    if (r->bad || nfd > RV_MAX_FDS)
        return RV_OS_MALFORMED;
    uint32_t *refs = calloc(no ? no : 1, sizeof *refs);
    if (!refs)
        return RV_OS_NOMEM;
    for (uint32_t i = 0; i < nfd; i++) {
        int32_t o = (int32_t)rv_rd_u32(r);
        uint32_t ce = rv_rd_u32(r);
        if (r->bad || o < -1 || o >= (int32_t)no || (o >= 0 && !fs->ofds[o].refs) || ce > 1) {
            bad = 1;
            break;
        }
        fs->fd[i] = o;
        fs->cloexec[i] = (uint8_t)ce;
        if (o >= 0)
            refs[o]++;
    }
    for (uint32_t i = 0; i < no && !bad; i++)
        bad = refs[i] != fs->ofds[i].refs;
    free(refs);
    if (bad || fs->cwd >= nn || fs->nodes[fs->cwd].kind != NODE_DIR)
        return RV_OS_MALFORMED;
    fs->nodes[fs->cwd].opens++;
    for (uint32_t i = N_PERMANENT; i < nn; i++)
        if (fs->nodes[i].pinned) {
            if (fs->nodes[fs->nodes[i].parent].kind != NODE_DIR)
                return RV_OS_MALFORMED;
            fs->nodes[fs->nodes[i].parent].opens++;
        }
    /* Nothing unnamed and unopened: it would never be freed. */
    for (uint32_t i = N_PERMANENT; i < nn; i++)
        if (fs->nodes[i].kind != NODE_FREE && !fs->nodes[i].links && !fs->nodes[i].opens)
            return RV_OS_MALFORMED;
    return RV_OS_OK;
}

int rv_vfs_decode(const rv_os *os, rv_rd *r, rv_vfs **out, uint8_t *missing)
{
    rv_vfs *fs = vfs_alloc();
    if (!fs)
        return RV_OS_NOMEM;
    fs->limit = 0;
    int err = decode_into(os, r, fs, missing);
    if (err) {
        rv_vfs_free(fs);
        return err;
    }
    *out = fs;
    return RV_OS_OK;
}
