"""Shared helpers for the rvdist core tests: guest programs, ELF symbols,
running a machine in slices, and a tiny RISC-V assembler for hand-made
programs (built into ELF files with :mod:`elfgen`)."""

from __future__ import annotations

import functools
import hashlib
import itertools
import struct
from pathlib import Path
from typing import Iterable, Optional

import pytest
from elftools.elf.elffile import ELFFile

import rvdist
from elfgen import PF_R, PF_W, PF_X, Seg, make_elf
from rvdist.machine import ABI_NAMES

GUESTS = Path(__file__).parent / "guests"


#: Object store of each node of the test cluster: Ray's default is 30% of RAM.
OBJECT_STORE = 100 * 1024 * 1024


@pytest.fixture(scope="session")
def cluster():
    """One real local Ray for the whole session: a head and 2 nodes, 1 CPU each,
    with fast health checks so that a killed node is noticed in about 2 s.
    Tests may add nodes but must remove what they add, and never the head."""
    import os
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": OBJECT_STORE,
        "_system_config": {"health_check_period_ms": 500, "health_check_timeout_ms": 500,
                           "health_check_failure_threshold": 3}})
    for _ in range(2):
        c.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="session")
def guests() -> Path:
    """The tests/guests directory."""
    return GUESTS


def guest(relpath: str) -> rvdist.Program:
    """Load a guest program by path relative to tests/guests (e.g. ``"c/hello.elf"``)."""
    return _guest(relpath)


@functools.lru_cache(maxsize=None)
def _guest(relpath: str) -> rvdist.Program:
    path = GUESTS / relpath
    if not path.is_file():
        pytest.skip(f"guest program {relpath} is not built")
    return rvdist.Program.from_file(path)


def guest_paths(pattern: str) -> list[str]:
    """Relative paths of the guests matching ``pattern`` (e.g. ``"isa/*.elf"``), sorted."""
    return sorted(str(p.relative_to(GUESTS)) for p in GUESTS.glob(pattern))


@functools.lru_cache(maxsize=None)
def symbols(relpath: str) -> dict[str, int]:
    """Named symbols of a guest ELF (read with pyelftools), name -> value."""
    with open(GUESTS / relpath, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        assert symtab is not None, f"{relpath} has no symbol table"
        return {s.name: s["st_value"] for s in symtab.iter_symbols() if s.name}


def run_slices(machine: rvdist.Machine, schedule: Iterable[int],
               max_slices: int = 10_000_000) -> tuple[rvdist.RunResult, int]:
    """Run ``machine`` with the budgets of ``schedule`` (cycled) until it stops.

    Checks on every slice that the machine never spent more than the budget
    and that the cycle counter adds up. Returns the last result and the number
    of slices. A host call also stops the run. Fails if a whole pass over the
    schedule makes no progress (every budget is below the next instruction's cost).
    """
    schedule = list(schedule)
    assert any(schedule), "a schedule of only zero budgets never finishes"
    mark = machine.cycles
    for n, budget in enumerate(itertools.cycle(schedule), 1):
        before = machine.cycles
        result = machine.run(budget)
        assert result.used <= budget, f"slice {n}: spent {result.used} > budget {budget}"
        assert result.cycles == before + result.used == machine.cycles
        if result.state != "budget":
            return result, n
        assert n < max_slices, f"still running after {n} slices"
        if n % len(schedule) == 0:
            assert machine.cycles > mark, f"no progress in a whole pass of schedule {schedule}"
            mark = machine.cycles
    raise AssertionError("unreachable")


def memory_digest(machine: rvdist.Machine) -> str:
    """SHA-256 of the whole guest memory."""
    return hashlib.sha256(machine.read_memory(0, machine.memory_size)).hexdigest()


def final_state(machine: rvdist.Machine, result: rvdist.RunResult, memory: bool = True) -> dict:
    """Everything observable about a stopped machine, for comparing two runs
    (``memory=False``: all but the hash of guest memory)."""
    err = result.error
    state = {
        "state": result.state,
        "exit_code": result.exit_code,
        "error": None if err is None else (type(err).__name__, err.to_dict()),
        "syscall": result.syscall,
        "cycles": machine.cycles,
        "pc": machine.pc,
        "registers": list(machine.registers),
        "fp_registers": machine.fp_registers,
        "fcsr": machine.fcsr,
        "stdout": machine.stdout,
        "stderr": machine.stderr,
        "stdin_position": machine.stdin_position,
        "brk": machine.brk,
    }
    if memory:
        state["memory"] = memory_digest(machine)
    return state


# --- a tiny RISC-V assembler ---------------------------------------------------

TEXT, DATA = 0x10000, 0x11000


def reg(r: int | str) -> int:
    return ABI_NAMES.index(r) if isinstance(r, str) else r


def _w(v: int) -> bytes:
    return struct.pack("<I", v & 0xFFFFFFFF)


def r_type(op, f3, f7, rd, rs1, rs2) -> bytes:
    return _w(f7 << 25 | reg(rs2) << 20 | reg(rs1) << 15 | f3 << 12 | reg(rd) << 7 | op)


def i_type(op, f3, rd, rs1, imm) -> bytes:
    assert -2048 <= imm < 4096, imm
    return _w((imm & 0xFFF) << 20 | reg(rs1) << 15 | f3 << 12 | reg(rd) << 7 | op)


def s_type(f3, rs2, rs1, imm) -> bytes:
    imm &= 0xFFF
    return _w((imm >> 5) << 25 | reg(rs2) << 20 | reg(rs1) << 15 | f3 << 12 | (imm & 31) << 7 | 0x23)


def b_type(f3, rs1, rs2, off) -> bytes:
    o = off & 0x1FFF
    return _w((o >> 12 & 1) << 31 | (o >> 5 & 63) << 25 | reg(rs2) << 20 | reg(rs1) << 15
              | f3 << 12 | (o >> 1 & 15) << 8 | (o >> 11 & 1) << 7 | 0x63)


def addi(rd, rs1, imm): return i_type(0x13, 0, rd, rs1, imm)
def slli(rd, rs1, sh): return i_type(0x13, 1, rd, rs1, sh)
def add(rd, rs1, rs2): return r_type(0x33, 0, 0, rd, rs1, rs2)
def mul(rd, rs1, rs2): return r_type(0x33, 0, 1, rd, rs1, rs2)
def div(rd, rs1, rs2): return r_type(0x33, 4, 1, rd, rs1, rs2)
def rem(rd, rs1, rs2): return r_type(0x33, 6, 1, rd, rs1, rs2)
def lui(rd, imm20): return _w((imm20 & 0xFFFFF) << 12 | reg(rd) << 7 | 0x37)
def ld(rd, rs1, off): return i_type(0x03, 3, rd, rs1, off)
def lw(rd, rs1, off): return i_type(0x03, 2, rd, rs1, off)
def lbu(rd, rs1, off): return i_type(0x03, 4, rd, rs1, off)
def sd(rs2, rs1, off): return s_type(3, rs2, rs1, off)
def sw(rs2, rs1, off): return s_type(2, rs2, rs1, off)
def beq(rs1, rs2, off): return b_type(0, rs1, rs2, off)
def bne(rs1, rs2, off): return b_type(1, rs1, rs2, off)
def amo(f5, f3, rd, rs1, rs2): return r_type(0x2F, f3, f5 << 2, rd, rs1, rs2)


def jal(rd, off) -> bytes:
    o = off & 0x1FFFFF
    return _w((o >> 20 & 1) << 31 | (o >> 1 & 0x3FF) << 21 | (o >> 11 & 1) << 20
              | (o >> 12 & 0xFF) << 12 | reg(rd) << 7 | 0x6F)


ECALL = _w(0x00000073)


def li(rd, value: int) -> bytes:
    """Load a 32-bit signed constant (one or two instructions)."""
    if -2048 <= value < 2048:
        return addi(rd, 0, value)
    assert -(1 << 31) <= value < (1 << 31), value
    low = (value & 0xFFF) - ((value & 0x800) << 1)
    return lui(rd, (value - low) >> 12) + i_type(0x1B, 0, rd, rd, low)  # lui + addiw


def syscall(number: int, *args: int) -> bytes:
    """``a0.. = args; a7 = number; ecall``."""
    code = b"".join(li(f"a{i}", v) for i, v in enumerate(args))
    return code + li("a7", number) + ECALL


def exit_with(reg_name: str = "a0") -> bytes:
    """exit(reg): the guest's exit code is the register's value."""
    return (addi("a0", reg_name, 0) if reg_name != "a0" else b"") + li("a7", 93) + ECALL


def asm_elf(code: bytes, data: bytes = b"", bss: int = 0, rodata: Optional[bytes] = None) -> bytes:
    """An ELF with ``code`` at TEXT (r-x), ``data`` + ``bss`` zero bytes at DATA (rw-)
    and, if given, ``rodata`` on the page after the data (r--)."""
    segs = [Seg(TEXT, code, flags=PF_R | PF_X)]
    if data or bss:
        segs.append(Seg(DATA, data, memsz=len(data) + bss, flags=PF_R | PF_W))
    if rodata is not None:
        end = -(-(DATA + len(data) + bss) // 4096) * 4096
        segs.append(Seg(end, rodata, flags=PF_R))
    return make_elf(segs, entry=TEXT)
