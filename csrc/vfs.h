/*
 * vfs.h: what the three files of the virtual file system share: vfs.c (the
 * tree, paths and directories), fd.c (file descriptors and the calls on
 * them) and vfsstate.c (the file system in and out of snapshots).
 */
#ifndef RV_VFS_H
#define RV_VFS_H

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

/* vfs.c */
int vfs_name_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen);
/* Link child into dir under (name, len): 0, -RV_EEXIST or -RV_ENOMEM. */
int vfs_link(rv_vfs *fs, uint32_t dir, const char *name, uint32_t len, uint32_t child);
/* A new node in the lowest free slot, or NONE when the table is full. */
uint32_t vfs_new_node(rv_vfs *fs, uint32_t kind, uint32_t mode, uint32_t uid, int64_t time);
void vfs_free_node(rv_vfs *fs, uint32_t i);
/* Free a node that has no name and nothing open on it any more. */
void vfs_maybe_free(rv_vfs *fs, uint32_t i);
int vfs_is_dev(uint32_t kind);
int vfs_is_pipe(uint32_t kind);
/* Whether the guest may access n for want (4 read, 2 write, 1 search). */
int vfs_may(const rv_node *n, uint32_t want);
rv_vfs *vfs_alloc(void);
int vfs_walk(const rv_vfs *fs, uint32_t start, const char *path, walk_t *w);
/* The open file description of fd, or NULL. */
rv_ofd *vfs_ofd(rv_vfs *fs, int64_t fd);
/* Read the path at addr and resolve it relative to dirfd. */
int vfs_resolve_at(rv_machine *m, int64_t dirfd, uint64_t addr, char *buf, walk_t *w);

#endif
