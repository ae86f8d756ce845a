/*
 * linux.c: the Linux process a guest sees: identity, clocks, limits,
 * signals (recorded, never delivered), futexes and randomness.
 *
 * Every answer is fixed or derived from the job spec and the cycle count
 * (docs/linux-abi.md lists them): one cycle is one nanosecond of virtual
 * time. CLOCK_MONOTONIC is the cycle count plus the time slept;
 * CLOCK_REALTIME adds the job's start time. Sleeping does not wait: it
 * moves the virtual clocks on.
 */
#include <stdlib.h>
#include <string.h>

#include "os.h"

#define NS 1000000000LL

#define RLIMIT_STACK 3
#define RLIMIT_NOFILE 7
#define RLIMIT_AS 9
#define RLIM_INFINITY UINT64_MAX

/* Signals whose default action is to do nothing (SIGCHLD, SIGCONT, SIGURG, SIGWINCH). */
#define SIG_DEFAULT_IGNORED ((1ull << 17) | (1ull << 18) | (1ull << 23) | (1ull << 28))
#define SIGKILL 9
#define SIGSTOP 19
#define SIG_DFL 0
#define SIG_IGN 1

/* 2024-01-01T00:00:00Z: CLOCK_REALTIME at cycle 0 unless the job says otherwise. */
#define DEFAULT_REALTIME_START (1704067200LL * NS)

rv_os *rv_os_new(void)
{
    rv_os *os = calloc(1, sizeof *os);
    if (!os)
        return NULL;
    os->fs = rv_vfs_new();
    if (!os->fs) {
        free(os);
        return NULL;
    }
    os->realtime_start = DEFAULT_REALTIME_START;
    os->umask = 022;
    for (int i = 0; i < RV_NLIMITS; i++)
        os->limits[i][0] = os->limits[i][1] = RLIM_INFINITY;
    os->limits[RLIMIT_NOFILE][0] = os->limits[RLIMIT_NOFILE][1] = RV_MAX_FDS;
    os->altstack[1] = 2;        /* SS_DISABLE */
    strcpy(os->exe, "/program");
    rv_rng_seed(&os->rng, 0);
    return os;
}

void rv_os_free(rv_os *os)
{
    if (!os)
        return;
    rv_vfs_free(os->fs);
    for (uint64_t i = 0; i < os->nblobs; i++)
        free(os->blobs[i].data);
    free(os->blobs);
    free(os->maps);
    free(os);
}

/* -- set-up by the host (rvcore.h) ------------------------------------------ */

int rv_os_config(rv_machine *m, uint64_t seed, int64_t realtime_start, uint64_t stack_size,
                 const char *exe)
{
    rv_os *os = m->os;
    if (strlen(exe) >= sizeof os->exe)
        return -1;
    os->realtime_start = realtime_start;
    os->limits[RLIMIT_STACK][0] = os->limits[RLIMIT_STACK][1] = stack_size;
    os->limits[RLIMIT_AS][0] = os->limits[RLIMIT_AS][1] = m->mem_size;
    strcpy(os->exe, exe);
    rv_rng_seed(&os->rng, seed);
    return 0;
}

void rv_os_set_guard(rv_machine *m, uint64_t guard)
{
    m->os->guard = guard < m->mem_size ? guard : m->mem_size;
}

void rv_os_random(rv_machine *m, uint8_t *out, uint64_t n)
{
    rv_rng_read(&m->os->rng, out, n);
}

int rv_os_host_syscall(rv_machine *m, uint64_t number, int on)
{
    if (number >= 64 * sizeof m->os->host / sizeof m->os->host[0])
        return -1;
    if (on)
        m->os->host[number >> 6] |= 1ull << (number & 63);
    else
        m->os->host[number >> 6] &= ~(1ull << (number & 63));
    return 0;
}

/* -- clocks --------------------------------------------------------------------- */

uint64_t rv_clock_monotonic(const rv_machine *m)
{
    return m->cycles + m->os->sleep_ns;
}

int64_t rv_clock_realtime(const rv_machine *m)
{
    return m->os->realtime_start + (int64_t)rv_clock_monotonic(m);
}

/* Clock ids: 0 REALTIME, 1 MONOTONIC, 2 PROCESS_CPUTIME_ID, 3
 * THREAD_CPUTIME_ID, 4 MONOTONIC_RAW, 5 REALTIME_COARSE, 6
 * MONOTONIC_COARSE, 7 BOOTTIME, 8 REALTIME_ALARM, 9 BOOTTIME_ALARM, 11 TAI. */
static int clock_valid(int64_t clk)
{
    return clk >= 0 && clk <= 11 && clk != 10;
}

/* A valid clock's reading in ns. */
static int64_t clock_read(const rv_machine *m, int64_t clk)
{
    switch (clk) {
    case 0: case 5: case 8: case 11:
        return rv_clock_realtime(m);
    case 2: case 3:                     /* CPU time: sleeping adds none */
        return (int64_t)m->cycles;
    default:
        return (int64_t)rv_clock_monotonic(m);
    }
}

static int put_timespec(rv_machine *m, uint64_t addr, int64_t ns)
{
    int64_t ts[2] = {ns / NS, ns % NS};
    if (ns < 0 && ts[1]) {
        ts[0]--;
        ts[1] += NS;
    }
    return rv_user_put(m, addr, ts, sizeof ts);
}

/* A struct timespec argument as ns; -RV_EFAULT or -RV_EINVAL. */
static int get_timespec(const rv_machine *m, uint64_t addr, int64_t *ns)
{
    const uint8_t *p = rv_user_in(m, addr, 16);
    if (!p)
        return -RV_EFAULT;
    int64_t ts[2];
    memcpy(ts, p, sizeof ts);
    if (ts[0] < 0 || ts[1] < 0 || ts[1] >= NS)
        return -RV_EINVAL;
    *ns = ts[0] > INT64_MAX / NS - 1 ? INT64_MAX : ts[0] * NS + ts[1];
    return 0;
}

static int64_t sys_clock_gettime(rv_machine *m)
{
    if (!clock_valid((int64_t)m->x[10]))
        return -RV_EINVAL;
    return put_timespec(m, m->x[11], clock_read(m, (int64_t)m->x[10]));
}

static int64_t sys_clock_getres(rv_machine *m)
{
    if (!clock_valid((int64_t)m->x[10]))
        return -RV_EINVAL;
    return m->x[11] ? put_timespec(m, m->x[11], 1) : 0;
}

static int64_t sys_gettimeofday(rv_machine *m)
{
    int64_t now = rv_clock_realtime(m);
    if (m->x[10]) {
        int64_t tv[2] = {now / NS, (now % NS) / 1000};
        if (rv_user_put(m, m->x[10], tv, sizeof tv))
            return -RV_EFAULT;
    }
    if (m->x[11]) {
        int32_t tz[2] = {0, 0};
        if (rv_user_put(m, m->x[11], tz, sizeof tz))
            return -RV_EFAULT;
    }
    return 0;
}

static void sleep_for(rv_machine *m, int64_t ns)
{
    if (ns > 0)
        m->os->sleep_ns = (uint64_t)ns > UINT64_MAX - m->os->sleep_ns ? UINT64_MAX : m->os->sleep_ns + (uint64_t)ns;
}

static int64_t sys_nanosleep(rv_machine *m)
{
    int64_t ns;
    int r = get_timespec(m, m->x[10], &ns);
    if (r)
        return r;
    sleep_for(m, ns);
    return 0;
}

static int64_t sys_clock_nanosleep(rv_machine *m)
{
    int64_t clk = (int64_t)m->x[10], ns;
    uint64_t flags = m->x[11];
    if (clk != 0 && clk != 1 && clk != 7 && clk != 11 && clk != 8 && clk != 9)
        return clk == 2 || clk == 3 ? -RV_EOPNOTSUPP : -RV_EINVAL;
    int r = get_timespec(m, m->x[12], &ns);
    if (r)
        return r;
    if (flags & 1)              /* TIMER_ABSTIME */
        ns -= clock_read(m, clk);
    sleep_for(m, ns);
    return 0;
}

static int64_t sys_times(rv_machine *m)
{
    int64_t ticks = (int64_t)(m->cycles / (NS / 100));
    if (m->x[10]) {
        int64_t tms[4] = {ticks, 0, 0, 0};
        if (rv_user_put(m, m->x[10], tms, sizeof tms))
            return -RV_EFAULT;
    }
    return (int64_t)(rv_clock_monotonic(m) / (NS / 100));
}

static int64_t sys_getrusage(rv_machine *m)
{
    int64_t who = (int64_t)m->x[10];
    if (who != 0 && who != -1 && who != 1)
        return -RV_EINVAL;
    int64_t ru[18] = {0};
    if (who != -1) {
        ru[0] = (int64_t)(m->cycles / NS);
        ru[1] = (int64_t)(m->cycles % NS / 1000);
    }
    return rv_user_put(m, m->x[11], ru, sizeof ru);
}

/* -- identity ------------------------------------------------------------------ */

static int64_t sys_uname(rv_machine *m)
{
    static const char *fields[6] = {"Linux", "rvdist", "6.1.0-rvdist", "#1 SMP rvdist",
                                    "riscv64", "(none)"};
    char u[6 * 65];
    memset(u, 0, sizeof u);
    for (int i = 0; i < 6; i++)
        strcpy(u + 65 * i, fields[i]);
    return rv_user_put(m, m->x[10], u, sizeof u);
}

static int64_t sys_sysinfo(rv_machine *m)
{
    rv_os *os = m->os;
    uint8_t si[112];
    memset(si, 0, sizeof si);
    uint64_t total = m->mem_size, files = rv_vfs_used(os->fs);
    uint64_t used = (m->brk - os->guard) + rv_mm_mapped(m) + (m->mem_size - m->brk_max) + files;
    uint64_t free_ram = used < total ? total - used : 0;
    int64_t uptime = (int64_t)(rv_clock_monotonic(m) / NS);
    uint16_t procs = 1;
    uint32_t unit = 1;
    memcpy(si + 0, &uptime, 8);
    memcpy(si + 32, &total, 8);
    memcpy(si + 40, &free_ram, 8);
    memcpy(si + 48, &files, 8);
    memcpy(si + 80, &procs, 2);
    memcpy(si + 104, &unit, 4);
    return rv_user_put(m, m->x[10], si, sizeof si);
}

static int own_pid(int64_t pid)
{
    return pid == 0 || pid == RV_PID;
}

static int64_t limits(rv_machine *m, int64_t pid, uint64_t res, uint64_t new_addr, uint64_t old_addr)
{
    rv_os *os = m->os;
    if (!own_pid(pid))
        return -RV_ESRCH;
    if (res >= RV_NLIMITS)
        return -RV_EINVAL;
    uint64_t want[2];
    if (new_addr) {
        const uint8_t *p = rv_user_in(m, new_addr, 16);
        if (!p)
            return -RV_EFAULT;
        memcpy(want, p, 16);
        if (want[0] > want[1])
            return -RV_EINVAL;
        if (want[1] > os->limits[res][1])
            return -RV_EPERM;
        if (res == RLIMIT_NOFILE && want[1] > RV_MAX_FDS)
            return -RV_EPERM;
    }
    if (old_addr && rv_user_put(m, old_addr, os->limits[res], 16))
        return -RV_EFAULT;
    if (new_addr)
        memcpy(os->limits[res], want, 16);
    return 0;
}

static int64_t sys_prlimit64(rv_machine *m)
{
    return limits(m, (int32_t)m->x[10], m->x[11], m->x[12], m->x[13]);
}

static int64_t sys_getrlimit(rv_machine *m)
{
    return limits(m, 0, m->x[10], 0, m->x[11]);
}

static int64_t sys_setrlimit(rv_machine *m)
{
    return limits(m, 0, m->x[10], m->x[11], 0);
}

static int64_t sys_sched_getaffinity(rv_machine *m)
{
    uint64_t len = m->x[11], mask = 1;
    if (!own_pid((int32_t)m->x[10]))
        return -RV_ESRCH;
    if (len < 8 || (len & 7))
        return -RV_EINVAL;
    return rv_user_put(m, m->x[12], &mask, 8) ? -RV_EFAULT : 8;
}

static int64_t sys_sched_setaffinity(rv_machine *m)
{
    if (!own_pid((int32_t)m->x[10]))
        return -RV_ESRCH;
    const uint8_t *p = rv_user_in(m, m->x[12], m->x[11] < 8 ? m->x[11] : 8);
    if (!p)
        return -RV_EFAULT;
    return m->x[11] && (p[0] & 1) ? 0 : -RV_EINVAL;
}

static int64_t sys_getrandom(rv_machine *m)
{
    uint64_t len = m->x[11], flags = m->x[12];
    if ((flags & ~(uint64_t)7) || (flags & 6) == 6)
        return -RV_EINVAL;
    if (len > 0x7ffff000u)
        len = 0x7ffff000u;
    uint8_t *dst = rv_user_out(m, m->x[10], len);
    if (!dst)
        return -RV_EFAULT;
    rv_rng_read(&m->os->rng, dst, len);
    return (int64_t)len;
}

static int64_t sys_umask(rv_machine *m)
{
    uint32_t old = m->os->umask;
    m->os->umask = (uint32_t)(m->x[10] & 0777);
    return old;
}

/* -- threads and signals --------------------------------------------------------- */

static int64_t sys_set_tid_address(rv_machine *m)
{
    m->os->tid_address = m->x[10];
    return RV_PID;
}

static int64_t sys_set_robust_list(rv_machine *m)
{
    if (m->x[11] != 24)         /* sizeof(struct robust_list_head) */
        return -RV_EINVAL;
    m->os->robust_head = m->x[10];
    m->os->robust_len = m->x[11];
    return 0;
}

static int64_t sys_get_robust_list(rv_machine *m)
{
    if (!own_pid((int32_t)m->x[10]))
        return -RV_ESRCH;
    if (rv_user_put(m, m->x[11], &m->os->robust_head, 8) || rv_user_put(m, m->x[12], &m->os->robust_len, 8))
        return -RV_EFAULT;
    return 0;
}

static int64_t sys_rt_sigaction(rv_machine *m)
{
    rv_os *os = m->os;
    uint64_t sig = m->x[10], act = m->x[11], oact = m->x[12];
    if (m->x[13] != 8 || sig < 1 || sig > RV_NSIG)
        return -RV_EINVAL;
    rv_sigaction want;
    if (act) {
        if (sig == SIGKILL || sig == SIGSTOP)
            return -RV_EINVAL;
        const uint8_t *p = rv_user_in(m, act, sizeof want);
        if (!p)
            return -RV_EFAULT;
        memcpy(&want, p, sizeof want);
        want.mask &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    }
    if (oact && rv_user_put(m, oact, &os->sigact[sig - 1], sizeof want))
        return -RV_EFAULT;
    if (act)
        os->sigact[sig - 1] = want;
    return 0;
}

static int64_t sys_rt_sigprocmask(rv_machine *m)
{
    rv_os *os = m->os;
    uint64_t how = m->x[10], set = m->x[11], oset = m->x[12];
    uint64_t want = os->sigmask;
    if (m->x[13] != 8)
        return -RV_EINVAL;
    if (set) {
        const uint8_t *p = rv_user_in(m, set, 8);
        if (!p)
            return -RV_EFAULT;
        uint64_t s;
        memcpy(&s, p, 8);
        switch (how) {
        case 0: want |= s; break;       /* SIG_BLOCK */
        case 1: want &= ~s; break;      /* SIG_UNBLOCK */
        case 2: want = s; break;        /* SIG_SETMASK */
        default: return -RV_EINVAL;
        }
        want &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
    }
    if (oset && rv_user_put(m, oset, &os->sigmask, 8))
        return -RV_EFAULT;
    os->sigmask = want;
    return 0;
}

static int64_t sys_sigaltstack(rv_machine *m)
{
    rv_os *os = m->os;
    uint64_t ss = m->x[10], old = m->x[11];
    uint64_t want[3];
    if (ss) {
        const uint8_t *p = rv_user_in(m, ss, 24);
        if (!p)
            return -RV_EFAULT;
        memcpy(want, p, 24);
        if (want[1] & ~(uint64_t)(2 | 0x80000000u))     /* SS_DISABLE, SS_AUTODISARM */
            return -RV_EINVAL;
    }
    if (old && rv_user_put(m, old, os->altstack, 24))
        return -RV_EFAULT;
    if (ss)
        memcpy(os->altstack, want, 24);
    return 0;
}

/* A signal sent to the process itself. Nothing is ever delivered: a signal
 * that would run a handler, or wait blocked, stops the run as unsupported;
 * one whose default action ends the process ends it with 128 + the signal
 * number as its exit code, as a shell reports it. */
static int64_t send_self(rv_machine *m, uint64_t sig)
{
    rv_os *os = m->os;
    if (sig == 0)
        return 0;
    if (sig > RV_NSIG)
        return -RV_EINVAL;
    uint64_t handler = os->sigact[sig - 1].handler;
    if (handler == SIG_IGN && sig != SIGKILL && sig != SIGSTOP)
        return 0;
    if (handler == SIG_DFL && ((SIG_DEFAULT_IGNORED >> (sig - 1)) & 1))
        return 0;
    if ((handler != SIG_DFL && sig != SIGKILL) || ((os->sigmask >> (sig - 1)) & 1))
        return rv_sys_fail(m, RV_ERR_SYSCALL, 0);
    m->exit_code = 128 + (int32_t)sig;
    m->status = RV_EXITED;
    m->pc += 4;
    return RV_SYS_STOP;
}

static int64_t sys_kill(rv_machine *m)
{
    int64_t pid = (int32_t)m->x[10];
    if (pid != RV_PID && pid != 0 && pid != -1)
        return -RV_ESRCH;
    return send_self(m, m->x[11]);
}

static int64_t sys_tkill(rv_machine *m)
{
    return (int32_t)m->x[10] == RV_PID ? send_self(m, m->x[11]) : -RV_ESRCH;
}

static int64_t sys_tgkill(rv_machine *m)
{
    return (int32_t)m->x[10] == RV_PID && (int32_t)m->x[11] == RV_PID ? send_self(m, m->x[12]) : -RV_ESRCH;
}

/* One thread: a wake wakes nobody, and a wait that no timeout ends would
 * wait forever, which stops the run (as an unsupported call of futex). */
static int64_t sys_futex(rv_machine *m)
{
    uint64_t uaddr = m->x[10], op = m->x[11] & 0x7f, val = m->x[12] & 0xffffffffu;
    uint64_t timeout = m->x[13];
    if (op == 1 || op == 10)            /* FUTEX_WAKE, FUTEX_WAKE_BITSET */
        return 0;
    if (op != 0 && op != 9)             /* FUTEX_WAIT, FUTEX_WAIT_BITSET */
        return -RV_ENOSYS;
    if (uaddr & 3)
        return -RV_EINVAL;
    const uint8_t *p = rv_user_in(m, uaddr, 4);
    if (!p)
        return -RV_EFAULT;
    uint32_t cur;
    memcpy(&cur, p, 4);
    if (cur != val)
        return -RV_EAGAIN;
    if (!timeout)
        return rv_sys_fail(m, RV_ERR_SYSCALL, 0);
    int64_t ns;
    int r = get_timespec(m, timeout, &ns);
    if (r)
        return r;
    /* FUTEX_WAIT takes a relative timeout; the bitset form an absolute one. */
    if (op == 9)
        ns -= clock_read(m, (m->x[11] & 256) ? 0 : 1);
    sleep_for(m, ns);
    return -RV_ETIMEDOUT;
}

static int64_t sys_exit(rv_machine *m)
{
    m->exit_code = (int32_t)m->x[10];
    m->status = RV_EXITED;
    m->pc += 4;
    return RV_SYS_STOP;
}

static int64_t fixed_pid(rv_machine *m) { return RV_PID; }
static int64_t fixed_ppid(rv_machine *m) { return 0; }
static int64_t fixed_uid(rv_machine *m) { return RV_UID; }
static int64_t fixed_gid(rv_machine *m) { return RV_GID; }
static int64_t zero(rv_machine *m) { return 0; }
static int64_t enosys(rv_machine *m) { return -RV_ENOSYS; }

/* The syscall table: riscv64 numbers (asm-generic/unistd.h). A number with
 * no entry goes to the host, which ends the run unless a handler serves it. */
const rv_sys_fn rv_linux_syscalls[RV_LINUX_SYSCALLS] = {
    [17] = rv_sys_getcwd,
    [23] = rv_sys_dup,
    [24] = rv_sys_dup3,
    [25] = rv_sys_fcntl,
    [29] = rv_sys_ioctl,
    [34] = rv_sys_mkdirat,
    [35] = rv_sys_unlinkat,
    [46] = rv_sys_ftruncate,
    [48] = rv_sys_faccessat,
    [49] = rv_sys_chdir,
    [50] = rv_sys_fchdir,
    [52] = rv_sys_fchmod,
    [53] = rv_sys_fchmodat,
    [56] = rv_sys_openat,
    [57] = rv_sys_close,
    [61] = rv_sys_getdents64,
    [62] = rv_sys_lseek,
    [63] = rv_sys_read,
    [64] = rv_sys_write,
    [65] = rv_sys_readv,
    [66] = rv_sys_writev,
    [67] = rv_sys_pread64,
    [68] = rv_sys_pwrite64,
    [78] = rv_sys_readlinkat,
    [79] = rv_sys_newfstatat,
    [80] = rv_sys_fstat,
    [82] = rv_sys_fsync,
    [83] = rv_sys_fsync,        /* fdatasync */
    [93] = sys_exit,
    [94] = sys_exit,            /* exit_group */
    [96] = sys_set_tid_address,
    [98] = sys_futex,
    [99] = sys_set_robust_list,
    [100] = sys_get_robust_list,
    [101] = sys_nanosleep,
    [113] = sys_clock_gettime,
    [114] = sys_clock_getres,
    [115] = sys_clock_nanosleep,
    [122] = sys_sched_setaffinity,
    [123] = sys_sched_getaffinity,
    [124] = zero,               /* sched_yield */
    [129] = sys_kill,
    [130] = sys_tkill,
    [131] = sys_tgkill,
    [132] = sys_sigaltstack,
    [134] = sys_rt_sigaction,
    [135] = sys_rt_sigprocmask,
    [153] = sys_times,
    [160] = sys_uname,
    [163] = sys_getrlimit,
    [164] = sys_setrlimit,
    [165] = sys_getrusage,
    [166] = sys_umask,
    [169] = sys_gettimeofday,
    [172] = fixed_pid,          /* getpid */
    [173] = fixed_ppid,         /* getppid */
    [174] = fixed_uid,          /* getuid */
    [175] = fixed_uid,          /* geteuid */
    [176] = fixed_gid,          /* getgid */
    [177] = fixed_gid,          /* getegid */
    [178] = fixed_pid,          /* gettid */
    [179] = sys_sysinfo,
    [214] = rv_sys_brk,
    [215] = rv_sys_munmap,
    [216] = rv_sys_mremap,
    [222] = rv_sys_mmap,
    [226] = rv_sys_mprotect,
    [233] = rv_sys_madvise,
    [261] = sys_prlimit64,
    [278] = sys_getrandom,
    [293] = enosys,             /* rseq: glibc carries on without it */
    [439] = rv_sys_faccessat2,
};
