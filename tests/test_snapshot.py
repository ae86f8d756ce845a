"""Tests of snapshots (:mod:`rvdist.snapshot`): suspend, resume, migrate.

The promise under test: a snapshot holds the whole machine state between
two slices (pc, registers, cycles, the LR/SC reservation, captured output,
stdin and its position, brk and every changed page), so resuming it in a
fresh machine -- even in a fresh process -- ends exactly like one
uninterrupted run. Incremental snapshots hold only the pages dirtied since
the previous snapshot and name it as their parent; a chain restores to the
same state as a full snapshot, and ``Snapshot.compact`` merges a chain into
one full snapshot. Anything that does not fit (another program, another
core or format version, another configuration, corrupt data) is refused
with :class:`SnapshotError`.

Host-call handlers are *not* part of a snapshot: a machine restored from a
snapshot has no handlers until the caller registers them again.

Corrupt and hostile encodings are tested in test_snapshot_corruption.py.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import pickle
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from rvdist import SUSPEND, Machine, Program, Snapshot, SnapshotError
from rvdist.errors import RvError, UnsupportedSyscall
from rvdist.snapshot import FORMAT_VERSION

GUESTS = Path(__file__).parent / "guests"
PAGE = 4096
NO_RESERVATION = (1 << 64) - 1
MiB = 1 << 20


# -- helpers -------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One guest run: program (relative to tests/guests), argv[1:], stdin, memory."""

    program: str
    args: tuple[str, ...] = ()
    stdin: bytes = b""
    memory_size: int = 4 * MiB

    def machine(self, cost_model: str = "unit", **kw: Any) -> Machine:
        return Machine(guest(self.program), args=self.args, stdin=self.stdin,
                       memory_size=self.memory_size, cost_model=cost_model, **kw)


UPPER_STDIN = (b"Hello, snapshot World!\nthe quick brown fox jumps over the lazy dog\n"
               b"0123456789 {mixed} CaSe ~end of line\n" * 3)

CASES = {
    "memsort_64k": Case("c/memsort.elf", ("64k",), memory_size=8 * MiB),
    "memsort_256k": Case("c/memsort.elf", ("256k",), memory_size=8 * MiB),
    "intloop": Case("c/intloop.elf", ("20000",)),
    "lrsc_counter": Case("c/lrsc_counter.elf", ("300",)),
    "rewrite_pages": Case("c/rewrite_pages.elf"),
    "brkgrow": Case("c/brkgrow.elf"),
    "upper": Case("c/upper.elf", stdin=UPPER_STDIN),
    "hello": Case("c/hello.elf", ("alpha", "two words", "", "last")),
    "primes": Case("c/primes.elf", ("20000",)),
}


def roundtrip(snap: Snapshot) -> Snapshot:
    """Encode and decode a snapshot, as a migration would."""
    data = snap.to_bytes()
    back = Snapshot.from_bytes(data)
    assert back.to_bytes() == data
    return back


def reencode(snap: Snapshot, header: dict[str, Any]) -> Snapshot:
    """A snapshot with ``header`` instead of snap's, through a (valid-crc) encoding."""
    return Snapshot.from_bytes(snap.with_header(header).to_bytes())


def edited(snap: Snapshot) -> dict[str, Any]:
    """A deep copy of a snapshot's header, to edit."""
    return json.loads(json.dumps(snap.header))


def finish(m: Machine) -> dict[str, Any]:
    r = m.run()
    assert r.done, r
    return observe(m)


@functools.lru_cache(maxsize=None)
def reference(case_name: str, cost_model: str, max_cycles: Optional[int] = None) -> dict[str, Any]:
    """The outcome of one uninterrupted run of a case."""
    return finish(CASES[case_name].machine(cost_model, max_cycles=max_cycles))


def limit(case_name: str, cost_model: str, fraction: Optional[float]) -> Optional[int]:
    """A max_cycles at ``fraction`` of the case's whole run (None: no limit)."""
    if fraction is None:
        return None
    return int(reference(case_name, cost_model)["cycles"] * fraction)


@functools.lru_cache(maxsize=None)
def expected_exit(case: Case) -> Optional[int]:
    for e in json.loads((GUESTS / "expected.json").read_text()):
        if e["program"] == case.program and tuple(e["args"]) == case.args \
                and e["stdin"].encode() == case.stdin:
            return e["exit_code"]
    return None


# -- hand-made programs ----------------------------------------------------------

ZERO, RA, SP, T0, T1, T2, S0, S1, A0, A1, A2, A7 = 0, 1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 17


def program(code: Sequence[bytes], name: str, data: bytes = bytes(8)) -> Program:
    """An ELF with ``code`` as text at TEXT and one R+W page at DATA starting with ``data``."""
    return Program(asm_elf(b"".join(code), data=data, bss=PAGE - len(data)), name=name)


def lrsc_program(width: str) -> Program:
    """Stores 41 at DATA, then LR; four ALU ops; SC of value+1. Exits with the SC result."""
    return program([
        lui(A0, DATA >> 12),
        addi(T0, ZERO, 41),
        sd(T0, A0, 0),
        lr(width, T0, A0),          # reservation set from here ...
        addi(T0, T0, 1),
        addi(T2, T2, 3),
        addi(T2, T2, 5),
        addi(T2, T2, 7),
        sc(width, T1, T0, A0),      # ... to here
        exit_with(T1),
    ], name=f"lrsc_{width}")


def hostcall_program() -> Program:
    """Two host calls (syscall 500 with a0 = 1, then 2); exits with the sum of their results."""
    return program([
        addi(S0, ZERO, 0),
        lui(S1, DATA >> 12),
        addi(A7, ZERO, 500),
        addi(A0, ZERO, 1),
        ECALL,
        add(S0, S0, A0),
        sd(S0, S1, 0),              # dirties the data page between the calls
        addi(A7, ZERO, 500),
        addi(A0, ZERO, 2),
        ECALL,
        add(S0, S0, A0),
        exit_with(S0),
    ], name="hostcall")


def write_program() -> Program:
    """Writes "ERR" to stderr, "out.." to stdout, "ER" to stderr, "outt" to stdout; exits 0."""
    words = []
    for fd, off, n in ((2, 0, 3), (1, 3, 5), (2, 8, 2), (1, 10, 4)):
        words += [addi(A0, ZERO, fd), lui(A1, DATA >> 12), addi(A1, A1, off), addi(A2, ZERO, n),
                  addi(A7, ZERO, 64), ECALL]
    return program([*words, exit_with(ZERO)], name="writes", data=b"ERRout..ERoutt")


# -- the core property: any schedule of slices, snapshots and restores ------------

# (budget, snapshot: none/full/incremental, migrate: none/from chain/compacted/latest full)
_budgets = st.one_of(st.integers(0, 64), st.integers(0, 5_000), st.integers(0, 400_000))
_steps = st.lists(st.tuples(_budgets, st.sampled_from(["none", "full", "inc", "inc"]),
                            st.sampled_from([None, None, "chain", "compact", "full"])),
                  max_size=10)


def run_schedule(case_name: str, cost_model: str, steps: Sequence[tuple[int, str, Optional[str]]],
                 max_cycles: Optional[int] = None) -> dict[str, Any]:
    """Run a case following ``steps``; return the final observation.

    After each slice a snapshot may be taken (encoded and decoded) and the
    run may move to a fresh machine restored from the current chain, its
    compaction, or the chain's full base only (which rewinds the run).
    Every restored machine must equal the machine at the snapshot's moment.
    """
    case = CASES[case_name]
    m = case.machine(cost_model, max_cycles=max_cycles)
    chain: list[tuple[Snapshot, dict[str, Any]]] = []     # (snapshot, state when taken)
    for budget, action, migrate in steps:
        before = m.cycles
        r = m.run(budget)
        assert r.used <= budget and r.cycles == before + r.used == m.cycles
        if action == "full":
            chain = [(roundtrip(m.snapshot()), observe(m))]
        elif action == "inc":
            s = roundtrip(m.snapshot(incremental=True))
            if chain:
                assert s.parent == chain[-1][0].id
                chain.append((s, observe(m)))
            else:       # the machine's first snapshot is a full one
                assert s.parent is None
                chain = [(s, observe(m))]
        if migrate and chain:
            if migrate == "chain":
                source: Any = [s for s, _ in chain]
                expect = chain[-1][1]
            elif migrate == "compact":
                source = roundtrip(Snapshot.compact([s for s, _ in chain]))
                assert source.id == chain[-1][0].id and source.parent is None
                expect = chain[-1][1]
                chain = [(source, expect)]
            else:
                source, expect = chain[0]
                chain = chain[:1]
            m = Machine.restore(guest(case.program), source)
            assert observe(m) == expect
            event(f"restored from {migrate} ({expect['state']})")
    return finish(m)


def check_schedule(case_name: str, cost_model: str, steps, fraction: Optional[float] = None) -> None:
    max_cycles = limit(case_name, cost_model, fraction)
    got = run_schedule(case_name, cost_model, steps, max_cycles)
    want = reference(case_name, cost_model, max_cycles)
    assert got == want
    code = expected_exit(CASES[case_name])
    if code is not None and fraction is None:
        assert got["exit_code"] == code


# max_cycles: none, or a fraction of the whole run (the run then ends in CyclesExceeded)
_property = given(case_name=st.sampled_from(sorted(CASES)),
                  cost_model=st.sampled_from(["unit", "unit", "ckb"]), steps=_steps,
                  fraction=st.sampled_from([None, None, None, 0.0, 0.3, 0.999, 1.0]))


@_property
@example(case_name="upper", cost_model="ckb", steps=[(600, "full", None), (1, "inc", "chain"),
                                                     (2000, "inc", "compact"), (0, "inc", "chain")],
         fraction=None)
@example(case_name="rewrite_pages", cost_model="unit",
         steps=[(100_000, "full", None), (150_000, "inc", None), (200_000, "inc", "chain"),
                (50_000, "inc", "full"), (300_000, "inc", "compact")], fraction=None)
@example(case_name="hello", cost_model="unit", steps=[(10**6, "inc", "chain"), (5, "inc", "compact")],
         fraction=None)
@example(case_name="intloop", cost_model="ckb", steps=[(10**6, "full", "full"), (1, "inc", "chain")],
         fraction=0.3)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_schedule_of_snapshots_ends_like_one_run(case_name, cost_model, steps, fraction):
    check_schedule(case_name, cost_model, steps, fraction)


@pytest.mark.slow
@_property
@settings(max_examples=int(os.environ.get("RVDIST_PROPERTY_EXAMPLES", "2000")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_any_schedule_of_snapshots_ends_like_one_run_many(case_name, cost_model, steps, fraction):
    check_schedule(case_name, cost_model, steps, fraction)


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_reference_runs_match_expected(case_name):
    """The uninterrupted runs the property compares against succeed."""
    ref = reference(case_name, "unit")
    assert ref["state"] == "exited"
    code = expected_exit(CASES[case_name])
    assert ref["exit_code"] == (0 if code is None else code)


# -- fresh process ---------------------------------------------------------------

_RESUME = r"""
import hashlib, json, sys
from rvdist import Machine, Program, Snapshot
prog = Program.from_file(sys.argv[1])
snaps = [Snapshot.load(p) for p in sys.argv[2:]]
m = Machine.restore(prog, snaps)
r = m.run()
json.dump({
    "state": m.state, "exit_code": m.exit_code, "stdout": m.stdout.hex(), "stderr": m.stderr.hex(),
    "cycles": m.cycles, "pc": m.pc, "registers": list(m.registers),
    "stdin_position": m.stdin_position, "brk": m.brk,
    "memory": hashlib.sha256(m.read_memory(0, m.memory_size)).hexdigest(),
}, sys.stdout)
"""


@pytest.mark.parametrize("case_name,cost_model,cut,chained", [
    ("memsort_64k", "ckb", 777_777, False),
    ("upper", "unit", 500, True),
    ("rewrite_pages", "unit", 300_000, True),
])
def test_resume_in_a_fresh_process(tmp_path, case_name, cost_model, cut, chained):
    case = CASES[case_name]
    m = case.machine(cost_model)
    paths = []
    if chained:
        m.run(cut // 2)
        m.snapshot().save(tmp_path / "base.snap")
        paths.append(tmp_path / "base.snap")
        m.run(cut - m.cycles)
        m.snapshot(incremental=True).save(tmp_path / "inc.snap")
        paths.append(tmp_path / "inc.snap")
    else:
        m.run(cut)
        m.snapshot().save(tmp_path / "full.snap")
        paths.append(tmp_path / "full.snap")
    assert m.state == "ready" and m.cycles <= cut
    proc = subprocess.run([sys.executable, "-c", _RESUME, str(GUESTS / case.program),
                           *map(str, paths)], capture_output=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    got = json.loads(proc.stdout)
    want = reference(case_name, cost_model)
    assert got == {"state": want["state"], "exit_code": want["exit_code"],
                   "stdout": want["stdout"].hex(), "stderr": want["stderr"].hex(),
                   "cycles": want["cycles"], "pc": want["pc"], "registers": want["registers"],
                   "stdin_position": want["stdin_position"], "brk": want["brk"],
                   "memory": want["memory"]}


# -- LR/SC across a snapshot -------------------------------------------------------

@pytest.mark.parametrize("width", ["w", "d"])
def test_reservation_survives_a_snapshot_between_lr_and_sc(width):
    prog = lrsc_program(width)
    ref = Machine(prog)
    assert ref.run().exit_code == 0                     # SC succeeded
    assert ref.read_memory(DATA, 8) == (42).to_bytes(8, "little")

    m = Machine(prog)
    reserved_at = []
    while m.state == "ready":
        s = roundtrip(m.snapshot())
        if s.header["state"]["reservation"] != NO_RESERVATION:
            reserved_at.append(m.pc)
            assert s.header["state"]["reservation"] == DATA
        m = Machine.restore(prog, s)                   # migrate at every instruction boundary
        m.run(1)
    assert len(reserved_at) == 5                        # after the LR and each of the 4 ALU ops
    assert observe(m) == observe(ref)


@pytest.mark.parametrize("width", ["w", "d"])
def test_losing_the_reservation_would_be_seen(width):
    """Control: a snapshot whose reservation is cleared makes the SC fail, so the
    test above really checks that the reservation travels with the snapshot."""
    prog = lrsc_program(width)
    m = Machine(prog)
    m.run(5)                                            # just past the LR
    snap = m.snapshot()
    assert snap.header["state"]["reservation"] == DATA
    header = edited(snap)
    header["state"]["reservation"] = NO_RESERVATION
    lost = Machine.restore(prog, reencode(snap, header))
    assert lost.run().exit_code == 1
    assert Machine.restore(prog, snap).run().exit_code == 0


def test_lrsc_counter_with_a_migration_inside_each_reserved_window():
    case = Case("c/lrsc_counter.elf", ("20",))
    ref = finish(case.machine())
    m = case.machine()
    migrations = 0
    while m.state == "ready":
        m.run(1)
        s = m.snapshot(incremental=True)
        if s.header["state"]["reservation"] != NO_RESERVATION:
            m = Machine.restore(guest(case.program), Snapshot.compact([roundtrip(m.snapshot())]))
            migrations += 1
    assert migrations > 40                              # both LR.W and LR.D loops, every iteration
    assert observe(m) == ref
    assert b"sc_retries=0" in m.stdout


# -- the same page written in several slices, brk, stdin ------------------------------

def test_rewrite_pages_chain_of_increments():
    case = CASES["rewrite_pages"]
    m = case.machine()
    chain: list[Snapshot] = []
    seen: dict[int, int] = {}
    zero_pages = 0
    while m.state == "ready":
        m.run(25_000)
        s = roundtrip(m.snapshot(incremental=True))
        chain.append(s)
        for p in memoryview(s.data_pages).cast("I"):
            seen[p] = seen.get(p, 0) + 1
        zero_pages += s.info()["zero_pages"]
        here = observe(m)
        assert observe(Machine.restore(guest(case.program), chain)) == here
        assert observe(Machine.restore(guest(case.program), roundtrip(Snapshot.compact(chain)))) == here
    assert max(seen.values()) >= 4                      # the same page, in at least 4 increments
    assert zero_pages > 0                               # phase 4 zeroes pages that held data
    assert observe(m) == reference("rewrite_pages", "unit")


def test_brkgrow_restored_mid_growth():
    case = CASES["brkgrow"]
    m = case.machine()
    start = m.brk
    breaks = set()
    while m.state == "ready":
        m.run(333_333)
        s = roundtrip(m.snapshot())
        assert s.header["state"]["brk"][0] == m.brk
        breaks.add(m.brk)
        m = Machine.restore(guest(case.program), s)
        assert m.brk == s.header["state"]["brk"][0]
    assert len(breaks) >= 3 and max(breaks) > start
    assert observe(m) == reference("brkgrow", "unit")


def test_upper_reads_stdin_and_prints_between_slices():
    case = CASES["upper"]
    m = case.machine()
    chain: list[Snapshot] = []
    positions = set()
    printed = 0
    while m.state == "ready":
        m.run(97)
        s = roundtrip(m.snapshot(incremental=bool(chain)))
        out, err, stdin = s.io()
        if chain:
            assert stdin is None                        # stdin travels in the full base only
            assert out == m.stdout[printed:]            # only the output since the parent
        else:
            assert stdin == UPPER_STDIN and out == m.stdout
        assert err == b""
        printed = len(m.stdout)
        chain.append(s)
        positions.add(m.stdin_position)
        restored = Machine.restore(guest(case.program), chain)
        assert restored.stdin == UPPER_STDIN
        assert restored.stdin_position == m.stdin_position
        assert restored.stdout == m.stdout
        m = restored
    assert len(positions) > 10 and max(positions) == len(UPPER_STDIN)
    assert observe(m) == reference("upper", "unit")
    assert m.stdout == UPPER_STDIN.upper()


def test_stdout_and_stderr_are_split_between_increments():
    prog = write_program()
    ref = Machine(prog)
    ref.run()
    assert (ref.stdout, ref.stderr, ref.exit_code) == (b"out..outt", b"ERRER", 0)
    m = Machine(prog)
    chain: list[Snapshot] = []
    parts = []
    while m.state == "ready":
        m.run(1)
        s = roundtrip(m.snapshot(incremental=True))
        chain.append(s)
        parts.append(s.io()[:2])
        for source in (chain, Snapshot.compact(chain)):
            r = Machine.restore(prog, source)
            assert (r.stdout, r.stderr) == (m.stdout, m.stderr)
            assert observe(r) == observe(m)
    assert b"".join(p[0] for p in parts) == m.stdout == ref.stdout
    assert b"".join(p[1] for p in parts) == m.stderr == ref.stderr
    assert ref.stdout and ref.stderr and observe(m) == observe(ref)


# -- incremental semantics -------------------------------------------------------------

def _mid(case_name: str = "rewrite_pages", cycles: int = 200_000) -> Machine:
    m = CASES[case_name].machine()
    assert m.run(cycles).state == "budget"
    return m


def test_first_incremental_snapshot_is_full():
    m = _mid()
    s = m.snapshot(incremental=True)
    assert s.parent is None and not s.incremental
    assert s.info() == m.snapshot().info() | {"id": s.info()["id"]}


def test_snapshot_right_after_a_snapshot_holds_no_pages():
    m = _mid()
    full = m.snapshot()
    again = m.snapshot(incremental=True)
    info = again.info()
    assert again.parent == full.id and again.incremental
    assert info["data_pages"] == info["zero_pages"] == info["pages"] == 0
    assert info["page_bytes"] == info["compressed_page_bytes"] == 0 and info["ratio"] is None
    assert again.io() == (b"", b"", None)
    assert observe(Machine.restore(guest("c/rewrite_pages.elf"), [full, again])) == observe(m)


def test_one_dirty_page_gives_one_page():
    m = _mid()
    full = m.snapshot()
    addr = 0x200000 + 123                              # heap, never touched by the guest
    m.write_memory(addr, b"\x01")
    one = m.snapshot(incremental=True)
    assert one.info()["data_pages"] == 1 and one.info()["zero_pages"] == 0
    assert list(memoryview(one.data_pages).cast("I")) == [addr // PAGE]
    m.write_memory(addr, b"\x00")                      # back to all zeros: one zero page
    zero = m.snapshot(incremental=True)
    assert zero.info()["data_pages"] == 0 and zero.info()["zero_pages"] == 1
    assert list(memoryview(zero.zero_pages).cast("I")) == [addr // PAGE]
    for source in ([full, one, zero], Snapshot.compact([full, one, zero]), m.snapshot()):
        assert observe(Machine.restore(guest("c/rewrite_pages.elf"), source)) == observe(m)
    r = Machine.restore(guest("c/rewrite_pages.elf"), [full, one])
    assert r.read_memory(addr, 1) == b"\x01"


@pytest.mark.parametrize("offset", [0, 7, 8, 15, 16, 127, 128, 511, 512, 2048, 4088, 4095])
def test_a_page_with_one_nonzero_byte_anywhere_holds_data(offset):
    """The core ORs a page in 16-byte vectors, 128 bytes a step, 512 bytes a
    stride: a single set bit in any lane, step or stride must count."""
    m = _mid()
    m.snapshot()
    base = 0x200000
    for bit in (0x01, 0x80):
        m.write_memory(base, bytes(PAGE))
        m.write_memory(base + offset, bytes([bit]))
        one = m.snapshot(incremental=True)
        assert list(memoryview(one.data_pages).cast("I")) == [base // PAGE], (offset, bit)
        assert one.info()["zero_pages"] == 0


def test_full_chain_and_compacted_restores_are_identical():
    m = CASES["memsort_64k"].machine("ckb")
    chain = []
    for i in range(6):
        m.run(150_000)
        chain.append(roundtrip(m.snapshot(incremental=True)))
    full = roundtrip(m.snapshot())                      # (a full one after the increments)
    compacted = roundtrip(Snapshot.compact(chain))
    here = observe(m)
    for source in (chain, compacted, [compacted], full):
        r = Machine.restore(guest("c/memsort.elf"), source)
        assert observe(r) == here
        assert finish(r) == reference("memsort_64k", "ckb")
    assert compacted.info()["pages"] == full.info()["pages"]
    assert compacted.info()["data_pages"] == full.info()["data_pages"]
    assert compacted.io() == full.io()
    assert compacted.header["state"] == full.header["state"]


def test_compacted_snapshot_keeps_the_last_id():
    prog = guest("c/rewrite_pages.elf")
    m = _mid(cycles=100_000)
    chain = [m.snapshot()]
    for _ in range(3):
        m.run(50_000)
        chain.append(m.snapshot(incremental=True))
    compacted = Snapshot.compact(chain)
    assert compacted.id == chain[-1].id and compacted.parent is None
    m.run(60_000)
    nxt = m.snapshot(incremental=True)
    assert nxt.parent == compacted.id
    here = observe(m)
    assert observe(Machine.restore(prog, [compacted, nxt])) == here
    assert observe(Machine.restore(prog, [*chain, nxt])) == here
    # a machine restored from the compaction chains its own increments on it
    r = Machine.restore(prog, compacted)
    r.run(60_000)
    after = r.snapshot(incremental=True)
    assert after.parent == compacted.id
    assert observe(Machine.restore(prog, [compacted, after])) == observe(r) == here
    assert Snapshot.compact([compacted, after]).id == after.id


def _chain(n: int = 3) -> tuple[Program, list[Snapshot]]:
    m = _mid(cycles=100_000)
    chain = [m.snapshot()]
    for _ in range(n - 1):
        m.run(40_000)
        chain.append(m.snapshot(incremental=True))
    return guest("c/rewrite_pages.elf"), chain


@pytest.mark.parametrize("order,fragment", [
    ("empty", "empty"),
    ("no_base", "full base"),
    ("skip", "broken snapshot chain"),
    ("reversed", "full base"),
    ("swapped", "broken snapshot chain"),
    ("repeat", "broken snapshot chain"),
    ("two_bases", "broken snapshot chain"),
])
def test_chain_order_violations(order, fragment):
    prog, (full, a, b) = _chain(3)
    other = _mid().snapshot()
    chain = {
        "empty": [],
        "no_base": [a, b],
        "skip": [full, b],
        "reversed": [b, a, full],
        "swapped": [full, b, a],
        "repeat": [full, a, a, b],
        "two_bases": [full, other],
    }[order]
    with pytest.raises(SnapshotError, match=fragment):
        Machine.restore(prog, chain)
    with pytest.raises(SnapshotError, match=fragment):
        Snapshot.compact(chain)


def test_chain_of_another_run_is_refused():
    """An increment of one run cannot continue a base of another run of the same program."""
    prog, (full, a, _) = _chain(3)
    _, (full2, a2, _) = _chain(3)
    with pytest.raises(SnapshotError, match="broken snapshot chain"):
        Machine.restore(prog, [full, a2])
    with pytest.raises(SnapshotError, match="broken snapshot chain"):
        Machine.restore(prog, [full2, a])


# -- host calls ------------------------------------------------------------------------

def test_snapshot_refused_while_a_host_call_is_pending():
    """Handlers are not part of a snapshot: register them again on the restored machine."""
    prog = hostcall_program()

    def ref_handler(mm):
        return 10 * mm.registers["a0"]

    ref = Machine(prog)
    ref.on_syscall(500, ref_handler)
    assert ref.run().exit_code == 30

    m = Machine(prog)
    m.on_syscall(500, lambda mm: SUSPEND)
    r = m.run()
    assert r.state == "host_call" and r.syscall == 500 and m.state == "host_call"
    with pytest.raises(SnapshotError, match="host call 500 is pending"):
        m.snapshot()
    with pytest.raises(SnapshotError, match="pending"):
        m.snapshot(incremental=True)
    assert m.state == "host_call"                       # a refused snapshot changes nothing
    m.complete_host_call(10)
    snap = roundtrip(m.snapshot())
    assert snap.header["state"]["status"] == "ready"

    restored = Machine.restore(prog, snap)
    assert observe(restored) == observe(m)
    restored.on_syscall(500, ref_handler)              # not carried by the snapshot
    assert finish(restored) == observe(ref)

    # without registering the handler again, the next call is unsupported
    bare = Machine.restore(prog, snap)
    r = bare.run()
    assert bare.state == "error" and isinstance(bare.error, UnsupportedSyscall)
    assert bare.error.number == 500


def test_incremental_snapshot_after_completing_a_host_call():
    prog = hostcall_program()
    m = Machine(prog)
    m.on_syscall(500, lambda mm: SUSPEND)
    base = m.snapshot()
    assert m.run().state == "host_call"
    m.complete_host_call(7)
    inc1 = m.snapshot(incremental=True)
    assert m.run().state == "host_call"                 # second call; the data page is dirty now
    with pytest.raises(SnapshotError):
        m.snapshot(incremental=True)
    m.complete_host_call(5)
    inc2 = m.snapshot(incremental=True)
    assert inc2.info()["data_pages"] == 1
    r = Machine.restore(prog, [roundtrip(base), roundtrip(inc1), roundtrip(inc2)])
    assert observe(r) == observe(m)
    assert r.run().exit_code == m.run().exit_code == 12


def test_run_result_of_an_unhandled_syscall_is_error():
    """(Was a bug before 04bf3e4: run() said 'host_call' while the machine was in error.)"""
    m = Machine(guest("faults/ecall_unsupported.elf"))
    r = m.run()
    assert m.state == "error"
    assert r.state == "error" and isinstance(r.error, UnsupportedSyscall)


# -- finished machines ----------------------------------------------------------------

def test_snapshot_of_an_exited_machine():
    case = CASES["hello"]
    m = case.machine()
    m.run()
    for snap in (m.snapshot(), Snapshot.compact([m.snapshot(), m.snapshot(incremental=True)])):
        r = Machine.restore(guest(case.program), roundtrip(snap))
        assert observe(r) == observe(m)
        assert r.state == "exited" and r.exit_code == 5
        res = r.run()
        assert res.state == "exited" and res.exit_code == 5 and res.used == 0


@pytest.mark.parametrize("fault", ["store_text", "exec_data", "load_oob", "store_high", "store_rodata",
                                   "amo_misaligned", "csr", "zero_insn", "ebreak", "c_ebreak",
                                   "ecall_unsupported"])
def test_snapshot_of_an_errored_machine(fault):
    prog = guest(f"faults/{fault}.elf")
    m = Machine(prog)
    m.run()
    m.run()
    assert m.state == "error"
    r = Machine.restore(prog, roundtrip(m.snapshot()))
    assert observe(r) == observe(m)
    assert type(r.error) is type(m.error) and r.error.to_dict() == m.error.to_dict()
    res = r.run()
    assert res.state == "error" and res.used == 0 and res.error.to_dict() == m.error.to_dict()


def test_snapshot_of_an_output_limited_machine():
    prog = guest("faults/write_forever.elf")
    m = Machine(prog, output_limit=1000)
    assert m.run().state == "error" and m.error.kind == "output_limit"
    r = Machine.restore(prog, roundtrip(m.snapshot()))
    assert observe(r) == observe(m) and len(r.stdout) == 1000 - 1000 % 20
    assert r.error.to_dict() == m.error.to_dict()


def test_snapshot_of_a_cycles_exceeded_machine():
    case = CASES["intloop"]
    m = case.machine(max_cycles=50_000)
    assert m.run().state == "error"
    snap = roundtrip(m.snapshot())
    r = Machine.restore(guest(case.program), snap)
    assert observe(r) == observe(m) and r.error.kind == "cycles_exceeded"
    r.max_cycles = None                                 # raising the limit resumes it
    assert finish(r) == reference("intloop", "unit") | {"max_cycles": None}


def test_restore_with_a_higher_max_cycles_resumes_a_cycles_exceeded_snapshot():
    case = CASES["intloop"]
    m = case.machine(max_cycles=50_000)
    m.run()
    r = Machine.restore(guest(case.program), m.snapshot(), max_cycles=None)
    assert r.state == "ready"
    assert finish(r) == reference("intloop", "unit")


def test_snapshot_of_a_machine_whose_handler_raised():
    prog = guest("faults/ecall_unsupported.elf")
    m = Machine(prog)
    m.on_syscall(1234, lambda mm: 1 // 0)
    m.run()
    assert m.state == "error" and m.error.kind == "host_call_error"
    r = Machine.restore(prog, roundtrip(m.snapshot()))
    assert r.state == "error" and r.error.pc == m.error.pc
    assert r.error.kind == m.error.kind
    assert r.error.to_dict() == m.error.to_dict()


# -- refusals ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mid_snapshot() -> tuple[Program, Snapshot, dict[str, Any]]:
    m = CASES["upper"].machine("ckb")
    m.run(4_000)
    assert m.state == "ready" and m.stdout
    return guest("c/upper.elf"), roundtrip(m.snapshot()), observe(m)


def test_restore_refuses_another_program(mid_snapshot):
    _, snap, _ = mid_snapshot
    with pytest.raises(SnapshotError, match="not of 'hello.elf'") as info:
        Machine.restore(guest("c/hello.elf"), snap)
    assert "upper.elf" in str(info.value)
    # the same program from bytes or a path is fine: only the digest counts
    data = (GUESTS / "c/upper.elf").read_bytes()
    for source in (data, str(GUESTS / "c/upper.elf"), Program(data, name="renamed")):
        assert Machine.restore(source, snap).pc == snap.header["state"]["pc"]


def test_restore_refuses_another_program_in_a_chain():
    prog, (full, a, b) = _chain(3)
    header = edited(b)
    header["program"]["digest"] = guest("c/hello.elf").digest
    with pytest.raises(SnapshotError, match="not of"):
        Machine.restore(prog, [full, a, reencode(b, header)])


@pytest.mark.parametrize("version", [0, 2, 99])
def test_restore_refuses_another_core_version(mid_snapshot, version):
    prog, snap, _ = mid_snapshot
    header = edited(snap)
    header["core_version"] = version
    forged = reencode(snap, header)                     # decodes: the format is the same
    with pytest.raises(SnapshotError, match=f"core version {version}"):
        Machine.restore(prog, forged)


def test_restore_refuses_another_isa(mid_snapshot):
    prog, snap, _ = mid_snapshot
    header = edited(snap)
    header["isa"] = "rv64gc"
    with pytest.raises(SnapshotError, match="ISA"):
        Machine.restore(prog, reencode(snap, header))


@pytest.mark.parametrize("version", [0, 1, 2, 4, 0xFFFFFFFF])
def test_from_bytes_refuses_another_format_version(mid_snapshot, version):
    _, snap, _ = mid_snapshot
    data = bytearray(snap.to_bytes())
    struct.pack_into("<I", data, 8, version)
    with pytest.raises(SnapshotError, match=f"format version {version}"):
        Snapshot.from_bytes(bytes(data))


@pytest.mark.parametrize("what", ["memory_size", "costs"])
@pytest.mark.parametrize("link", [1, 2])
@pytest.mark.parametrize("use", ["restore", "compact"])
def test_a_chain_with_another_configuration_is_refused(what, link, use):
    prog, chain = _chain(3)
    header = edited(chain[link])
    if what == "memory_size":
        header["config"]["memory_size"] = 8 * MiB
    else:
        header["config"]["costs"] = [3] * len(header["config"]["costs"])
    chain[link] = reencode(chain[link], header)
    with pytest.raises(SnapshotError, match="different machine configuration"):
        Machine.restore(prog, chain) if use == "restore" else Snapshot.compact(chain)
    with pytest.raises(SnapshotError):
        Snapshot.compact(chain)


def test_restore_refuses_a_configuration_the_program_does_not_fit(mid_snapshot):
    prog, snap, _ = mid_snapshot
    header = edited(snap)
    header["config"]["memory_size"] = 16 * PAGE          # the image needs more (0x10000..)
    header["pages"]["data"] = header["pages"]["zero"] = 0  # (so that the rest still fits in it)
    header["pages"]["chunks"] = []
    header["state"]["brk"] = [8 * PAGE] * 3
    forged = Snapshot.from_bytes(Snapshot(header, b"", b"", snap.io_block, [], snap.os_block).to_bytes())
    with pytest.raises(SnapshotError, match="incompatible snapshot configuration"):
        Machine.restore(prog, forged)


def test_bad_checksum_is_refused(mid_snapshot):
    _, snap, _ = mid_snapshot
    data = bytearray(snap.to_bytes())
    data[-1] ^= 0x10
    with pytest.raises(SnapshotError, match="checksum"):
        Snapshot.from_bytes(bytes(data))
    data = bytearray(snap.to_bytes())
    data[len(data) // 2] ^= 0x01                        # a header byte of this small snapshot
    with pytest.raises(SnapshotError):
        Snapshot.from_bytes(bytes(data))


def test_max_cycles_override_on_restore(mid_snapshot):
    prog, snap, here = mid_snapshot
    ref = reference("upper", "ckb")
    assert snap.header["config"]["max_cycles"] is None
    kept = Machine.restore(prog, snap)
    assert kept.max_cycles is None
    limit = here["cycles"] + 5_000
    capped = Machine.restore(prog, snap, max_cycles=limit)
    assert capped.max_cycles == limit and observe(capped) == here | {"max_cycles": limit}
    r = capped.run()
    assert r.state == "error" and r.error.kind == "cycles_exceeded"
    assert here["cycles"] < capped.cycles <= limit
    # a limited machine's snapshot keeps its limit; restore can lift it
    limited = Machine.restore(prog, roundtrip(capped.snapshot()))
    assert limited.max_cycles == limit and limited.state == "error"
    lifted = Machine.restore(prog, snap, max_cycles=None)
    assert finish(lifted) == ref
    m = CASES["upper"].machine("ckb", max_cycles=ref["cycles"] + 1)
    m.run(100)
    assert Machine.restore(prog, m.snapshot()).max_cycles == ref["cycles"] + 1
    assert Machine.restore(prog, m.snapshot(), max_cycles=None).max_cycles is None


def test_output_limit_override_on_restore(mid_snapshot):
    prog, snap, here = mid_snapshot
    r = Machine.restore(prog, snap, output_limit=len(here["stdout"]))
    assert r.stdout == here["stdout"]                   # what was captured stays
    res = r.run()
    assert res.state == "error" and res.error.kind == "output_limit"


def test_highly_compressible_io_round_trips():
    """Output and stdin at lz4's best ratio (~255:1) are legitimate, not a decompression bomb."""
    prog = guest("faults/write_forever.elf")
    m = Machine(prog, output_limit=16 * MiB, stdin=bytes(32 * MiB))
    assert m.run().error.kind == "output_limit"
    snap = roundtrip(m.snapshot())
    assert snap.header["io"]["io_block"] * 250 < 48 * MiB
    r = Machine.restore(prog, snap)
    assert r.stdout == m.stdout and len(r.stdout) > 16 * MiB - 20 and r.stdin == bytes(32 * MiB)
    inc = roundtrip(Snapshot.compact([snap, roundtrip(m.snapshot(incremental=True))]))
    assert Machine.restore(prog, inc).stdout == m.stdout


def test_save_and_load(tmp_path, mid_snapshot):
    prog, snap, here = mid_snapshot
    path = tmp_path / "x.snap"
    snap.save(path)
    assert path.read_bytes() == snap.to_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["x.snap"]     # no temporary left behind
    loaded = Snapshot.load(path)
    assert loaded.header == snap.header and loaded.to_bytes() == snap.to_bytes()
    assert observe(Machine.restore(prog, loaded)) == here
    snap.save(path)                                     # overwriting is fine
    assert Snapshot.load(str(path)).to_bytes() == snap.to_bytes()


def test_load_and_save_errors(tmp_path, mid_snapshot):
    _, snap, _ = mid_snapshot
    with pytest.raises(SnapshotError, match="cannot read"):
        Snapshot.load(tmp_path / "missing.snap")
    with pytest.raises(SnapshotError, match="cannot read"):
        Snapshot.load(tmp_path)                         # a directory
    with pytest.raises(SnapshotError, match="cannot write"):
        snap.save(tmp_path / "no" / "such" / "dir.snap")
    big = tmp_path / "big.snap"
    snap.save(big)
    with pytest.raises(SnapshotError, match="accepted"):
        Snapshot.load(big, max_size=100)
    (tmp_path / "empty.snap").write_bytes(b"")
    with pytest.raises(SnapshotError):
        Snapshot.load(tmp_path / "empty.snap")


def test_info_fields():
    m = CASES["memsort_256k"].machine()
    m.run(3_000_000)
    full = m.snapshot()
    m.run(200_000)
    inc = m.snapshot(incremental=True)
    for s in (full, inc, Snapshot.compact([full, inc])):
        info = s.info()
        d = roundtrip(s)
        assert d.info() == info
        assert info["encoded_bytes"] == len(s.to_bytes())
        assert info["id"] == s.id and info["parent"] == s.parent
        assert info["incremental"] == (s.parent is not None)
        assert info["format_version"] == FORMAT_VERSION == 3 and info["core_version"] == s.header["core_version"]
        assert info["program"]["digest"] == guest("c/memsort.elf").digest
        assert info["program"]["name"] == "memsort.elf"
        assert info["memory_size"] == 8 * MiB and info["cost_model"] == "unit"
        assert info["status"] == "ready" and info["cycles"] == s.cycles
        assert info["pages"] == info["data_pages"] + info["zero_pages"]
        assert info["data_pages"] == len(s.data_pages) // 4
        assert info["zero_pages"] == len(s.zero_pages) // 4
        assert info["page_bytes"] == PAGE * info["data_pages"]
        assert info["compressed_page_bytes"] == sum(len(c) for c in s.chunks)
        assert info["ratio"] == round(info["page_bytes"] / info["compressed_page_bytes"], 3)
        assert info["stdout_bytes"] == info["stderr_bytes"] == 0     # memsort prints at the end
        assert info["encoded_bytes"] < info["page_bytes"] + 16384
    assert full.info()["data_pages"] > 64 > inc.info()["data_pages"] > 0   # 256 KiB of array
    assert full.info()["ratio"] >= 1.0
    # a page of zeros compresses: a much better ratio than the random array
    z = CASES["hello"].machine()
    z.run(50)
    z.write_memory(0x100000, b"\x00" * (8 * PAGE - 1) + b"\x01")
    zi = z.snapshot().info()
    assert zi["zero_pages"] == 7
    assert zi["ratio"] > 3


def test_state_is_restored_field_by_field(mid_snapshot):
    prog, snap, here = mid_snapshot
    r = Machine.restore(prog, snap)
    st_ = snap.header["state"]
    assert r.pc == st_["pc"] == here["pc"]
    assert list(r.registers) == st_["x"] == here["registers"]
    assert r.cycles == st_["cycles"] and r.stdin_position == st_["stdin_pos"]
    assert r.brk == st_["brk"][0]
    assert r.cost_model == "ckb" and r.cost_table == Machine(prog, cost_model="ckb").cost_table
    assert r.memory_size == snap.header["config"]["memory_size"]
    assert r.state == "ready" and r.stdout == here["stdout"] and r.stdin == UPPER_STDIN


def test_restore_does_not_change_the_snapshots(mid_snapshot):
    prog, snap, here = mid_snapshot
    before = (json.dumps(snap.header), snap.to_bytes())
    r = Machine.restore(prog, snap)
    r.run()
    assert (json.dumps(snap.header), snap.to_bytes()) == before
    assert observe(Machine.restore(prog, snap)) == here


def test_a_fresh_snapshot_pickles(mid_snapshot):
    """Snapshots travel between processes (Ray pickles them)."""
    prog, snap, here = mid_snapshot
    m = Machine.restore(prog, snap)
    fresh = m.snapshot()
    back = pickle.loads(pickle.dumps(fresh))
    assert back.to_bytes() == fresh.to_bytes()
    assert observe(Machine.restore(prog, back)) == here


def test_a_decoded_snapshot_pickles(mid_snapshot):
    prog, snap, here = mid_snapshot
    decoded = Snapshot.from_bytes(snap.to_bytes())
    for back in (pickle.loads(pickle.dumps(decoded)), copy.deepcopy(decoded)):
        assert back.to_bytes() == snap.to_bytes()
        assert observe(Machine.restore(prog, back)) == here


def test_a_decoded_snapshot_does_not_alias_the_callers_buffer(mid_snapshot):
    prog, snap, here = mid_snapshot
    buf = bytearray(snap.to_bytes())
    decoded = Snapshot.from_bytes(buf)
    buf[-10] ^= 0xFF                                    # inside the last page block
    assert observe(Machine.restore(prog, decoded)) == here
    buf.clear()                                        # the caller reuses its buffer
    assert decoded.to_bytes() == snap.to_bytes()


def test_snapshot_error_is_an_rverror():
    assert issubclass(SnapshotError, RvError) and SnapshotError("x").to_dict()["kind"] == "snapshot"


# -- restoring fast: reused memory, CRC hardware, one pass over the blocks --------------------
#
# Restores reuse the memory of freed machines (a pool in the core), skip zeroing
# the pages a snapshot overwrites, check the CRC-32 of stored page blocks while
# copying them in, and know restored zero pages to be zero. None of it may ever
# show a machine an earlier machine's bytes or restore anything different.

from rvdist._core import ffi, lib  # noqa: E402
from rvdist.machine import set_memory_pool_limit  # noqa: E402
from support.elfgen import DATA, asm_elf
from support.guests import guest, memory_digest, observe
from support.rvasm import ECALL, add, addi, exit_with, lr, lui, sc, sd


@pytest.fixture
def pool():
    """The memory pool at its default limit, emptied first; put back afterwards."""
    old = set_memory_pool_limit(0)
    set_memory_pool_limit(lib.RV_POOL_DEFAULT_LIMIT)
    yield set_memory_pool_limit
    set_memory_pool_limit(old)


def _without_pool(make):
    """What ``make()`` gives on fresh memory from the kernel (the pool off)."""
    old = set_memory_pool_limit(0)
    try:
        return make()
    finally:
        set_memory_pool_limit(old)


def _scribble(m: Machine, seed: int) -> None:
    """Write random bytes over every page the guest may write, .data and .bss too."""
    rng = __import__("random").Random(seed)
    for seg in m.program.segments:
        if seg.writable:
            m.write_memory(seg.vaddr, rng.randbytes(seg.memsz))
    start = (m.program.image_end + PAGE - 1) // PAGE * PAGE
    m.write_memory(start, rng.randbytes(m.memory_size - start))


def _sparse_machine(size: int = 4 * MiB) -> Machine:
    """hello.elf with data pages, pages that were written and zeroed again, and
    pages of random (stored raw) and of compressible bytes."""
    m = Machine(guest("c/hello.elf"), memory_size=size)
    rng = __import__("random").Random(3)
    m.write_memory(MiB, rng.randbytes(200 * PAGE))                  # raw blocks
    m.write_memory(MiB + 210 * PAGE, b"text " * (5 * PAGE // 5))   # compressible
    m.write_memory(MiB + 220 * PAGE, b"\1" * (8 * PAGE))
    m.write_memory(MiB + 220 * PAGE, bytes(8 * PAGE))               # zero pages
    m.run(100)
    return m


@pytest.mark.parametrize("before", ["c/hello.elf", "c/memsort.elf"])
def test_a_new_machine_never_sees_an_earlier_machines_bytes(pool, before):
    prog = guest("c/hello.elf")
    expected = _without_pool(lambda: memory_digest(Machine(prog, memory_size=2 * MiB)))
    for seed in range(3):
        m = Machine(guest(before), memory_size=2 * MiB)
        _scribble(m, seed)
        del m
        assert lib.rv_pool_held() == 2 * MiB                         # kept for reuse...
        fresh = Machine(prog, memory_size=2 * MiB)
        assert lib.rv_pool_held() == 0                               # ...and reused
        assert memory_digest(fresh) == expected
        del fresh


@pytest.mark.parametrize("chain_length,before", [(1, "c/hello.elf"), (3, "c/hello.elf"), (1, "c/memsort.elf")])
def test_a_restore_into_reused_memory_is_exact(pool, chain_length, before):
    """Restoring skips zeroing the pages the snapshot overwrites: every other
    page must still come out clean, and the snapshot's pages exact."""
    m = _sparse_machine()
    chain = [m.snapshot()]
    for i in range(chain_length - 1):
        m.write_memory(MiB + (230 + i) * PAGE, b"\7" * PAGE)
        m.write_memory(MiB + i * PAGE, bytes(PAGE))                 # a data page becomes zero
        chain.append(m.snapshot(incremental=True))
    chain = [Snapshot.from_bytes(s.to_bytes()) for s in chain]
    prog = guest("c/hello.elf")
    expected = _without_pool(lambda: observe(Machine.restore(prog, chain)))
    assert expected["memory"] == memory_digest(m)
    for seed in range(3):
        dirty = Machine(guest(before), memory_size=4 * MiB)     # another program: other code pages
        _scribble(dirty, seed)
        del dirty
        r = Machine.restore(prog, chain)
        assert lib.rv_pool_held() == 0                                   # on the reused memory
        assert observe(r) == expected
        del r


def test_pages_known_zero_are_forgotten_once_written(pool):
    """A restored zero page is known to hold zeros, so that freeing the machine
    need not zero it again; writing it (by the host or the guest) must end that."""
    prog = guest("c/hello.elf")
    snap = Snapshot.from_bytes(_sparse_machine().snapshot().to_bytes())
    zero = list(memoryview(snap.zero_pages).cast("I"))
    assert len(zero) >= 8
    expected = _without_pool(lambda: memory_digest(Machine(prog, memory_size=4 * MiB)))
    r = Machine.restore(prog, snap)
    for p in zero:
        r.write_memory(p * PAGE + 100, b"not zero any more")
    del r
    assert memory_digest(Machine(prog, memory_size=4 * MiB)) == expected


def test_zeroing_dirty_pages_of_a_running_machine_forgets_nothing(pool):
    """rv_scatter_pages may zero pages a running guest writes without the core
    noticing (it stores straight to DIRTY pages): those must not count as zero."""
    case = CASES["memsort_64k"]
    prog = guest(case.program)
    expected = _without_pool(lambda: memory_digest(Machine(prog, memory_size=case.memory_size)))
    m = case.machine()
    m.run(200_000)
    npages = m.memory_size // PAGE
    data, zero = ffi.new("uint32_t[]", npages), ffi.new("uint32_t[]", npages)
    nd, nz = ffi.new("uint64_t *"), ffi.new("uint64_t *")
    lib.rv_list_pages(m.core, lib.RV_PAGE_DIRTY, data, nd, zero, nz)
    assert nd[0] > 8
    assert lib.rv_scatter_pages(m.core, data, nd[0], ffi.NULL) == 0
    m.run(2_000_000)                                   # sorts (zeros) on those pages again
    assert m.read_memory(data[nd[0] // 2] * PAGE, PAGE) != bytes(PAGE) or m.read_memory(
        data[nd[0] - 1] * PAGE, PAGE) != bytes(PAGE)
    del m
    assert memory_digest(Machine(prog, memory_size=case.memory_size)) == expected


def test_guests_leave_nothing_behind_in_reused_memory(pool):
    """Guests that write memory in every way the core knows (stores, AMOs, read()),
    run, snapshotted and restored, then freed: the next machine is clean."""
    for case in (CASES["memsort_64k"], CASES["lrsc_counter"], CASES["upper"], CASES["rewrite_pages"]):
        prog = guest(case.program)
        expected = _without_pool(lambda: memory_digest(Machine(prog, memory_size=case.memory_size)))
        m = case.machine()
        m.run(50_000)
        r = Machine.restore(prog, Snapshot.from_bytes(m.snapshot().to_bytes()))
        r.run()
        del m, r
        assert memory_digest(Machine(prog, memory_size=case.memory_size)) == expected, case


def test_the_pool_keeps_within_its_limit(pool):
    prog = guest("c/hello.elf")
    pool(3 * MiB)
    machines = [Machine(prog, memory_size=MiB) for _ in range(5)]
    del machines
    assert lib.rv_pool_held() == 3 * MiB                              # the oldest two went
    big = Machine(prog, memory_size=4 * MiB)
    del big                                                             # over the limit: unmapped
    assert lib.rv_pool_held() == 3 * MiB
    machines = [Machine(prog, memory_size=64 * PAGE) for _ in range(lib.RV_POOL_SLOTS + 3)]
    del machines
    assert lib.rv_pool_held() == lib.RV_POOL_SLOTS * 64 * PAGE        # at most RV_POOL_SLOTS
    assert pool(0) == 3 * MiB and lib.rv_pool_held() == 0
    del Machine(prog, memory_size=MiB).program
    assert lib.rv_pool_held() == 0                                     # off: nothing kept
    with pytest.raises(RvError, match="memory pool limit"):
        pool("plenty")


@pytest.mark.parametrize("setting,kept", [("0", 0), ("1MiB", 0), ("8MiB", 4 * MiB)])
def test_the_pool_limit_from_the_environment(setting, kept):
    code = ("import rvdist; from rvdist._core import lib\n"
            "m = rvdist.Machine(rvdist.Program.from_file(%r)); del m\n"
            "print(lib.rv_pool_held())" % str(GUESTS / "c" / "hello.elf"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "RVDIST_MEMORY_POOL": setting})
    assert int(out.stdout) == kept


def test_machines_come_and_go_from_many_threads(pool):
    """Python threads call the core without the GIL: the pool must hold up."""
    import threading
    prog = guest("c/hello.elf")
    pool(4 * MiB)                                                       # evicting all the time
    snap = Snapshot.from_bytes(_sparse_machine(MiB + 512 * PAGE).snapshot().to_bytes())
    expected = _without_pool(lambda: memory_digest(Machine.restore(prog, snap)))
    errors = []

    def work(seed: int) -> None:
        try:
            for i in range(30):
                m = Machine.restore(prog, snap)
                if memory_digest(m) != expected:
                    errors.append(f"thread {seed} round {i}: restored memory differs")
                _scribble(m, seed * 100 + i)
        except Exception as e:      # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def test_every_crc32_implementation_matches_zlib():
    import random
    import zlib
    rng = random.Random(11)
    best = lib.rv_crc32_level(-1)
    data = rng.randbytes(300_000)
    try:
        for level in range(best + 1):
            if lib.rv_crc32_level(level) != level:
                continue                                                # not on this CPU
            for n in [*range(0, 520), 4096, 65_536, 299_990]:
                for off in (0, 1, 13):
                    chunk = data[off:off + n]
                    seed = n * 2654435761 % (1 << 32)
                    assert lib.rv_crc32(seed, ffi.from_buffer(chunk), len(chunk)) == \
                        zlib.crc32(chunk, seed), (level, n, off)
    finally:
        lib.rv_crc32_level(best)
    assert lib.rv_crc32_level(-1) == best


@pytest.mark.parametrize("level", [lib.RV_CRC_BITWISE, lib.RV_CRC_PCLMUL, lib.RV_CRC_VPCLMUL])
def test_restore_is_the_same_with_every_crc32_implementation(level):
    best = lib.rv_crc32_level(-1)
    if level > best and level != lib.RV_CRC_BITWISE:
        pytest.skip("this CPU lacks the instructions")
    prog = guest("c/hello.elf")
    snap = Snapshot.from_bytes(_sparse_machine().snapshot().to_bytes())
    expected = observe(Machine.restore(prog, snap))
    try:
        lib.rv_crc32_level(level)
        assert observe(Machine.restore(prog, Snapshot.from_bytes(snap.to_bytes()))) == expected
    finally:
        lib.rv_crc32_level(best)


def _corrupt_raw_block(data: bytes, block: int) -> bytes:
    """data with one byte flipped in the middle of page block ``block`` (stored raw)."""
    lay = ffi.new("rv_snap_layout *")
    assert lib.rv_snap_decode(data, len(data), lay) == lib.RV_SNAP_OK
    table = memoryview(data[lay.table:lay.data_pages]).cast("I")
    assert table[4 * block + 3] == 1
    pos = lay.blocks + sum(table[1:4 * block:4])
    out = bytearray(data)
    out[pos + table[4 * block + 1] // 2] ^= 0x40
    return bytes(out)


@pytest.mark.parametrize("hand_built", [False, True])
def test_a_corrupt_raw_block_is_found_while_it_is_copied_in(hand_built):
    prog = guest("c/hello.elf")
    snap = _sparse_machine().snapshot()
    raw = [i for i, c in enumerate(snap.header["pages"]["chunks"]) if c[3]]
    assert len(raw) >= 2
    start = sum(c[0] for c in snap.header["pages"]["chunks"][:raw[1]])
    bad = Snapshot.from_bytes(_corrupt_raw_block(snap.to_bytes(), raw[1]))
    if hand_built:                      # not one span of blocks any more: checked block by block
        bad = Snapshot(edited(bad), bad.data_pages, bad.zero_pages, bad.io_block, [bytes(c) for c in bad.chunks],
                       bad.os_block)
    with pytest.raises(SnapshotError, match=f"checksum mismatch in page block at page {start}:"):
        Machine.restore(prog, bad)


def _table(entries: list[int]) -> bytes:
    """A page block table as the format encodes it."""
    return struct.pack(f"<{len(entries)}I", *entries)


def test_the_core_refuses_a_block_table_that_does_not_fit():
    """rv_scatter_raw_blocks reads nothing past the blocks, whatever the table says."""
    m = Machine(guest("c/hello.elf"), memory_size=MiB).core
    entry = guest("c/hello.elf").entry
    pages = ffi.new("uint32_t[]", [200, 201])
    blocks = bytes(2 * PAGE)
    bad = ffi.new("uint64_t *")
    assert lib.rv_scatter_raw_blocks(m, pages, 2, blocks, len(blocks) - 1, _table([2, 2 * PAGE - 1, 0, 0]),
                                     1, bad) == 0          # a compressed block is left to the caller
    assert lib.rv_scatter_raw_blocks(m, pages, 2, blocks, len(blocks), _table([2, 2 * PAGE - 1, 0, 0]),
                                     1, bad) == -1 and bad[0] == 1    # a byte of the blocks left over
    for table in ([2, 2 * PAGE + 1, 0, 1],              # raw, but not a whole number of pages
                  [2, 2 * PAGE, 0, 0, 1, 0, 0, 0],      # more pages than listed
                  [1, PAGE, 0, 1],                      # fewer pages than listed
                  [2, 3 * PAGE, 0, 1],                  # past the end of the blocks
                  [0, 0, 0, 1, 2, 2 * PAGE, 0, 1]):     # an empty block
        n = len(table) // 4
        assert lib.rv_scatter_raw_blocks(m, pages, 2, blocks, len(blocks), _table(table),
                                         n, bad) == -1 and bad[0] == n, table
    assert lib.rv_scatter_raw_blocks(m, pages, 2, blocks, len(blocks),
                                     _table([2, 2 * PAGE, 0x1234, 1]), 1, bad) == -1
    assert bad[0] == 0                                  # a checksum mismatch in block 0
    text = ffi.new("uint32_t[]", [entry // PAGE, 201])
    assert lib.rv_scatter_raw_blocks(m, text, 2, blocks, len(blocks),
                                     _table([2, 2 * PAGE, 0, 1]), 1, bad) == \
        lib.RV_ERR_WRITE_READONLY


def test_a_snapshot_never_changes_and_an_edited_header_is_checked_again():
    """A snapshot is a value: its header dict is a copy, and with_header gives a
    new snapshot, whose header is checked again (as from elsewhere) on restore."""
    prog = guest("c/hello.elf")
    data = _sparse_machine().snapshot().to_bytes()
    snap = Snapshot.from_bytes(data)
    pc = snap.header["state"]["pc"]
    header = snap.header
    header["state"]["pc"] += 2
    assert snap.header["state"]["pc"] == pc and snap.to_bytes() == data    # the copy changed, not snap
    moved = snap.with_header(header)                     # a valid edit is honoured
    assert moved.header["state"]["pc"] == pc + 2 and snap.to_bytes() == data
    assert Machine.restore(prog, moved).pc == pc + 2 and Machine.restore(prog, snap).pc == pc
    header["state"]["x"][5] = -1                         # one the format cannot hold
    with pytest.raises(SnapshotError, match="malformed snapshot header"):
        snap.with_header(header)
    header["state"]["x"][5] = 0
    header["state"]["x"][0] = 1                          # one the core refuses
    with pytest.raises(SnapshotError, match="x0 must be 0"):
        Machine.restore(prog, snap.with_header(header))
    for name, value in (("header", {}), ("chunks", []), ("data_pages", b""), ("io_block", b""), ("os_block", b""),
                        ("id", "0" * 32), ("extra", 1)):
        with pytest.raises(AttributeError):
            setattr(snap, name, value)
    assert snap.to_bytes() == data
    rebuilt = Snapshot(snap.header, snap.data_pages, snap.zero_pages, snap.io_block,
                       [bytes(c) for c in snap.chunks], snap.os_block)     # other block objects: not one span
    assert rebuilt == snap and rebuilt.to_bytes() == data
    assert observe(Machine.restore(prog, rebuilt)) == observe(Machine.restore(prog, Snapshot.from_bytes(data)))
