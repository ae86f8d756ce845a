/*
 * vfsstate.c: the file system in and out of a snapshot's OS block: every
 * node (a created file with its bytes, a declared file by its sha256, a
 * directory with its entries), the open file descriptions and the fd
 * table. Decoding checks every index, name, link and count before the new
 * file system replaces the machine's.
 */
#include <stdlib.h>
#include <string.h>

#include "vfs.h"

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
            (i >= N_PERMANENT && vfs_is_pipe(n->kind)))
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
                if (k && vfs_name_cmp(n->ents[k - 1].name, n->ents[k - 1].len, (const char *)name, len) >= 0)
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

