"""The Linux user ABI: stock glibc programs, built with Debian's
riscv64-linux-gnu-gcc -O2 -static, give what qemu-riscv64 gives
(tests/guests/linux/expected.json, recorded by `make -C tests/guests/linux
expected`), in one run or in any slices; and everything a guest observes is
a function of its job spec and cycle count."""

from __future__ import annotations

import base64
import json
import posixpath
import random
import struct
import sys
from pathlib import Path

import pytest

import rvdist
from rvdist.errors import ConfigError, ProgramError, UnsupportedSyscall
from support.elfgen import asm_elf
from support.guests import final_state, run_slices
from support.rvasm import ECALL, exit_with, ld, li, syscall

LINUX = Path(__file__).parent / "guests" / "linux"
sys.path.insert(0, str(LINUX))
from cases import BY_NAME, CASES, Case  # noqa: E402

EXPECTED = json.loads((LINUX / "expected.json").read_text())
EFAULT, ENOENT, EINVAL, EACCES = 14, 2, 22, 13
U64 = (1 << 64) - 1


def program(name: str) -> rvdist.Program:
    return rvdist.Program.from_file(LINUX / name)


def machine(case: Case, **extra) -> rvdist.Machine:
    files = {g: LINUX / h for g, h in case.files.items()}
    return rvdist.Machine(program(case.program), args=case.args, env=case.env, stdin=case.stdin,
                          files=files, cwd=case.cwd, memory_size=case.memory, **extra)


def outcome(m: rvdist.Machine, r: rvdist.RunResult) -> dict:
    return {**final_state(m, r), "files": m.files(), "f": list(m.fp_registers)}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_same_as_qemu(case: Case) -> None:
    m = machine(case)
    r = m.run()
    want = EXPECTED[case.name]
    assert r.state == "exited", r
    assert r.exit_code == want["exit_code"]
    assert m.stdout.decode(errors="replace") == base64.b64decode(want["stdout"]).decode(errors="replace")
    assert m.stderr == base64.b64decode(want["stderr"])
    written = {posixpath.join(case.cwd, k): base64.b64decode(v) for k, v in want["files"].items()}
    assert m.files() == written


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_slices_are_invisible(case: Case) -> None:
    """Random slices end in the very state of one run: output, files,
    registers (integer and FP), memory, cycles."""
    whole = machine(case)
    whole_result = whole.run()
    rng = random.Random(case.name)
    sliced = machine(case)
    total = whole.cycles
    schedule = [1, 3, total // 1000 + 1, total // 97 + 1, total // 13 + 1] * 10
    rng.shuffle(schedule)
    sliced_result, n = run_slices(sliced, schedule)
    assert n > 5
    assert outcome(sliced, sliced_result) == outcome(whole, whole_result)


# -- bad programs and bad calls -----------------------------------------------------------


def test_dynamically_linked_program_is_refused() -> None:
    with pytest.raises(ProgramError, match=r"dynamically linked.*ld-linux-riscv64-lp64d\.so\.1.*-static"):
        program("dynamic.elf")


def test_clone_ends_the_run_with_a_typed_error() -> None:
    m = rvdist.Machine(program("forks.elf"), memory_size="64MiB")
    r = m.run()
    assert r.state == "error" and isinstance(r.error, UnsupportedSyscall), r
    assert r.error.number == 220 and "220 (clone)" in str(r.error)
    assert m.stdout == b"before fork\n"


def test_undeclared_paths_do_not_exist() -> None:
    """Nothing of the host's file system shows through: only what the job declares."""
    paths = ["/etc/passwd", "/proc/self/maps", str(LINUX / "hello.c"), "/bin/sh", "/dev/null"]
    m = rvdist.Machine(program("probe.elf"), args=paths, memory_size="64MiB")
    assert m.run().exit_code == 0
    lines = m.stdout.decode().splitlines()
    assert lines[:-1] == [f"{p}: No such file or directory" for p in paths[:-1]]
    assert lines[-1] == "/dev/null: opened, 0 bytes: "


def test_wild_pointers_get_efault() -> None:
    """Also recorded against qemu (case "wild"); here the calls one by one."""
    m = machine(BY_NAME["wild"])
    assert m.run().exit_code == 0
    out = m.stdout.decode()
    for call in ("read(0, wild, 16)", "write(1, wild, 16)", "write(1, NULL, 4)", "read(0, main, 4) [code]",
                 "writev(1, wild, 2)", "open(wild)", "clock_gettime(MONOTONIC, wild)"):
        assert f"{call:<34} -1 Bad address" in out, call
    assert m.stdin_position == 0, "a refused read consumed stdin"


def _asm(code: bytes, **kw) -> rvdist.Machine:
    return rvdist.Machine(asm_elf(code + exit_with("a0"), bss=4096), **kw)


@pytest.mark.parametrize("number", [63, 64, 67, 68, 278, 65, 66])
@pytest.mark.parametrize("length", [1 << 40, U64, (1 << 63) + 5])
def test_huge_lengths_are_errors_not_crashes(number: int, length: int) -> None:
    """read, write, pread64, pwrite64, getrandom, readv, writev with absurd lengths:
    an errno (EFAULT, EINVAL, ESPIPE), never a host crash."""
    data = struct.pack("<Q", length)
    code = li("s0", 0x11000) + ld("a2", "s0", 0) + li("a1", 0x11000)
    code += li("a0", 1 if number in (64, 66, 68) else 0) + li("a3", 0) + li("a7", number) + ECALL
    m = rvdist.Machine(asm_elf(code + exit_with("a0"), data=data, bss=4096), memory_size="1MiB")
    r = m.run()
    assert r.state == "exited", (number, r)
    assert r.exit_code in (-EFAULT, -EINVAL, -29), (number, r.exit_code)


def test_unknown_syscall_names_itself() -> None:
    m = _asm(li("a7", 198) + ECALL)     # socket
    r = m.run()
    assert isinstance(r.error, UnsupportedSyscall) and "198 (socket)" in str(r.error)


def test_a_handler_takes_the_place_of_a_core_syscall() -> None:
    m = _asm(li("a7", 172) + ECALL)     # getpid
    assert m.run().exit_code == 1, "the core's pid is 1"
    m = _asm(li("a7", 172) + ECALL)
    m.on_syscall(172, lambda machine: 4242)
    assert m.run().exit_code == 4242
    m = _asm(li("a7", 172) + ECALL)
    m.on_syscall(172, lambda machine: 7)
    m.on_syscall(172, None)
    assert m.run().exit_code == 1


# -- determinism: seed, clock, identity --------------------------------------------------


def _getrandom_program(n: int) -> bytes:
    return asm_elf(syscall(278, 0x11000, n, 0) + syscall(64, 1, 0x11000, n) + syscall(93, 0), bss=4096)


def _keystream(seed: int, n: int) -> bytes:
    """ChaCha20 (RFC 8439) with key = seed as 8 little-endian bytes + 24 zeros, nonce 0."""
    from cryptography.hazmat.primitives import ciphers   # a test extra: missing is a failure, not a skip
    key = seed.to_bytes(8, "little") + bytes(24)
    enc = ciphers.Cipher(ciphers.algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()
    return enc.update(bytes(n))


def _auxv(m: rvdist.Machine) -> dict[int, int]:
    sp = m.registers["sp"]
    argc = struct.unpack("<Q", m.read_memory(sp, 8))[0]
    at = sp + 8 * (argc + 2)
    while struct.unpack("<Q", m.read_memory(at, 8))[0]:
        at += 8
    at += 8
    aux = {}
    while True:
        k, v = struct.unpack("<QQ", m.read_memory(at, 16))
        at += 16
        if k == 0:
            return aux
        aux[k] = v


@pytest.mark.parametrize("seed", [0, 1, 2026, U64])
def test_randomness_is_the_seeded_chacha20_stream(seed: int) -> None:
    """AT_RANDOM takes the stream's first 16 bytes, getrandom the next."""
    m = rvdist.Machine(_getrandom_program(300), seed=seed)
    at_random = m.read_memory(_auxv(m)[25], 16)
    assert m.run().exit_code == 0
    assert at_random + m.stdout == _keystream(seed, 316)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    outs = []
    for seed in (5, 5, 6):
        m = rvdist.Machine(program("random.elf"), seed=seed, memory_size="64MiB")
        m.run()
        outs.append((m.stdout, m.cycles, m.read_memory(0, m.memory_size)))
    assert outs[0] == outs[1]
    assert outs[0][2] != outs[2][2]


def test_auxv_has_what_glibc_needs() -> None:
    prog = program("hello.elf")
    m = rvdist.Machine(prog, memory_size="64MiB")
    aux = _auxv(m)
    assert aux[6] == 4096 and aux[17] == 100 and aux[9] == prog.entry
    assert aux[3] == prog.headers.phdr and aux[4] == 56 and aux[5] == prog.headers.phnum
    assert aux[11] == aux[12] == aux[13] == aux[14] == 1000 and aux[23] == 0 and aux[7] == 0
    assert aux[16] == sum(1 << (ord(c) - 97) for c in "imafdc")
    execfn = m.read_memory(aux[31], 16).split(b"\0")[0]
    assert execfn == b"/hello.elf"


def test_static_pie_loads_at_the_documented_base() -> None:
    prog = program("pie.elf")
    assert prog.headers.base == rvdist.program.STATIC_PIE_BASE == 0x10000
    assert min(s.vaddr for s in prog.segments) == 0x10000
    m = rvdist.Machine(prog)
    assert _auxv(m)[9] == prog.entry and prog.entry >= 0x10000


def _clock_program(clock: int) -> bytes:
    """clock_gettime(clock) then write the timespec to stdout."""
    return asm_elf(syscall(113, clock, 0x11000) + syscall(64, 1, 0x11000, 16) + syscall(93, 0), bss=64)


@pytest.mark.parametrize("clock", [0, 1, 2, 7])
def test_clocks_are_cycles(clock: int) -> None:
    """One cycle is one nanosecond; CLOCK_REALTIME starts at the job's start time."""
    start = 1_800_000_000
    m = rvdist.Machine(_clock_program(clock), start_time=start, cost_model={"system": 1000})
    m.run()
    sec, nsec = struct.unpack("<qq", m.stdout)
    # li a0; li a1 (lui+addiw); li a7: 4 instructions at 1 cycle, then the ecall at 1000.
    expected = 4 + 1000
    if clock == 0:
        expected += start * 10**9
    assert sec * 10**9 + nsec == expected


def test_nanosleep_moves_the_clock_on() -> None:
    """A sleep of 3 s + 500 ns moves CLOCK_MONOTONIC on by exactly that."""
    readings = []
    for sleep in ((0, 0), (3, 500)):
        code = syscall(101, 0x11000 + 16, 0) + syscall(113, 1, 0x11000)
        code += syscall(64, 1, 0x11000, 16) + syscall(93, 0)
        m = rvdist.Machine(asm_elf(code, data=bytes(16) + struct.pack("<qq", *sleep)))
        assert m.run().exit_code == 0
        sec, nsec = struct.unpack("<qq", m.stdout)
        readings.append(sec * 10**9 + nsec)
    assert readings[1] - readings[0] == 3 * 10**9 + 500


def test_identity_is_fixed() -> None:
    m = rvdist.Machine(program("hello.elf"), memory_size="64MiB")
    for number, want in ((172, 1), (178, 1), (173, 0), (174, 1000), (175, 1000), (176, 1000), (177, 1000)):
        t = _asm(li("a7", number) + ECALL)
        assert t.run().exit_code == want, number
    del m


# -- job spec checks ------------------------------------------------------------------------


@pytest.mark.parametrize("files, message", [
    ({"/dev/x": b"1"}, "not allowed"),
    ({"/a": b"1", "/a/b": b"2"}, "a file is in the way"),
    ({"": b"1"}, "non-empty"),
    ({"/x": 3}, "bytes or a host path"),
    ({"/x": "/no/such/host/file"}, "cannot read"),
    ({"a/../b": b"1", "/b": b"2"}, "declared twice"),
])
def test_bad_file_declarations(files, message) -> None:
    with pytest.raises(ConfigError, match=message):
        rvdist.Machine(program("pie.elf"), files=files)


@pytest.mark.parametrize("kw", [{"env": ["NOEQUALS"]}, {"env": {"A": "b\0c"}}, {"seed": -1},
                                {"seed": 1 << 64}, {"start_time": "now"}, {"cwd": ""}])
def test_bad_job_spec_values(kw) -> None:
    with pytest.raises(ConfigError):
        rvdist.Machine(program("pie.elf"), **kw)


def test_created_files_count_against_the_limit() -> None:
    case = BY_NAME["files"]
    m = machine(case, file_limit=1000)
    m.run()
    assert sum(len(v) for v in m.files().values()) <= 1000
    assert m.stdout != base64.b64decode(EXPECTED["files"]["stdout"])


# -- random syscalls ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(60))
def test_random_syscalls_end_in_a_typed_outcome(seed: int) -> None:
    """Every served syscall with good, bad and garbage arguments: a typed end,
    the same on a second run and in slices."""
    import syscallfuzz
    first = syscallfuzz.outcome(seed)
    assert first[0] in ("exited", "error"), first[:3]
    if first[0] == "error":
        assert isinstance(first[2], tuple) and first[2][0] in (
            "UnsupportedSyscall", "MemoryFault", "OutputLimitExceeded", "IllegalInstruction"), first[2]
    assert syscallfuzz.outcome(seed) == first
    assert syscallfuzz.outcome(seed, [1, 7, 50, 3]) == first


@pytest.mark.slow
def test_many_random_syscalls() -> None:
    import os
    import syscallfuzz
    n = int(os.environ.get("RVDIST_SYSCALL_CASES", "3000"))
    for seed in range(1000, 1000 + n):
        out = syscallfuzz.outcome(seed)
        assert out[0] in ("exited", "error"), (seed, out[:3])


# -- snapshots --------------------------------------------------------------------------


def _files_of(case: Case) -> dict:
    return {g: LINUX / h for g, h in case.files.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_snapshot_round_trip(case: Case) -> None:
    """Snapshot at a few points (full, then increments), encode, decode, restore
    on a fresh machine with the job's files, run on: the very end of one run.
    The process (clocks, random stream, mappings, files, fds) goes with it."""
    whole = machine(case)
    want = outcome(whole, whole.run())
    total = whole.cycles
    rng = random.Random(f"snap-{case.name}")
    m = machine(case)
    chain = []
    for point in sorted(rng.sample(range(1, total), 3)):
        m.run(point - m.cycles)
        chain.append(rvdist.Snapshot.from_bytes(m.snapshot(incremental=bool(chain)).to_bytes()))
    again = rvdist.Machine.restore(program(case.program), chain, files=_files_of(case))
    assert outcome(again, again.run()) == want
    # The last one alone, compacted from the chain, too.
    single = rvdist.Machine.restore(program(case.program), rvdist.Snapshot.compact(chain),
                                    files=_files_of(case))
    assert outcome(single, single.run()) == want


def test_restore_needs_the_declared_files() -> None:
    case = BY_NAME["files"]
    m = machine(case)
    m.run(50_000)
    snap = m.snapshot()
    with pytest.raises(rvdist.SnapshotError, match="needs a declared file.*sha256"):
        rvdist.Machine.restore(program(case.program), snap)
    other = {g: b"other bytes" for g in case.files}
    with pytest.raises(rvdist.SnapshotError, match="needs a declared file"):
        rvdist.Machine.restore(program(case.program), snap, files=other)


def test_created_files_travel_in_snapshots() -> None:
    case = BY_NAME["files"]
    m = machine(case)
    while "report.txt" not in m.stdout.decode():
        m.run(1000)
    assert m.files()
    snap = rvdist.Snapshot.from_bytes(m.snapshot().to_bytes())
    again = rvdist.Machine.restore(program(case.program), snap, files=_files_of(case))
    assert again.files() == m.files()


@pytest.mark.parametrize("seed", range(40))
def test_corrupt_os_blocks_are_refused(seed: int) -> None:
    """An OS block with bytes changed, cut short or grown (checksums made to
    match) restores or gets a SnapshotError: never a crash or a half-built machine."""
    import lz4.block
    case = BY_NAME["fsops"]
    m = machine(case)
    m.run(120_000)
    snap = m.snapshot()
    plain = bytearray(lz4.block.decompress(snap.os_block, uncompressed_size=snap.header["os"]["len"]))
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 4)):
        what = rng.random()
        if what < 0.6:
            i = rng.randrange(len(plain))
            plain[i] ^= 1 << rng.randrange(8)
        elif what < 0.8:
            del plain[rng.randrange(len(plain)):]
        else:
            i = rng.randrange(len(plain))
            plain[i:i] = rng.randbytes(rng.randint(1, 16))
    if not plain:
        plain = bytearray(b"\0")
    block = lz4.block.compress(bytes(plain), store_size=False)
    header = snap.header
    header["os"] = {"len": len(plain), "block": len(block)}
    forged = rvdist.Snapshot(header, snap.data_pages, snap.zero_pages, snap.io_block, list(snap.chunks), block)
    try:
        r = rvdist.Machine.restore(program(case.program), rvdist.Snapshot.from_bytes(forged.to_bytes()))
    except rvdist.SnapshotError:
        return
    r.run(10_000)       # a state the checks let through must still run safely
