/*
 * fd.c: file descriptors, and the calls that work through them: read,
 * write and their vectored and positional forms, openat, close, lseek,
 * fstat, getdents64, fcntl, dup, ioctl, ftruncate; and the bytes an mmap of
 * a file copies. fds 0, 1 and 2 are pipes: the job's stdin and the
 * captured stdout and stderr.
 */
#include <stdlib.h>
#include <string.h>

#include "vfs.h"

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
        if (fs->nofds == fs->ofds_cap && RV_GROW(fs->ofds, fs->ofds_cap, 8))
            return -RV_ENOMEM;
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
        vfs_maybe_free(fs, node);
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
    rv_ofd *o = vfs_ofd(m->os->fs, (int64_t)m->x[10]);
    return o ? do_read(m, o, m->x[11], m->x[12], -1) : -RV_EBADF;
}

int64_t rv_sys_write(rv_machine *m)
{
    rv_ofd *o = vfs_ofd(m->os->fs, (int64_t)m->x[10]);
    return o ? do_write(m, o, m->x[11], m->x[12], -1) : -RV_EBADF;
}

static int seekable(const rv_vfs *fs, const rv_ofd *o)
{
    uint32_t kind = fs->nodes[o->node].kind;
    return !vfs_is_pipe(kind);
}

static int64_t positional(rv_machine *m, int write)
{
    rv_vfs *fs = m->os->fs;
    rv_ofd *o = vfs_ofd(fs, (int64_t)m->x[10]);
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
    rv_ofd *o = vfs_ofd(m->os->fs, (int64_t)m->x[10]);
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
    int r = vfs_resolve_at(m, dirfd, m->x[11], path, &w);
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
        if (!vfs_may(&fs->nodes[w.dir], 3))
            return -RV_EACCES;
        node = vfs_new_node(fs, NODE_FILE, (uint32_t)(mode & ~(uint64_t)os->umask & 07777), RV_UID,
                        rv_clock_realtime(m));
        if (node == NONE)
            return -RV_ENOSPC;
        if ((r = vfs_link(fs, w.dir, w.name, w.len, node))) {
            vfs_free_node(fs, node);
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
            if (!vfs_may(n, want))
                return -RV_EACCES;
            if ((flags & O_TRUNC) && acc != O_RDONLY && n->kind == NODE_FILE) {
                file_resize(fs, n, 0);
                n->time = rv_clock_realtime(m);
            }
        }
    }
    int64_t o = new_ofd(fs, node, (uint32_t)((flags & OFD_MASK) | O_LARGEFILE));
    if (o < 0) {
        vfs_maybe_free(fs, node);
        return o;
    }
    install(fs, fd, (int32_t)o, (flags & O_CLOEXEC) != 0);
    return fd;
}

int64_t rv_sys_close(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t fd = (int32_t)m->x[10];
    if (!vfs_ofd(fs, fd))
        return -RV_EBADF;
    close_fd(fs, fd);
    return 0;
}

int64_t rv_sys_lseek(rv_machine *m)
{
    rv_os *os = m->os;
    rv_vfs *fs = os->fs;
    rv_ofd *o = vfs_ofd(fs, (int32_t)m->x[10]);
    int64_t off = (int64_t)m->x[11];
    uint64_t whence = m->x[12];
    if (!o)
        return -RV_EBADF;
    const rv_node *n = &fs->nodes[o->node];
    if (vfs_is_pipe(n->kind))
        return -RV_ESPIPE;
    if (vfs_is_dev(n->kind))
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
    rv_ofd *o = vfs_ofd(m->os->fs, (int32_t)m->x[10]);
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
            rv_ofd *o = vfs_ofd(fs, dirfd);
            return o ? put_stat(m, o->node, m->x[12]) : -RV_EBADF;
        }
    }
    int r = vfs_resolve_at(m, dirfd, m->x[11], path, &w);
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
        rv_ofd *o = dirfd == AT_FDCWD ? NULL : vfs_ofd(fs, dirfd);
        if (dirfd != AT_FDCWD && !o)
            return -RV_EBADF;
        node = o ? o->node : fs->cwd;
    } else {
        if ((r = vfs_resolve_at(m, dirfd, addr, path, &w)))
            return r;
        if (w.node == NONE)
            return -RV_ENOENT;
        node = w.node;
    }
    return vfs_may(&fs->nodes[node], (uint32_t)mode) ? 0 : -RV_EACCES;
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
    rv_ofd *o = vfs_ofd(fs, (int32_t)m->x[10]);
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
    return vfs_ofd(m->os->fs, (int32_t)m->x[10]) ? -RV_ENOTTY : -RV_EBADF;
}

int64_t rv_sys_fcntl(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    int64_t fd = (int32_t)m->x[10];
    uint64_t cmd = m->x[11] & 0xffffffffu, arg = m->x[12];
    rv_ofd *o = vfs_ofd(fs, fd);
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
    if (!vfs_ofd(fs, fd))
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
    if (!vfs_ofd(fs, fd))
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
    if ((r = vfs_resolve_at(m, (int32_t)m->x[10], m->x[11], path, &w)))
        return r;
    return w.node == NONE ? -RV_ENOENT : -RV_EINVAL;
}

int64_t rv_sys_ftruncate(rv_machine *m)
{
    rv_vfs *fs = m->os->fs;
    rv_ofd *o = vfs_ofd(fs, (int32_t)m->x[10]);
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

int64_t rv_sys_fsync(rv_machine *m)
{
    return vfs_ofd(m->os->fs, (int32_t)m->x[10]) ? 0 : -RV_EBADF;
}

int64_t rv_vfs_map_source(rv_machine *m, int64_t fd, uint64_t off, uint64_t prot, uint64_t flags,
                          const uint8_t **data, uint64_t *n)
{
    rv_os *os = m->os;
    rv_ofd *o = vfs_ofd(os->fs, fd);
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

