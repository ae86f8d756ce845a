"""Mutation fuzzing of rvdist's untrusted inputs: ELF files and snapshots.

Every input, however mangled, must end in success or a typed
:class:`rvdist.RvError` -- never another exception, a crash, a hang or an
unbounded allocation. Inputs start from valid files (the committed guest
ELFs, :func:`support.elfgen.sample_elf`, snapshots taken of the guests at
interesting moments, and whatever is in ``tests/corpus``) and are mutated:
bit flips, byte and multi-byte field changes with interesting values,
truncation, extension, deletion, insertion, splicing with another seed,
ELF header and program header tampering, and for snapshots edits of the
binary record's words, the texts, their flags and padding, the page block
table, the format version and record size, the page index tables, the I/O
block and the page blocks, and of the header dict re-encoded by
``Snapshot.with_header``, with the checksums recomputed so that the structural
checks behind them are reached.

A case is identified by ``(kind, seed, index)``; its input is a pure
function of that and of the seeds, so any failure can be replayed.

What a case does:

* ``elf``: ``Program(data)``; if it parses, ``Machine(program)`` (with
  enough memory for the image, up to 4 GiB), a bounded run,
  then a snapshot round trip and a bounded run of the restored machine.
* ``snap``: ``Snapshot.from_bytes``, ``info()``, ``io()``, ``compact``
  and ``Machine.restore`` (after a valid base, for a mutated increment),
  then a bounded run and a snapshot of the restored machine.

By hand (subprocess-isolated batches: a segfault, abort or sanitizer
report kills one worker, and the input it was running is saved)::

    python tests/fuzz_inputs.py run --kind elf --cases 10000 --jobs 2
    python tests/fuzz_inputs.py run --kind snap --cases 10000 --seed 7 --out /tmp/findings
    python tests/fuzz_inputs.py replay /tmp/findings/snap-7-123.json
    python tests/fuzz_inputs.py corpus     # retake tests/corpus/snapshot/*.snap

The default test suite runs a few hundred cases in process
(tests/test_fuzz_inputs.py); ``-m slow`` runs ``RVDIST_FUZZ_CASES`` of each
kind through this runner.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import pickle
import random
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:          # run as a script: support/ lives beside us
    sys.path.insert(0, str(HERE))

import rvdist  # noqa: E402
from support.elfgen import PF_R, PF_W, PF_X, PT_NOTE, Seg, make_elf, sample_elf  # noqa: E402
from rvdist import Machine, Program, RvError, Snapshot  # noqa: E402
from rvdist._core import ffi, lib  # noqa: E402

GUESTS = HERE / "guests"
CORPUS = HERE / "corpus"
ELF_CORPUS = CORPUS / "elf"
SNAP_CORPUS = CORPUS / "snapshot"

#: Cycles each run of a case may spend (a bound on time per case).
BUDGET = 20_000
#: Seconds one case may take before it counts as a hang.
CASE_SECONDS = 20.0
#: Growth of peak RSS (bytes) over a worker's start that counts as an unbounded allocation.
RSS_LIMIT = 1 << 30
#: Largest guest memory a fuzzed ELF is given to fit its image into.
MAX_FUZZ_MEMORY = 4 << 30

U64 = (1 << 64) - 1
INTERESTING = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 55, 56, 57, 63, 64, 127, 128, 255, 256,
               0xFFF, 0x1000, 0x1001, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x10010, 0x3FF000,
               0x400000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 32) + 0x1000,
               1 << 40, 1 << 62, (1 << 63) - 1, 1 << 63, U64 - 0xFFF, U64 - 1, U64]

_PREFIX = struct.Struct("<8sII")     # magic, format version, record size
MAGIC = b"RVDSNAP\0"
FORMAT = lib.RV_SNAP_FORMAT


# -- outcomes ------------------------------------------------------------------

class Hang(Exception):
    """A case ran longer than CASE_SECONDS (raised from SIGALRM)."""


class KnownBug(Exception):
    """An invariant broken by a bug already reported and pinned by an xfail test.

    Counted as outcome ``known:<name>`` rather than a failure, so a campaign
    still finds new bugs; see KNOWN_BUGS.
    """


#: Known bugs the fuzzer can hit, with the xfail test that pins each.
KNOWN_BUGS: dict[str, str] = {}     # none open; the output-cap bypass found here is fixed


@dataclass
class Outcome:
    """How one case ended: ``status`` is a short label; ``failure`` is set for a bug."""

    status: str
    failure: Optional[str] = None


def _alarm(signum, frame):
    raise Hang(f"case took more than {CASE_SECONDS} s")


def guarded(fn: Callable[[], str], seconds: float = CASE_SECONDS) -> Outcome:
    """Run one case: RvError subclasses are fine, anything else is a failure."""
    use_alarm = seconds > 0 and hasattr(signal, "setitimer")
    if use_alarm:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return Outcome(fn())
    except RvError as e:               # a typed error that escaped a stage: fine
        return Outcome(f"raised:{type(e).__name__}")
    except Hang as e:
        return Outcome("hang", f"hang: {e}")
    except KnownBug as e:
        return Outcome(f"known:{e}")
    except MemoryError:
        return Outcome("memory", "MemoryError:\n" + traceback.format_exc(limit=-6))
    except Exception as e:             # noqa: BLE001 - finding these is the point
        return Outcome("exception", f"{type(e).__name__}: {e}\n" + traceback.format_exc(limit=-6))
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


# -- checking one input ------------------------------------------------------------

def _memory_for(program: Program) -> int:
    need = program.image_end + (64 << 10)
    size = 4 << 20
    while size < need and size < MAX_FUZZ_MEMORY:
        size *= 2
    return size


def _run(m: Machine) -> rvdist.RunResult:
    """One bounded slice, checking the caps the machine promises."""
    lengths = (m.output_length(1), m.output_length(2))
    start = m.cycles
    r = m.run(BUDGET)
    assert isinstance(r, rvdist.RunResult) and r.used <= BUDGET, r
    assert r.cycles == m.cycles == start + r.used, (r, start, m.cycles)
    # A machine may start past max_cycles (a lowered limit); it must not run on then.
    assert m.max_cycles is None or m.cycles <= max(start, m.max_cycles), (start, m.cycles, m.max_cycles)
    assert m.stdin_position <= len(m.stdin)
    cap = m.output_limit
    for fd, before in zip((1, 2), lengths):
        if m.output_length(fd) > before and m.output_length(fd) > cap:
            raise AssertionError(f"fd {fd}: {m.output_length(fd)} bytes captured, cap {cap}")
    return r


def _run_and_roundtrip(m: Machine, program: Program, before: tuple = ()) -> str:
    """Run ``m`` a bounded slice, snapshot it, restore the snapshot and run on."""
    r = _run(m)
    if r.state == "host_call":
        m.complete_host_call(0)
    snap = m.snapshot()
    again = Snapshot.from_bytes(snap.to_bytes())
    m2 = Machine.restore(program, again)
    assert (m2.pc, m2.cycles, list(m2.registers), m2.stdout, m2.stderr) == \
        (m.pc, m.cycles, list(m.registers), m.stdout, m.stderr), "snapshot round trip differs"
    _run(m2)
    return r.state


def check_elf(data: bytes) -> str:
    """Parse, load, run, snapshot and restore ``data`` as an rvdist program."""
    try:
        program = Program(data, name="fuzz.elf")
    except rvdist.ProgramError:
        return "rejected"
    assert program.segments and program.digest
    try:
        m = Machine(program, args=["fuzz", "arg"], stdin=b"fuzz stdin\n" * 4,
                    memory_size=_memory_for(program), output_limit=1 << 16)
    except (rvdist.ConfigError, rvdist.ProgramError):
        return "unfit"
    m.on_syscall(1000, lambda machine: 7)          # one host call the embedder serves
    return "ran:" + _run_and_roundtrip(m, program)


def check_snapshot(data: bytes, program: Program, before_data: tuple = ()) -> str:
    """Decode ``data`` and restore it (after the encoded snapshots ``before_data``)."""
    try:
        before = tuple(_decoded(b) for b in before_data)
    except rvdist.SnapshotError:
        return "decode"
    try:
        snap = Snapshot.from_bytes(data)
    except rvdist.SnapshotError:
        return "decode"
    snap.info()                                     # a decoded snapshot can describe itself
    try:
        snap.io()
    except rvdist.SnapshotError:
        pass
    try:
        Snapshot.compact([*before, snap])
    except rvdist.SnapshotError:
        pass
    try:
        m = Machine.restore(program, [*before, snap])
    except rvdist.SnapshotError:
        return "restore"
    return "restored:" + _run_and_roundtrip(m, program)


# -- seeds -------------------------------------------------------------------------

@dataclass
class SnapSeed:
    """A valid encoded snapshot of guest ``program`` (a path under tests/guests),
    with the encoded chain it continues (``before``, oldest first)."""

    name: str
    program: str
    data: bytes
    before: tuple = ()


@functools.lru_cache(maxsize=None)
def guest_program(relpath: str) -> Program:
    return Program.from_file(GUESTS / relpath)


@functools.lru_cache(maxsize=64)
def _decoded(data: bytes) -> Snapshot:
    return Snapshot.from_bytes(data)


def elf_seeds() -> list[tuple[str, bytes]]:
    """Valid ELF files: every committed guest, elfgen samples, and tests/corpus/elf."""
    code = bytes.fromhex("93 08 d0 05 13 05 00 00 73 00 00 00")
    seeds = [
        ("sample", sample_elf()),
        ("tiny", make_elf([Seg(0x10000, code, flags=PF_R | PF_X)], entry=0x10000)),
        ("note+bss", make_elf([Seg(0, b"note", type=PT_NOTE), Seg(0x1000, code, flags=PF_R | PF_X),
                               Seg(0x2000, b"\1\2", memsz=0x30000, flags=PF_R | PF_W)],
                              entry=0x1000)),
    ]
    for path in sorted(GUESTS.glob("**/*.elf")):
        if path.stat().st_size > 64 << 10 or path.name == "dynamic.elf":
            continue    # the glibc guests: 500 KiB each, and one that is to be refused
        seeds.append((str(path.relative_to(GUESTS)), path.read_bytes()))
    for path in sorted(ELF_CORPUS.glob("*")) if ELF_CORPUS.is_dir() else []:
        seeds.append((f"corpus/{path.name}", path.read_bytes()))
    return seeds


def _run_to(relpath: str, cycles: Optional[int], **kwargs: Any) -> Machine:
    m = Machine(guest_program(relpath), **kwargs)
    m.run(cycles)
    return m


def snapshot_seeds() -> list[SnapSeed]:
    """Valid snapshots of the guests: running, exited, failed, with I/O, full and incremental."""
    seeds: list[SnapSeed] = []

    def add(name: str, relpath: str, m: Machine, before: tuple = ()) -> None:
        if (GUESTS / relpath).is_file():
            seeds.append(SnapSeed(name, relpath, m.snapshot(incremental=bool(before)).to_bytes(),
                                  before))

    add("upper-midway", "c/upper.elf", _run_to("c/upper.elf", 300, stdin=UPPER_STDIN))
    add("hello-exited", "c/hello.elf", _run_to("c/hello.elf", None, args=["x", "y"]))
    add("primes-running", "c/primes.elf", _run_to("c/primes.elf", 30_000, args=["300"]))
    add("brkgrow-running", "c/brkgrow.elf", _run_to("c/brkgrow.elf", 40_000))
    add("store-text-error", "faults/store_text.elf", _run_to("faults/store_text.elf", None))
    add("intloop-cycles", "c/intloop.elf", _run_to("c/intloop.elf", None, max_cycles=5000))
    add("lrsc-running", "c/lrsc_counter.elf", _run_to("c/lrsc_counter.elf", 2_000))
    add("nbody-running", "c/nbody.elf", _run_to("c/nbody.elf", 30_000, args=["100"]))    # FP state
    add("ecall-error", "faults/ecall_unsupported.elf", _run_to("faults/ecall_unsupported.elf", None))
    # A full snapshot and an increment of a program that writes and zeroes pages.
    m = _run_to("c/rewrite_pages.elf", 120_000, stdin=b"abc")
    base = m.snapshot().to_bytes()
    seeds.append(SnapSeed("rewrite-full", "c/rewrite_pages.elf", base))
    m.run(150_000)
    seeds.append(SnapSeed("rewrite-increment", "c/rewrite_pages.elf",
                          m.snapshot(incremental=True).to_bytes(), (base,)))
    for path in sorted(SNAP_CORPUS.glob("*.snap")) if SNAP_CORPUS.is_dir() else []:
        relpath = corpus_snapshot_program(path.name)
        if (GUESTS / relpath).is_file():
            seeds.append(SnapSeed(f"corpus/{path.name}", relpath, path.read_bytes()))
    return seeds


def corpus_snapshot_program(filename: str) -> str:
    """``c__upper__what.snap`` is a snapshot of ``c/upper.elf``."""
    directory, stem = filename.split("__")[:2]
    return f"{directory}/{stem}.elf"


UPPER_STDIN = b"Mixed Case input, read seven bytes at a time.\n" * 3


def corpus_snapshots() -> dict[str, bytes]:
    """The snapshots of tests/corpus/snapshot, taken afresh (``python
    tests/fuzz_inputs.py corpus`` writes them, e.g. after a format change)."""
    def over_limit(header: dict) -> None:
        header["config"]["output_limit"] = 1        # less than the output already captured

    upper = _run_to("c/upper.elf", 300, stdin=UPPER_STDIN)
    over = encode_edited(_run_to("c/upper.elf", 300, stdin=UPPER_STDIN).snapshot().to_bytes(),
                         over_limit)
    assert over is not None
    return {
        "c__hello__exited.snap": _run_to("c/hello.elf", None, args=["x"]).snapshot().to_bytes(),
        "c__intloop__cycles-exceeded.snap":
            _run_to("c/intloop.elf", None, max_cycles=3000).snapshot().to_bytes(),
        "c__upper__midway.snap": upper.snapshot().to_bytes(),
        "c__upper__output-over-limit.snap": over,
        # Mid-run in FP code: nonzero FP registers and fflags in the record.
        "c__nbody__midway.snap": _run_to("c/nbody.elf", 30_000, args=["100"]).snapshot().to_bytes(),
    }


def write_snapshot_corpus(directory: Path = SNAP_CORPUS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in corpus_snapshots().items():
        (directory / name).write_bytes(data)
        written.append(directory / name)
    return written


# -- byte-level mutations ------------------------------------------------------------

def _int_bytes(rng: random.Random, width: int) -> bytes:
    v = rng.choice(INTERESTING) if rng.random() < 0.8 else rng.getrandbits(8 * width)
    if rng.random() < 0.2:
        v += rng.choice((-1, 1))
    return (v & ((1 << 8 * width) - 1)).to_bytes(width, "little")


def mutate_bytes(rng: random.Random, data: bytes, donors: list[bytes],
                 hot: int = 0) -> bytes:
    """One to four generic mutations; positions favour the first ``hot`` bytes."""
    d = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        n = len(d)

        def pos(extra: int = 0, n: int = n) -> int:
            if hot and rng.random() < 0.6:
                return rng.randrange(min(hot, n) + extra) if min(hot, n) + extra else 0
            return rng.randrange(n + extra) if n + extra else 0

        op = rng.randrange(11)
        if op == 0 and n:                                   # bit flip
            p = pos()
            d[p] ^= 1 << rng.randrange(8)
        elif op == 1 and n:                                 # byte set
            d[pos()] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op in (2, 3) and n:                            # interesting field
            width = rng.choice((1, 2, 4, 8))
            p = pos()
            d[p:p + width] = _int_bytes(rng, width)[:max(0, n - p)] if rng.random() < 0.9 \
                else _int_bytes(rng, width)
        elif op == 4:                                       # truncate
            del d[pos(1):]
        elif op == 5:                                       # extend
            d += bytes(rng.randrange(1, 64)) if rng.random() < 0.5 else rng.randbytes(rng.randrange(1, 64))
        elif op == 6 and n:                                 # delete a range
            p = pos()
            del d[p:p + rng.choice((1, 2, 4, 8, rng.randrange(1, 256)))]
        elif op == 7:                                       # insert bytes
            p = pos(1)
            d[p:p] = rng.randbytes(rng.choice((1, 2, 4, 8, rng.randrange(1, 64))))
        elif op == 8 and donors:                            # splice with another seed
            other = rng.choice(donors)
            cut, cut2 = pos(1), rng.randrange(len(other) + 1)
            d = d[:cut] + bytearray(other[cut2:])
        elif op == 9 and n > 2:                             # copy a chunk within
            a, b = sorted(rng.sample(range(n), 2))
            size = rng.randrange(1, min(64, n - a) + 1)
            d[b:b + size] = d[a:a + size]
        elif op == 10 and n:                                # random block
            p = pos()
            size = rng.randrange(1, 32)
            d[p:p + size] = rng.randbytes(size)
    return bytes(d)


# -- ELF mutations ---------------------------------------------------------------

_EHDR_FIELDS = [("e_type", 16, 2), ("e_machine", 18, 2), ("e_version", 20, 4), ("e_entry", 24, 8),
                ("e_phoff", 32, 8), ("e_shoff", 40, 8), ("e_flags", 48, 4), ("e_ehsize", 52, 2),
                ("e_phentsize", 54, 2), ("e_phnum", 56, 2), ("e_shentsize", 58, 2),
                ("e_shnum", 60, 2), ("e_shstrndx", 62, 2)]
_PHDR_FIELDS = [("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8),
                ("p_paddr", 24, 8), ("p_filesz", 32, 8), ("p_memsz", 40, 8), ("p_align", 48, 8)]


def _elf_layout(d: bytes) -> tuple[int, int]:
    """(e_phoff, e_phnum) as the header says, or (64, 0) if it cannot say."""
    if len(d) < 64:
        return 64, 0
    phoff, = struct.unpack_from("<Q", d, 32)
    phnum, = struct.unpack_from("<H", d, 56)
    if phoff + 56 * phnum > len(d):
        return 64, 0
    return phoff, phnum


def _set_field(d: bytearray, off: int, width: int, value: int) -> None:
    if off + width <= len(d):
        d[off:off + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, "little")


def _get_field(d: bytes, off: int, width: int) -> int:
    return int.from_bytes(d[off:off + width], "little") if off + width <= len(d) else 0


def _tweak(rng: random.Random, old: int, width: int) -> int:
    r = rng.random()
    if r < 0.45:
        return rng.choice(INTERESTING)
    if r < 0.75:
        return old + rng.choice((-4096, -8, -2, -1, 1, 2, 8, 4096, 0x10000))
    if r < 0.85:
        return old ^ (1 << rng.randrange(8 * width))
    return rng.getrandbits(8 * width)


def mutate_elf(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes:
    """Header-aware ELF mutations mixed with generic ones."""
    d = bytearray(data)
    phoff, phnum = _elf_layout(data)
    hot = max(64, phoff + 56 * phnum)
    for _ in range(rng.choice((1, 1, 2, 3))):
        r = rng.random()
        if r < 0.25:                                        # an ELF header field
            _, off, width = rng.choice(_EHDR_FIELDS)
            _set_field(d, off, width, _tweak(rng, _get_field(d, off, width), width))
        elif r < 0.55 and phnum:                            # a program header field
            _, off, width = rng.choice(_PHDR_FIELDS)
            off += phoff + 56 * rng.randrange(phnum)
            _set_field(d, off, width, _tweak(rng, _get_field(d, off, width), width))
        elif r < 0.62 and phnum > 1:                        # copy one program header over another
            a, b = rng.sample(range(phnum), 2)
            d[phoff + 56 * b:phoff + 56 * (b + 1)] = d[phoff + 56 * a:phoff + 56 * (a + 1)]
        elif r < 0.72 and phnum:                            # random instructions in a segment
            i = rng.randrange(phnum)
            p_off, p_filesz = (_get_field(d, phoff + 56 * i + 8, 8), _get_field(d, phoff + 56 * i + 32, 8))
            if p_filesz and p_off + p_filesz <= len(d):
                at = p_off + rng.randrange(p_filesz) & ~1
                words = rng.randbytes(rng.choice((2, 4, 8, 16, 32)))
                d[at:at + len(words)] = words[:max(0, p_off + p_filesz - at)]
        elif r < 0.78 and phnum:                            # point the entry somewhere in a segment
            i = rng.randrange(phnum)
            vaddr, memsz = _get_field(d, phoff + 56 * i + 16, 8), _get_field(d, phoff + 56 * i + 40, 8)
            _set_field(d, 24, 8, vaddr + (rng.randrange(memsz + 1) if memsz < 1 << 32 else 0))
        else:
            d = bytearray(mutate_bytes(rng, bytes(d), donors, hot=hot))
    return bytes(d)


# -- snapshot mutations -------------------------------------------------------------

_RECORD = ffi.sizeof("rv_snap_record")
#: Each field of the record: name -> (offset, size in bytes).
_FIELDS = {name: (f.offset, ffi.sizeof(f.type)) for name, f in ffi.typeof("rv_snap_record").fields}
_BYTE_FIELDS = ("id", "parent", "digest")
_MAX_TEXT = lib.RV_SNAP_MAX_TEXT
_TEXT_FLAGS = (lib.RV_SNAP_HAS_NAME, lib.RV_SNAP_HAS_HOST_ERROR)


def _u32s(values: list) -> bytes:
    return b"".join(struct.pack("<I", v & 0xFFFFFFFF) for v in values)


@dataclass
class SnapParts:
    """An encoded snapshot (format 2, see rvdist/snapshot.py) cut into its sections.

    ``record`` is the binary record (struct rv_snap_record: little-endian u64
    words and the id, parent and digest bytes), read and written by field name
    with get() and set(); ``texts`` the ISA, program name, cost model and host
    error as encoded (b"" when absent) and ``pad`` the padding after them;
    ``table`` the page block table, a row [pages, bytes, crc32, raw] per block;
    ``version`` and ``record_size`` the prefix's fields. Anything may be set to
    anything: join() encodes it as it is, fixing only what it is asked to.
    """

    record: bytearray
    texts: list
    pad: bytes
    table: list
    data_pages: bytes
    zero_pages: bytes
    io_block: bytes
    chunks: list = field(default_factory=list)
    os_block: bytes = b""
    version: int = FORMAT
    record_size: int = _RECORD

    @classmethod
    def split(cls, data: bytes) -> "SnapParts":
        """Cut a well-formed snapshot; ValueError if the core does not decode it."""
        lay = ffi.new("rv_snap_layout *")
        code = lib.rv_snap_decode(data, len(data), lay)
        if code != lib.RV_SNAP_OK:
            raise ValueError(f"not a well-formed snapshot (rv_snap_decode: {code})")
        texts, at = [], lay.texts
        for n in lay.rec.text_len:
            texts.append(data[at:at + n])
            at += n
        table = [list(row) for row in struct.iter_unpack("<4I", data[lay.table:lay.data_pages])]
        chunks, pos = [], lay.blocks
        for row in table:
            chunks.append(data[pos:pos + row[1]])
            pos += row[1]
        return cls(bytearray(data[_PREFIX.size:lay.texts]), texts, data[at:lay.table], table,
                   data[lay.data_pages:lay.zero_pages], data[lay.zero_pages:lay.io],
                   data[lay.io:lay.os], chunks, data[lay.os:lay.blocks])

    def get(self, name: str, index: int = 0) -> int:
        return struct.unpack_from("<Q", self.record, _FIELDS[name][0] + 8 * index)[0]

    def set(self, name: str, value: int, index: int = 0) -> None:
        """Set a u64 word of the record (values wrap modulo 2**64, as in C)."""
        struct.pack_into("<Q", self.record, _FIELDS[name][0] + 8 * index, value & U64)

    def join(self, *, fix_lengths: bool = True, fix_chunk_crcs: bool = False) -> bytes:
        """Encode, with the trailing crc32 recomputed (and, if asked, the record's
        lengths and counts, the padding, and the page blocks' sizes and crcs in
        the table made to match the sections)."""
        if fix_lengths and len(self.record) == _RECORD:
            for i, t in enumerate(self.texts[:4]):
                self.set("text_len", len(t), i)
            self.pad = bytes(-sum(map(len, self.texts)) % 8)
            for row, chunk in zip(self.table, self.chunks):
                row[1:2] = [len(chunk)]
            for name, value in (("n_data", len(self.data_pages) // 4), ("n_zero", len(self.zero_pages) // 4),
                                ("n_blocks", len(self.table)), ("io_block", len(self.io_block)),
                                ("os_block", len(self.os_block))):
                self.set(name, value)
        if fix_chunk_crcs:
            for row, chunk in zip(self.table, self.chunks):
                row[2:3] = [zlib.crc32(chunk)]
        body = _PREFIX.pack(MAGIC, self.version & 0xFFFFFFFF, self.record_size & 0xFFFFFFFF) \
            + bytes(self.record) + b"".join(self.texts) + self.pad \
            + b"".join(_u32s(row) for row in self.table) + self.data_pages + self.zero_pages + self.io_block \
            + self.os_block
        return body + b"".join(bytes(c) for c in self.chunks) + struct.pack("<I", zlib.crc32(body))


def _checksummed_end(data: bytes) -> Optional[int]:
    """Where the page blocks start by the record of ``data`` (the end of what the
    trailing crc covers), or None if it does not say. Plain arithmetic on the
    bytes: the engine calls nothing in the core on a mutated input."""
    base = _PREFIX.size + _RECORD
    if len(data) < base + 4:
        return None

    def word(name: str, index: int = 0) -> int:
        return struct.unpack_from("<Q", data, _PREFIX.size + _FIELDS[name][0] + 8 * index)[0]

    texts = sum(word("text_len", i) for i in range(4))
    end = base + (texts + 7) // 8 * 8 + 16 * word("n_blocks") + 4 * (word("n_data") + word("n_zero")) \
        + word("io_block") + word("os_block")
    return end if end <= len(data) - 4 else None


def fix_crc(data: bytes) -> bytes:
    """``data`` with its trailing crc32 recomputed where its record says it ends."""
    end = _checksummed_end(data)
    return data if end is None else data[:-4] + struct.pack("<I", zlib.crc32(data[:end]))


# -- the header dict (Snapshot.header), edited and re-encoded by Snapshot.with_header

def _leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value inside a JSON object (containers included)."""
    out = [path] if path else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _leaves(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _leaves(v, path + (i,))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def _json_value(rng: random.Random, old: Any) -> Any:
    r = rng.random()
    if isinstance(old, int) and not isinstance(old, bool) and r < 0.5:
        return max(0, old + rng.choice((-4096, -64, -1, 1, 64, 4096))) if r < 0.25 \
            else rng.choice(INTERESTING)
    choices: list[Any] = [rng.choice(INTERESTING), -1, -(1 << 63), 1 << 64, 10 ** 30, 1.5, 1e308,
                          True, False, None, "", "x", "0" * 64, "0" * 65, [], {}, [0], [[0, 0, 0, 0]],
                          [64, 1 << 18, 0, 0], [1, 4096, 0, 1], "ready", "exited", "error",
                          "0" * 32, "\udc80", "é" * 3, b"00"]
    if isinstance(old, list) and old:
        choices += [old + old[-1:], old[:-1], old[::-1], [old[0]] * 70]
    if isinstance(old, str):
        choices += [old[:-1], old + "0", old.upper()]
    return rng.choice(choices)


def _mutate_header(rng: random.Random, h: dict) -> None:
    paths = _leaves(h)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        path = rng.choice(paths)
        parent = _get(h, path[:-1])
        r = rng.random()
        if r < 0.08 and isinstance(parent, dict):
            parent.pop(path[-1], None)
        elif r < 0.12 and isinstance(parent, list):
            parent.append(_json_value(rng, parent[-1] if parent else 0))
        else:
            try:
                parent[path[-1]] = _json_value(rng, parent[path[-1]])
            except (KeyError, IndexError):
                pass
        paths = _leaves(h)


def encode_edited(data: bytes, edit: Callable[[dict], None]) -> Optional[bytes]:
    """A well-formed snapshot with its header dict edited, encoded by
    Snapshot.with_header; None if it refuses the dict (SnapshotError). Any
    other exception is a bug in the codec and propagates."""
    snap = Snapshot.from_bytes(data)
    header = snap.header
    edit(header)
    try:
        return snap.with_header(header).to_bytes()
    except rvdist.SnapshotError:
        return None


# -- binary mutations of the record, the texts and the block table

def _mutate_record(rng: random.Random, parts: SnapParts) -> None:
    """One to three words of the record set to interesting or nearby values."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = rng.choice(list(_FIELDS))
        off, size = _FIELDS[name]
        r = rng.random()
        if name in _BYTE_FIELDS:                            # an id or the digest: some bytes
            at = off + rng.randrange(size)
            parts.record[at:at + 1] = bytes([rng.randrange(256)]) if r < 0.5 else b"\0"
            if r > 0.8:
                parts.record[off:off + size] = bytes(size) if r < 0.9 else rng.randbytes(size)
            continue
        index = rng.randrange(size // 8)
        old = parts.get(name, index)
        if name == "flags" and r < 0.6:                     # a known flag toggled, or an unknown one
            parts.set(name, old ^ (1 << (rng.randrange(4) if r < 0.5 else rng.randrange(64))))
        elif r < 0.15:                                      # another field's value, off by one
            other = rng.choice([n for n in _FIELDS if n not in _BYTE_FIELDS])
            parts.set(name, parts.get(other) + rng.choice((-1, 0, 0, 1)), index)
        else:
            parts.set(name, _tweak(rng, old, 8), index)


def _mutate_texts(rng: random.Random, parts: SnapParts) -> bool:
    """A text replaced, a flag of an optional text toggled, or the padding
    changed. Returns whether the lengths should be left as they are."""
    r = rng.random()
    if r < 0.15:
        flag = rng.choice(_TEXT_FLAGS)
        parts.set("flags", parts.get("flags") ^ flag)
        return rng.random() < 0.5
    if r < 0.3:
        n = len(parts.pad)
        parts.pad = rng.choice((bytes(n + 8), bytes(max(0, n - 1)), b"", b"\1" * n if n else b"\1",
                                bytes(n - 1) + b"\x80" if n else b"\x80"))
        return True
    i = rng.randrange(4)
    old = parts.texts[i]
    parts.texts[i] = rng.choice((
        b"", b"\0", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", old + b"\x80", old[:-1],
        old + b"x", old.upper(), old[::-1], "é".encode() * 3, rng.randbytes(rng.randrange(1, 40)),
        b"rv64imac", b"unit", b"x" * _MAX_TEXT, b"x" * (_MAX_TEXT + 1), parts.texts[(i + 1) % 4]))
    if i in (1, 3) and rng.random() < 0.7:                  # keep the flag in step, mostly
        flag = _TEXT_FLAGS[i // 2]
        parts.set("flags", parts.get("flags") | flag if parts.texts[i] else parts.get("flags") & ~flag)
    return rng.random() < 0.2


def _mutate_table(rng: random.Random, parts: SnapParts) -> None:
    """Entries of the page block table changed, rows swapped, dropped or added."""
    t = parts.table
    for _ in range(rng.choice((1, 1, 2))):
        r = rng.random()
        if r < 0.45 and t:                                  # one entry
            row = rng.choice(t)
            k = rng.randrange(len(row)) if row else 0
            if row:
                row[k] = _tweak(rng, row[k], 4) if rng.random() < 0.7 else \
                    rng.choice((0, 1, 2, 63, 64, 65, 4096, 64 * 4096, row[k] ^ 1))
        elif r < 0.6 and len(t) > 1:                        # pages or bytes moved between blocks
            a, b = rng.sample(range(len(t)), 2)
            k, d = rng.choice((0, 1)), rng.choice((1, 7, 64, 4096))
            t[a][k] += d
            t[b][k] -= d
        elif r < 0.7 and len(t) > 1:                        # rows swapped, with or without the blocks
            a, b = rng.sample(range(len(t)), 2)
            t[a], t[b] = t[b], t[a]
            if rng.random() < 0.5 and len(parts.chunks) == len(t):
                parts.chunks[a], parts.chunks[b] = parts.chunks[b], parts.chunks[a]
        elif r < 0.8 and t:                                 # a row dropped, with or without its block
            i = rng.randrange(len(t))
            del t[i]
            if rng.random() < 0.5 and i < len(parts.chunks):
                del parts.chunks[i]
        elif r < 0.9:                                       # a row added
            t.insert(rng.randrange(len(t) + 1), rng.choice(([0, 0, 0, 0], [1, 4096, 0, 1], [1, 1, 0, 0],
                                                            list(t[0]) if t else [64, 64 * 4096, 0, 1])))
        elif t:                                             # a row of another length
            row = rng.choice(t)
            if rng.random() < 0.5 or not row:
                row.append(0)
            else:
                row.pop()


def mutate_snapshot(rng: random.Random, data: bytes, donors: list[bytes]) -> bytes:
    """Structure-aware snapshot mutations, mostly with the checksums recomputed."""
    parts = SnapParts.split(data)
    r = rng.random()
    if r < 0.25:                                            # words of the record
        _mutate_record(rng, parts)
        return parts.join(fix_lengths=rng.random() < 0.3)
    if r < 0.33:                                            # the texts, their flags and padding
        keep = _mutate_texts(rng, parts)
        return parts.join(fix_lengths=not keep)
    if r < 0.41:                                            # the page block table
        _mutate_table(rng, parts)
        return parts.join(fix_lengths=rng.random() < 0.3, fix_chunk_crcs=rng.random() < 0.5)
    if r < 0.47:                                            # the header dict, through to_bytes
        out = encode_edited(data, lambda h: _mutate_header(rng, h))
        if out is not None:
            return out
        _mutate_record(rng, parts)                          # refused at encoding: the record then
        return parts.join(fix_lengths=False)
    if r < 0.51:                                            # the raw record bytes (its size may change)
        parts.record = bytearray(mutate_bytes(rng, bytes(parts.record), []))
        return parts.join(fix_lengths=False)
    if r < 0.59:                                            # page index tables
        tables = mutate_bytes(rng, parts.data_pages + parts.zero_pages, [])
        cut = min(len(parts.data_pages), len(tables)) if rng.random() < 0.7 else \
            rng.randrange(len(tables) + 1)
        parts.data_pages, parts.zero_pages = tables[:cut], tables[cut:]
        return parts.join(fix_lengths=rng.random() < 0.7)
    if r < 0.63:                                            # the lz4 I/O block
        parts.io_block = mutate_bytes(rng, parts.io_block, [])
        return parts.join(fix_lengths=rng.random() < 0.7)
    if r < 0.66:                                            # the lz4 OS block (the Linux process)
        parts.os_block = mutate_bytes(rng, parts.os_block, [])
        return parts.join(fix_lengths=rng.random() < 0.7)
    if r < 0.75 and parts.chunks:                           # a page block, its crc fixed
        i = rng.randrange(len(parts.chunks))
        parts.chunks[i] = mutate_bytes(rng, bytes(parts.chunks[i]), [])
        return parts.join(fix_lengths=rng.random() < 0.7, fix_chunk_crcs=True)
    if r < 0.80:                                            # I/O claims that could be a bomb
        key = rng.choice(("stdout_part", "stderr_part", "stdin_len", "stdout_len", "stderr_len"))
        parts.set(key, rng.choice((parts.get(key) * 255, 255 * len(parts.io_block),
                                   255 * len(parts.io_block) + 64 - parts.get("stdin_len"),
                                   1 << 31, 1 << 32, U64)))
        return parts.join(fix_lengths=False)
    if r < 0.84:                                            # the prefix: format version, record size
        d = bytearray(data)
        at = rng.choice((8, 12))
        d[at:at + 4] = _int_bytes(rng, 4)
        return fix_crc(bytes(d)) if rng.random() < 0.5 else bytes(d)
    hot = _PREFIX.size + len(parts.record) + sum(map(len, parts.texts)) + len(parts.pad) \
        + 16 * len(parts.table)
    out = mutate_bytes(rng, data, donors, hot=hot)
    return fix_crc(out) if rng.random() < 0.5 else out      # the trailing crc recomputed, or not


# -- cases -------------------------------------------------------------------------

@dataclass
class Case:
    kind: str
    seed: int
    index: int
    data: bytes
    origin: str
    program: Optional[str] = None
    before: tuple = ()
    #: Set if making the input failed (Snapshot.with_header raised other than SnapshotError).
    error: Optional[str] = None

    def check(self) -> Outcome:
        if self.error:
            return Outcome("exception", self.error)
        if self.kind == "elf":
            return guarded(lambda: check_elf(self.data))
        program = guest_program(self.program)
        return guarded(lambda: check_snapshot(self.data, program, self.before))

    def save(self, directory: Path, reason: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{self.kind}-{self.seed}-{self.index}"
        (directory / f"{stem}.bin").write_bytes(self.data)
        before = []
        for i, b in enumerate(self.before):
            (directory / f"{stem}.before{i}.bin").write_bytes(b)
            before.append(f"{stem}.before{i}.bin")
        meta = {"kind": self.kind, "seed": self.seed, "index": self.index, "origin": self.origin,
                "program": self.program, "input": f"{stem}.bin", "before": before, "reason": reason,
                "error": self.error}
        path = directory / f"{stem}.json"
        path.write_text(json.dumps(meta, indent=1) + "\n")
        return path


def make_case(kind: str, seeds: list, seed: int, index: int) -> Case:
    rng = random.Random(f"{kind}:{seed}:{index}")
    if kind == "elf":
        name, data = rng.choice(seeds)
        donors = [s[1] for s in seeds]
        return Case(kind, seed, index, mutate_elf(rng, data, donors), name)
    s = rng.choice(seeds)
    donors = [x.data for x in seeds if x.program == s.program]
    try:
        if s.before and rng.random() < 0.2:                 # a damaged base under a good increment
            bad_base = mutate_snapshot(rng, s.before[0], donors)
            return Case(kind, seed, index, s.data, s.name + "(base)", s.program, (bad_base,))
        return Case(kind, seed, index, mutate_snapshot(rng, s.data, donors), s.name, s.program, s.before)
    except Exception:       # noqa: BLE001 - an encoder the mutation used raised: that is a finding
        return Case(kind, seed, index, s.data, s.name, s.program, s.before,
                    error="making the input raised:\n" + traceback.format_exc(limit=-6))


def seeds_for(kind: str) -> list:
    return elf_seeds() if kind == "elf" else snapshot_seeds()


def run_cases(kind: str, seeds: list, seed: int, start: int, end: int,
              on_case: Optional[Callable[[Case], None]] = None) -> tuple[dict, list[tuple[Case, Outcome]]]:
    """Run cases ``start..end`` in this process: (outcome counts, failures)."""
    counts: dict[str, int] = {}
    failures = []
    for index in range(start, end):
        case = make_case(kind, seeds, seed, index)
        if on_case:
            on_case(case)
        out = case.check()
        counts[out.status] = counts.get(out.status, 0) + 1
        if out.failure:
            failures.append((case, out))
    return counts, failures


def check_seeds(kind: str, seeds: list) -> list[str]:
    """Every seed itself must be accepted (else mutating it proves little)."""
    problems = []
    for s in seeds:
        if kind == "elf":
            out = guarded(lambda s=s: check_elf(s[1]))
            if not out.status.startswith("ran:") and not s[0].startswith(("corpus/", "faults/")):
                problems.append(f"{s[0]}: {out.status} {out.failure or ''}")
        else:
            out = guarded(lambda s=s: check_snapshot(s.data, guest_program(s.program), s.before))
            if not out.status.startswith("restored") and not s.name.startswith("corpus/"):
                problems.append(f"{s.name}: {out.status} {out.failure or ''}")
    return problems


# -- subprocess-isolated campaigns ----------------------------------------------------

def _worker(args: argparse.Namespace) -> int:
    """Run cases [start, end) and report on stdout, one JSON object per line."""
    workdir = Path(args.workdir)
    seeds = pickle.loads((workdir / f"seeds-{args.kind}.pkl").read_bytes())
    current = workdir / f"current-{args.kind}-{args.start}.pkl"
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    counts: dict[str, int] = {}
    # For testing the harness itself: die like a crashing core at this case.
    crash_at = int(os.environ.get("RVDIST_FUZZ_CRASH_AT", "-1"))
    index = args.start
    while index < args.end:
        case = make_case(args.kind, seeds, args.seed, index)
        tmp = current.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(case))
        os.replace(tmp, current)
        if index == crash_at:
            os.kill(os.getpid(), signal.SIGSEGV)
        out = case.check()
        counts[out.status] = counts.get(out.status, 0) + 1
        index += 1
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if out.failure is None and rss - base_rss > args.rss_limit:
            out = Outcome("memory", f"peak RSS grew by {(rss - base_rss) >> 20} MiB")
        if out.failure:
            print(json.dumps({"failure": out.failure, "status": out.status, "index": case.index}),
                  flush=True)
            if out.status == "memory":          # the high-water mark is spent: start afresh
                break
    print(json.dumps({"done": counts, "next": index}), flush=True)
    return 0


@dataclass
class Campaign:
    kind: str
    cases: int
    seed: int = 1
    jobs: int = 2
    batch: int = 500
    out: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "rvdist-fuzz-findings")
    rss_limit: int = RSS_LIMIT
    case_seconds: float = CASE_SECONDS * 2
    python: str = sys.executable
    env: Optional[dict] = None
    counts: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)

    def run(self, log: Callable[[str], None] = lambda s: None) -> "Campaign":
        seeds = seeds_for(self.kind)
        problems = check_seeds(self.kind, seeds)
        if problems:
            raise RuntimeError("invalid seeds: " + "; ".join(problems))
        with tempfile.TemporaryDirectory(prefix="rvdist-fuzz-") as wd:
            workdir = Path(wd)
            (workdir / f"seeds-{self.kind}.pkl").write_bytes(pickle.dumps(seeds))
            todo = [(s, min(s + self.batch, self.cases)) for s in range(0, self.cases, self.batch)]
            running: list[tuple[subprocess.Popen, int, int, Any]] = []
            started = time.monotonic()
            while todo or running:
                while todo and len(running) < self.jobs:
                    start, end = todo.pop(0)
                    running.append(self._spawn(workdir, start, end))
                time.sleep(0.05)
                for item in list(running):
                    proc, start, end, outf = item
                    current = workdir / f"current-{self.kind}-{start}.pkl"
                    stuck = proc.poll() is None and current.exists() and \
                        time.time() - current.stat().st_mtime > self.case_seconds
                    if stuck:
                        proc.kill()
                    if proc.poll() is None:
                        continue
                    running.remove(item)
                    resume = self._collect(proc, start, end, outf, current, stuck)
                    if resume is not None and resume < end:
                        todo.insert(0, (resume, end))
                    done = sum(self.counts.values())
                    log(f"{self.kind}: {done}/{self.cases} cases, {len(self.failures)} failures, "
                        f"{time.monotonic() - started:.0f} s")
        return self

    def _spawn(self, workdir: Path, start: int, end: int):
        outf = tempfile.TemporaryFile()
        errf = tempfile.TemporaryFile()
        cmd = [self.python, str(Path(__file__).resolve()), "worker", "--kind", self.kind,
               "--seed", str(self.seed), "--start", str(start), "--end", str(end),
               "--workdir", str(workdir), "--rss-limit", str(self.rss_limit)]
        proc = subprocess.Popen(cmd, stdout=outf, stderr=errf, env=self.env)
        return proc, start, end, (outf, errf)

    def _collect(self, proc, start: int, end: int, files, current: Path, stuck: bool) -> Optional[int]:
        outf, errf = files
        outf.seek(0)
        errf.seek(0)
        lines = [json.loads(line) for line in outf.read().decode(errors="replace").splitlines()
                 if line.startswith("{")]
        stderr = errf.read().decode(errors="replace")
        for line in lines:
            if "failure" in line:
                case = make_case_from(current, line["index"], self)
                path = case.save(self.out, line["failure"])
                self.failures.append((line["index"], line["status"], str(path)))
            if "done" in line:
                for k, v in line["done"].items():
                    self.counts[k] = self.counts.get(k, 0) + v
                return line["next"]
        # The worker died (signal, sanitizer abort) or hung: blame the case it was running.
        case = pickle.loads(current.read_bytes())
        what = "hang (killed)" if stuck else f"worker died with code {proc.returncode}"
        path = case.save(self.out, f"{what}\n{stderr[-4000:]}")
        self.failures.append((case.index, "crash" if not stuck else "hang", str(path)))
        self.counts["crash"] = self.counts.get("crash", 0) + 1
        # Cases before the crashed one in this batch ran but their counts died with it.
        self.counts["ran-in-crashed-batch"] = self.counts.get("ran-in-crashed-batch", 0) + \
            case.index - start
        return case.index + 1


def make_case_from(current: Path, index: int, c: Campaign) -> Case:
    case = pickle.loads(current.read_bytes())
    if case.index == index:
        return case
    seeds = pickle.loads((current.parent / f"seeds-{c.kind}.pkl").read_bytes())
    return make_case(c.kind, seeds, c.seed, index)


def replay(path: Path) -> Outcome:
    """Re-run a saved case (its .json) or a raw corpus file."""
    if path.suffix == ".json":
        meta = json.loads(path.read_text())
        data = (path.parent / meta["input"]).read_bytes()
        before = tuple((path.parent / b).read_bytes() for b in meta["before"])
        case = Case(meta["kind"], meta["seed"], meta["index"], data, meta["origin"], meta["program"],
                    before, meta.get("error"))
    elif path.suffix == ".snap":
        case = Case("snap", 0, 0, path.read_bytes(), path.name, corpus_snapshot_program(path.name))
    else:
        case = Case("elf", 0, 0, path.read_bytes(), path.name)
    return case.check()


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a campaign in subprocess-isolated batches")
    r.add_argument("--kind", choices=("elf", "snap"), required=True)
    r.add_argument("--cases", type=int, default=10_000)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--batch", type=int, default=500)
    r.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "rvdist-fuzz-findings")
    w = sub.add_parser("worker", help=argparse.SUPPRESS)
    w.add_argument("--kind", required=True)
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--start", type=int, required=True)
    w.add_argument("--end", type=int, required=True)
    w.add_argument("--workdir", required=True)
    w.add_argument("--rss-limit", type=int, default=RSS_LIMIT)
    rp = sub.add_parser("replay", help="re-run saved cases (.json) or corpus files")
    rp.add_argument("paths", type=Path, nargs="+")
    sub.add_parser("corpus", help=f"write the snapshots of {SNAP_CORPUS.relative_to(HERE.parent)} afresh")
    args = p.parse_args(argv)

    if args.cmd == "worker":
        return _worker(args)
    if args.cmd == "corpus":
        for path in write_snapshot_corpus():
            print(f"{path}: {path.stat().st_size} bytes, {replay(path).status}")
        return 0
    if args.cmd == "replay":
        bad = 0
        for path in args.paths:
            out = replay(path)
            print(f"{path}: {out.status}" + (f"\n{out.failure}" if out.failure else ""))
            bad += out.failure is not None
        return 1 if bad else 0
    started = time.monotonic()
    c = Campaign(args.kind, args.cases, args.seed, args.jobs, args.batch, args.out).run(
        log=lambda s: print(s, file=sys.stderr, flush=True))
    total = sum(c.counts.values())
    print(json.dumps({"kind": c.kind, "cases": total, "seed": c.seed,
                      "seconds": round(time.monotonic() - started, 1), "outcomes": c.counts,
                      "failures": c.failures}, indent=1))
    return 1 if c.failures else 0


if __name__ == "__main__":
    # Run through the importable module, so that pickled cases name fuzz_inputs.Case.
    import fuzz_inputs
    sys.exit(fuzz_inputs.main())
