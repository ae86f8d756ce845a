"""The committed guest programs (tests/guests), and running and comparing machines."""

from __future__ import annotations

import functools
import hashlib
import itertools
from pathlib import Path
from typing import Iterable

import pytest
from elftools.elf.elffile import ELFFile

import rvdist

GUESTS = Path(__file__).resolve().parent.parent / "guests"


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


def observe(machine: rvdist.Machine, memory: bool = True) -> dict:
    """Everything observable about a machine, for comparing two runs
    (``memory=False``: all but the hash of guest memory)."""
    err = machine.error
    state = {
        "state": machine.state,
        "exit_code": machine.exit_code,
        "error": None if err is None else (type(err).__name__, err.to_dict()),
        "cycles": machine.cycles,
        "pc": machine.pc,
        "registers": list(machine.registers),
        "fp_registers": machine.fp_registers,
        "fcsr": machine.fcsr,
        "stdout": machine.stdout,
        "stderr": machine.stderr,
        "stdin_position": machine.stdin_position,
        "brk": machine.brk,
        "max_cycles": machine.max_cycles,
        "memory_size": machine.memory_size,
        "files": machine.files(),
    }
    if memory:
        state["memory"] = memory_digest(machine)
    return state


def final_state(machine: rvdist.Machine, result: rvdist.RunResult, memory: bool = True) -> dict:
    """:func:`observe` (but the cycle limit: runs under different limits are
    compared), and how the run that stopped the machine ended."""
    state = observe(machine, memory)
    del state["max_cycles"]
    return {**state, "result": result.state, "syscall": result.syscall}
