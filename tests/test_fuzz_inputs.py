"""Fuzzing of untrusted inputs (ELF files, snapshots) and the input limits.

The mutation engine, the checks and the subprocess-isolated runner live in
:mod:`fuzz_inputs` (see its docstring). The default suite runs a
deterministic sample in process; ``-m slow`` runs ``RVDIST_FUZZ_CASES``
(default 5,000) mutated ELFs and as many mutated snapshots in
subprocess-isolated batches, so that a crash in the core is caught and its
input saved rather than taking pytest down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lz4.block
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_inputs as fz
from rvdist import (ConfigError, CyclesExceeded, Machine, OutputLimitExceeded, Program,
                    ProgramError, RvError, Snapshot, SnapshotError)
from rvdist.machine import DEFAULT_STDIN_LIMIT, MAX_ARGS_BYTES, MAX_MEMORY_SIZE
from support.elfgen import DATA, PF_R, PF_W, PF_X, Seg, asm_elf, make_elf, sample_elf
from support.guests import guest
from support.rvasm import ECALL, li

FAST_CASES = int(os.environ.get("RVDIST_FUZZ_FAST_CASES", "400"))
SLOW_CASES = int(os.environ.get("RVDIST_FUZZ_CASES", "5000"))
SANITIZED = os.environ.get("RVDIST_SANITIZED") == "1"


@pytest.fixture(scope="module")
def elf_seeds():
    return fz.elf_seeds()


@pytest.fixture(scope="module")
def snap_seeds():
    return fz.snapshot_seeds()


def _report(failures, tmp_path: Path) -> str:
    lines = []
    for case, out in failures[:5]:
        path = case.save(tmp_path, out.failure)
        lines.append(f"--- {case.kind} seed={case.seed} index={case.index} from {case.origin} "
                     f"(replay: python tests/fuzz_inputs.py replay {path})\n{out.failure}")
    return f"{len(failures)} failing input(s):\n" + "\n".join(lines)


# -- seeds and corpus -------------------------------------------------------------------

def test_seeds_are_valid(elf_seeds, snap_seeds) -> None:
    """Mutating a seed proves little unless the seed itself loads and runs."""
    assert len(elf_seeds) >= 20 and len(snap_seeds) >= 8
    assert fz.check_seeds("elf", elf_seeds) == []
    assert fz.check_seeds("snap", snap_seeds) == []


def _corpus_files() -> list[Path]:
    return sorted(p for p in fz.CORPUS.glob("*/*") if p.suffix in (".elf", ".snap"))


def test_corpus_is_small_and_present() -> None:
    files = _corpus_files()
    assert any(p.suffix == ".elf" for p in files) and any(p.suffix == ".snap" for p in files)
    assert all(p.stat().st_size <= 64 << 10 for p in files), "keep tests/corpus small"


@pytest.mark.parametrize("path", _corpus_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_input(path: Path) -> None:
    """Each saved input (regressions included) ends in success or a typed error."""
    out = fz.replay(path)
    assert out.failure is None, out.failure


# -- mutation fuzzing, a deterministic sample -------------------------------------------------

def test_mutated_elfs(elf_seeds, tmp_path: Path) -> None:
    counts, failures = fz.run_cases("elf", elf_seeds, seed=1, start=0, end=FAST_CASES)
    assert not failures, _report(failures, tmp_path)
    # The sample reaches every stage: rejection, and programs that load and run.
    assert counts.get("rejected", 0) > FAST_CASES // 5
    assert sum(v for k, v in counts.items() if k.startswith("ran:")) > FAST_CASES // 5, counts


def test_mutated_snapshots(snap_seeds, tmp_path: Path) -> None:
    counts, failures = fz.run_cases("snap", snap_seeds, seed=1, start=0, end=FAST_CASES)
    assert not failures, _report(failures, tmp_path)
    assert counts.get("decode", 0) > FAST_CASES // 5 and counts.get("restore", 0) > 10, counts
    assert sum(v for k, v in counts.items() if k.startswith("restored:")) > 10, counts


# -- property-based: forged snapshot headers and ELF program headers ---------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 70), 1 << 70) | st.sampled_from(fz.INTERESTING)
    | st.floats(allow_nan=False) | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


@given(which=st.integers(0, 1000), where=st.integers(0, 10_000), value=_json)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_forged_header_values(snap_seeds, which, where, value) -> None:
    """Any JSON value at any place of a snapshot's header dict: Snapshot.with_header
    refuses it with a SnapshotError, or encodes it (checksums correct) into bytes
    that are then refused or restored like any other input."""
    seed = snap_seeds[which % len(snap_seeds)]

    def edit(header: dict) -> None:
        leaves = fz._leaves(header)
        path = leaves[where % len(leaves)]
        fz._get(header, path[:-1])[path[-1]] = value

    data = fz.encode_edited(seed.data, edit)            # None: refused at encoding
    if data is not None:
        out = fz.Case("snap", 0, 0, data, seed.name, seed.program, seed.before).check()
        assert out.failure is None, out.failure


_WORDS = [(name, i) for name, (_, size) in fz._FIELDS.items() if name not in fz._BYTE_FIELDS
          for i in range(size // 8)]


@given(which=st.integers(0, 1000), words=st.lists(
    st.tuples(st.sampled_from(_WORDS), st.integers(0, (1 << 64) - 1) | st.sampled_from(fz.INTERESTING)),
    min_size=1, max_size=3), fix_lengths=st.booleans())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_forged_record_words(snap_seeds, which, words, fix_lengths) -> None:
    """Any values in any words of a snapshot's binary record, checksums recomputed."""
    seed = snap_seeds[which % len(snap_seeds)]
    parts = fz.SnapParts.split(seed.data)
    for (name, index), value in words:
        parts.set(name, value, index)
    out = fz.Case("snap", 0, 0, parts.join(fix_lengths=fix_lengths), seed.name, seed.program,
                  seed.before).check()
    assert out.failure is None, out.failure


@given(field=st.sampled_from(fz._PHDR_FIELDS + fz._EHDR_FIELDS), index=st.integers(0, 2),
       value=st.integers(0, (1 << 64) - 1) | st.sampled_from(fz.INTERESTING))
@settings(max_examples=300, deadline=None)
def test_forged_elf_fields(field, index, value) -> None:
    """Any value in any ELF or program header field of a three-segment program."""
    data = bytearray(sample_elf())
    name, off, width = field
    if name.startswith("p_"):
        off += 64 + 56 * index
    fz._set_field(data, off, width, value)
    out = fz.Case("elf", 0, 0, bytes(data), "sample").check()
    assert out.failure is None, out.failure


# -- the subprocess runner ----------------------------------------------------------------

def test_runner_catches_a_crash_and_saves_its_input(tmp_path: Path) -> None:
    """A worker killed by a signal is a finding; the rest of the campaign goes on."""
    env = dict(os.environ, RVDIST_FUZZ_CRASH_AT="13")
    c = fz.Campaign("elf", cases=40, seed=5, jobs=2, batch=16, out=tmp_path, env=env).run()
    assert [(i, kind) for i, kind, _ in c.failures] == [(13, "crash")]
    meta = json.loads(Path(c.failures[0][2]).read_text())
    assert "worker died with code" in meta["reason"]        # -11, or 1 when ASan reports the SEGV
    saved = (tmp_path / meta["input"]).read_bytes()
    assert saved == fz.make_case("elf", fz.elf_seeds(), 5, 13).data
    assert sum(c.counts.values()) == 40                    # every case was run once
    assert fz.replay(Path(c.failures[0][2])).failure is None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["elf", "snap"])
def test_mutation_campaign(kind: str, tmp_path: Path) -> None:
    """RVDIST_FUZZ_CASES mutated inputs, in subprocess-isolated batches."""
    seed = int(os.environ.get("RVDIST_FUZZ_SEED", "100"))
    c = fz.Campaign(kind, cases=SLOW_CASES, seed=seed, jobs=2, out=tmp_path).run()
    assert sum(c.counts.values()) == SLOW_CASES
    assert not c.failures, "\n".join(
        f"{i} {what}: {json.loads(Path(p).read_text())['reason'][:2000]}" for i, what, p in c.failures[:5])


# -- limits ---------------------------------------------------------------------------

def _writer(times: int, length: int = 6) -> Program:
    """A guest that writes ``length`` bytes of DATA to stdout ``times`` times, then exits 0."""
    code = b"".join(li("a0", 1) + li("a1", DATA) + li("a2", length) + li("a7", 64) + ECALL
                    for _ in range(times))
    return Program(asm_elf(code + li("a0", 0) + li("a7", 93) + ECALL, data=b"hello\n" * 8))


def test_stdin_limit() -> None:
    prog = guest("c/upper.elf")
    assert Machine.stdin_limit == DEFAULT_STDIN_LIMIT == 1 << 30
    m = Machine(prog, stdin=b"x" * 100, stdin_limit=100)
    assert m.stdin_limit == 100 and len(m.stdin) == 100
    with pytest.raises(ConfigError, match="stdin of 101 bytes is more than the stdin_limit of 100"):
        Machine(prog, stdin=b"x" * 101, stdin_limit=100)
    with pytest.raises(ConfigError, match="stdin_limit"):
        m.stdin = b"y" * 101                    # the setter obeys the machine's limit too
    assert m.stdin == b"x" * 100
    for bad in (-1, "1k", None, True, 1.5):
        with pytest.raises(ConfigError, match="stdin_limit must be"):
            Machine(prog, stdin_limit=bad)
    assert Machine(prog, stdin=b"", stdin_limit=0).stdin == b""


def test_stdin_limit_on_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    """A restored machine has the class-wide limit; a snapshot above it is a typed error."""
    prog = guest("c/upper.elf")
    m = Machine(prog, stdin=b"abc" * 100)
    m.run(100)
    snap = m.snapshot()
    monkeypatch.setattr(Machine, "stdin_limit", 10)
    with pytest.raises(RvError, match="stdin_limit"):
        Machine.restore(prog, snap)
    monkeypatch.setattr(Machine, "stdin_limit", 300)
    assert Machine.restore(prog, snap).stdin == b"abc" * 100


def test_args_limit_and_fit() -> None:
    prog = guest("c/hello.elf")
    with pytest.raises(ConfigError, match=f"the limit is {MAX_ARGS_BYTES}"):
        Machine(prog, args=["a" * MAX_ARGS_BYTES])
    Machine(prog, args=["a" * (MAX_ARGS_BYTES // 2)])
    # Arguments that would not fit above the program image are a ConfigError, not a
    # MemoryFault from writing the stack, nor silently overwriting the image.
    small = Program(make_elf([Seg(0x1000, bytes.fromhex("93 08 d0 05 73 00 00 00"), flags=PF_R | PF_X),
                              Seg(0x2000, b"data", memsz=0x5000, flags=PF_R | PF_W)], entry=0x1000))
    Machine(small, memory_size=0x8000, args=["ok"])
    with pytest.raises(ConfigError, match="does not fit above the program image"):
        Machine(small, memory_size=0x8000, args=["a" * 4500])
    with pytest.raises(ConfigError, match="does not fit above the program image"):
        Machine(small, memory_size=0x8000, args=["a" * 40000])


def test_memory_limit() -> None:
    prog = guest("c/hello.elf")
    assert MAX_MEMORY_SIZE == 4 << 30
    with pytest.raises(ConfigError, match="memory_size"):
        Machine(prog, memory_size=MAX_MEMORY_SIZE + 4096)
    with pytest.raises(ProgramError, match="does not fit"):
        Machine(prog, memory_size=4096)
    # The whole 4 GiB costs only the pages touched.
    assert Machine(prog, memory_size="4GiB").run().state == "exited"


def test_output_limit() -> None:
    m = Machine(_writer(5), output_limit=12)
    r = m.run()
    assert isinstance(r.error, OutputLimitExceeded) and m.stdout == b"hello\n" * 2
    assert Machine(_writer(5), output_limit=30).run().exit_code == 0


def test_cycles_limit() -> None:
    m = Machine(guest("c/intloop.elf"), max_cycles=10_000)
    r = m.run()
    assert isinstance(r.error, CyclesExceeded) and m.cycles <= 10_000


def test_snapshot_size_limits() -> None:
    prog = guest("c/upper.elf")
    m = Machine(prog, stdin=b"some input\n")
    m.run(200)
    snap = m.snapshot()
    data = snap.to_bytes()
    with pytest.raises(SnapshotError, match="more than the 100 accepted"):
        Snapshot.from_bytes(data, max_size=100)
    with pytest.raises(SnapshotError, match=f"snapshot of {len(data)} bytes is more than the "
                                            f"{len(data) - 1} accepted"):
        Snapshot.from_bytes(data, max_size=len(data) - 1)
    at_cap = Snapshot.from_bytes(data, max_size=len(data))     # exactly the cap is accepted, whole
    assert at_cap.to_bytes() == data and at_cap.info() == snap.info() and at_cap.info()["pages"] > 0
    restored = Machine.restore(prog, at_cap)
    assert (restored.cycles, restored.pc, restored.stdin) == (m.cycles, m.pc, b"some input\n")


def test_decompression_bomb_is_refused() -> None:
    """An I/O block that claims more than lz4 can expand to (255x) is refused at decode,
    before anything is decompressed or allocated."""
    prog = guest("c/upper.elf")
    m = Machine(prog, stdin=b"some input\n")
    m.run(200)
    parts = fz.SnapParts.split(m.snapshot().to_bytes())
    for claim in (256 * len(parts.io_block) + 64, 1 << 32, 1 << 40):
        parts.set("stdin_len", claim)
        with pytest.raises(SnapshotError, match="I/O block claims"):
            Snapshot.from_bytes(parts.join(fix_lengths=False))
    # A real bomb within the ratio: 64 KiB of zeros in an lz4 block of a few hundred bytes
    # claimed as a stdout longer than the output, or a stdin the header does not allow.
    parts = fz.SnapParts.split(m.snapshot().to_bytes())
    bomb = lz4.block.compress(bytes(1 << 16), store_size=False)
    parts.io_block = bomb
    for name, value in (("stdout_part", 1 << 16), ("stderr_part", 0), ("stdin_len", 0)):
        parts.set(name, value)
    with pytest.raises(SnapshotError):
        Machine.restore(prog, Snapshot.from_bytes(parts.join()))


# -- regressions: bugs the fuzzing found, fixed --------------------------------------------------

@pytest.mark.parametrize("how", ["restore-lower-limit", "forged-snapshot"])
def test_output_cap_holds_after_restore(how: str) -> None:
    prog = _writer(100)
    m = Machine(prog, output_limit=1000)
    m.run(50)
    assert len(m.stdout) == 48
    if how == "restore-lower-limit":
        m2 = Machine.restore(prog, m.snapshot(), output_limit=12)
    else:
        parts = fz.SnapParts.split(m.snapshot().to_bytes())
        parts.set("output_limit", 12)
        try:
            m2 = Machine.restore(prog, Snapshot.from_bytes(parts.join()))
        except SnapshotError:
            return                              # refusing such a snapshot is a fix too
    r = m2.run()
    assert isinstance(r.error, OutputLimitExceeded), (r, len(m2.stdout))
    assert len(m2.stdout) == 48


_ZERO_LENGTH_COPIES = """
import rvdist
m = rvdist.Machine(rvdist.Program.from_file({elf!r}))   # reads an empty stdin, writes nothing
m.run()
m.read_memory(0, 0)
print("ok")
"""


@pytest.mark.skipif(not SANITIZED, reason="meaningful only under .ci/sanitize (RVDIST_SANITIZED=1)")
def test_no_ub_in_zero_length_copies(tmp_path: Path) -> None:
    elf = tmp_path / "zero.elf"
    # read(0, DATA, 16) on an empty stdin; write(1, DATA, 0); exit(0).
    code = (li("a0", 0) + li("a1", DATA) + li("a2", 16) + li("a7", 63) + ECALL
            + li("a0", 1) + li("a1", DATA) + li("a2", 0) + li("a7", 64) + ECALL
            + li("a0", 0) + li("a7", 93) + ECALL)
    elf.write_bytes(asm_elf(code, data=bytes(16)))
    env = dict(os.environ)
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"     # no suppressions
    proc = subprocess.run([sys.executable, "-c", _ZERO_LENGTH_COPIES.format(elf=str(elf))],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert "runtime error" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]




# -- isolation between machines ------------------------------------------------------------

@pytest.mark.parametrize("how", ["new", "restore", "restore-chain"])
def test_no_memory_crosses_machines(how: str) -> None:
    """A machine never sees what an earlier machine left in its memory, whatever the
    host does to reuse memory (pools, warm mappings): pages start as zeros or as the
    snapshot says."""
    import gc

    secret = b"SECRET-from-an-earlier-guest!!" * 2
    prog = guest("c/upper.elf")
    base = Machine(prog, stdin=b"abc")
    base.run(50)
    full = base.snapshot()
    base.run(100)
    inc = base.snapshot(incremental=True)
    clean = Machine.restore(prog, [full, inc]).read_memory(0, 4 << 20)
    for _ in range(3):
        dirty = Machine(prog, memory_size=4 << 20)
        lo = dirty.brk
        dirty.write_memory(lo, secret * ((dirty.memory_size - (2 << 20) - lo) // len(secret)))
        del dirty
        gc.collect()
        if how == "new":
            m = Machine(prog, stdin=b"abc")
        elif how == "restore":
            m = Machine.restore(prog, full)
        else:
            m = Machine.restore(prog, [full, inc])
        mem = m.read_memory(0, m.memory_size)
        assert secret[:16] not in mem, f"{how}: a page of an earlier machine is visible"
        if how == "restore-chain":
            assert mem == clean
