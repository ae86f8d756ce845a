"""Guest faults: every deliberate fault in tests/guests/faults/*.elf ends the run
with the right typed error, at the right pc and address, and the host lives on."""

from __future__ import annotations

import pytest

import rvdist
from rvdist import (
    Breakpoint,
    CyclesExceeded,
    GuestError,
    HostCallError,
    IllegalInstruction,
    MemoryFault,
    OutputLimitExceeded,
    UnsupportedSyscall,
)
from support.guests import GUESTS, guest, guest_paths, run_slices, symbols

MSG = b"spam spam spam spam\n"
OUTPUT_LIMIT = 10 * len(MSG) + 7  # not a multiple of a write: no partial write may get in
MAX_CYCLES = 1000

# name -> (error class, kind, uses fault_addr, extra machine settings)
EXPECTED = {
    "store_text": (MemoryFault, "write_exec", True, {}),
    "exec_data": (MemoryFault, "fetch_fault", True, {}),
    "load_oob": (MemoryFault, "load_fault", True, {}),
    "store_high": (MemoryFault, "store_fault", True, {}),
    "store_rodata": (MemoryFault, "write_readonly", True, {}),
    "amo_misaligned": (MemoryFault, "misaligned_atomic", True, {}),
    "csr": (IllegalInstruction, "illegal_instruction", False, {}),
    "zero_insn": (IllegalInstruction, "illegal_instruction", False, {}),
    "ebreak": (Breakpoint, "breakpoint", False, {}),
    "c_ebreak": (Breakpoint, "breakpoint", False, {}),
    "ecall_unsupported": (UnsupportedSyscall, "unsupported_syscall", False, {}),
    "write_forever": (OutputLimitExceeded, "output_limit", False, {"output_limit": OUTPUT_LIMIT}),
    "infinite_loop": (CyclesExceeded, "cycles_exceeded", False, {"max_cycles": MAX_CYCLES}),
}

FAULTS = guest_paths("faults/*.elf")

def name_of(relpath: str) -> str:
    return relpath.split("/")[-1].removesuffix(".elf")


def params(relpaths):
    return [pytest.param(p, id=name_of(p)) for p in relpaths]


def settings_for(relpath: str) -> dict:
    return EXPECTED.get(name_of(relpath), (GuestError, None, False, {}))[3]


def make(relpath: str, **kw) -> rvdist.Machine:
    return rvdist.Machine(guest(relpath), **{**settings_for(relpath), **kw})


def check_error(relpath: str, machine: rvdist.Machine, err: GuestError) -> None:
    """Everything the error must say about the fault in ``relpath``."""
    name = name_of(relpath)
    syms = symbols(relpath)
    assert "fault_here" in syms, f"{relpath} lacks the fault_here symbol"
    cls, kind, has_addr, _ = EXPECTED.get(name, (GuestError, None, False, {}))
    assert isinstance(err, cls), f"{name}: expected {cls.__name__}, got {type(err).__name__}: {err}"
    if kind is not None:
        assert err.kind == kind, f"{name}: kind {err.kind!r}, expected {kind!r}"
    assert err.pc == syms["fault_here"], f"{name}: pc {err.pc:#x}, fault_here is {syms['fault_here']:#x}"
    if has_addr:
        assert err.address == syms["fault_addr"], \
            f"{name}: address {err.address!r}, fault_addr is {syms['fault_addr']:#x}"
    d = err.to_dict()
    assert {"kind", "pc", "address", "message"} <= d.keys(), d
    assert (d["kind"], d["pc"], d["address"], d["message"]) == (err.kind, err.pc, err.address, str(err))
    assert f"{err.pc:#x}" in d["message"], f"message does not name the pc: {d['message']!r}"
    assert machine.state == "error"
    assert machine.exit_code is None
    assert machine.pc == err.pc, "the machine must stop at the faulting instruction"


@pytest.mark.parametrize("relpath", params(FAULTS))
def test_fault_error_fields(relpath: str) -> None:
    m = make(relpath)
    m.run()
    assert m.error is not None, f"{relpath}: no error after the run (state {m.state})"
    check_error(relpath, m, m.error)


@pytest.mark.parametrize("relpath", params(FAULTS))
def test_fault_run_result(relpath: str) -> None:
    m = make(relpath)
    r = m.run()
    assert r.state == "error", f"{relpath}: run() returned {r}"
    assert r.done and r.exit_code is None
    assert r.cycles == m.cycles == r.used
    check_error(relpath, m, r.error)


@pytest.mark.parametrize("relpath", params(FAULTS))
def test_fault_is_sticky(relpath: str) -> None:
    """Running a failed machine again changes nothing and reports the same error."""
    m = make(relpath)
    m.run()
    first = m.error.to_dict()
    cycles, pc, regs = m.cycles, m.pc, list(m.registers)
    for budget in (None, 0, 1, 1000):
        r = m.run(budget)
        assert r.state == "error" and r.used == 0, r
        assert type(r.error) is type(m.error) and r.error.to_dict() == first
        assert (m.cycles, m.pc, list(m.registers)) == (cycles, pc, regs)


@pytest.mark.parametrize("relpath", params(FAULTS))
@pytest.mark.parametrize("cost_model", ["unit", "ckb"])
def test_fault_same_in_slices(relpath: str, cost_model: str) -> None:
    """The fault is found at the same place, with the same cycles, in 1- and 7-cycle slices."""
    whole = make(relpath, cost_model=cost_model)
    whole.run()
    # ckb: an ecall costs 500, and a slice below the next instruction's cost makes no progress.
    for schedule in ([1], [7, 0, 3]) if cost_model == "unit" else ([1, 2, 3, 500], [7, 0, 3, 600]):
        m = make(relpath, cost_model=cost_model)
        run_slices(m, schedule)
        assert m.error is not None and m.error.to_dict() == whole.error.to_dict()
        assert (m.cycles, m.pc, list(m.registers), m.stdout) == \
            (whole.cycles, whole.pc, list(whole.registers), whole.stdout)


STRAIGHT_LINE = ["store_text", "load_oob", "store_high", "store_rodata", "amo_misaligned",
                 "csr", "zero_insn", "ebreak", "c_ebreak"]
CHARGES_FAULTING = {"store_text", "load_oob", "store_high", "store_rodata", "amo_misaligned",
                    "ebreak", "c_ebreak"}


def instructions_before(relpath: str, address: int) -> int:
    """Instructions from the entry point up to ``address`` in straight-line code."""
    prog = guest(relpath)
    text = next(s for s in prog.segments if s.executable)
    at, n = prog.entry, 0
    while at < address:
        at += 4 if text.data[at - text.vaddr] & 3 == 3 else 2
        n += 1
    assert at == address
    return n


@pytest.mark.parametrize("name", STRAIGHT_LINE)
def test_fault_cycles_charge_what_began_to_execute(name: str) -> None:
    """The documented rule: an instruction is charged when it starts to execute, so a
    load, store, AMO or EBREAK that faults is charged; an instruction that cannot be
    fetched or decoded (fetch fault, illegal instruction) never starts and costs nothing."""
    relpath = f"faults/{name}.elf"
    if not (GUESTS / relpath).is_file():
        pytest.skip(f"{relpath} is not built")
    m = make(relpath)
    m.run()
    before = instructions_before(relpath, symbols(relpath)["fault_here"])
    expected = before + (1 if name in CHARGES_FAULTING else 0)
    assert m.cycles == expected, f"{name}: {m.cycles} cycles, expected {expected} ({before} before the fault)"


def test_host_survives_every_fault() -> None:
    """After all faults in one process, a fresh machine still runs normally."""
    for relpath in FAULTS:
        make(relpath).run()
    m = rvdist.Machine(guest("c/hello.elf"), args=["still", "alive"])
    r = m.run()
    assert (r.state, r.exit_code) == ("exited", 3)
    assert m.stdout == b"hello from rvdist\nstill\nalive\n"


def test_faulting_store_writes_nothing() -> None:
    for relpath in ("faults/store_text.elf", "faults/store_rodata.elf"):
        addr = symbols(relpath)["fault_addr"]
        m = make(relpath)
        before = m.read_memory(addr & ~7, 16)
        m.run()
        assert isinstance(m.error, MemoryFault)
        assert m.read_memory(addr & ~7, 16) == before, f"{relpath}: the refused store changed memory"


def test_exec_data_never_runs_the_data() -> None:
    """The data holds code that would exit 101: fetching it must fault, not run it."""
    relpath = "faults/exec_data.elf"
    m = make(relpath)
    last_run = None
    while True:
        pc = m.pc
        r = m.run(1)
        if r.used:
            last_run = pc
        if r.state != "budget":
            break
    assert m.exit_code is None and m.state == "error"
    assert m.error.kind == "fetch_fault"
    jump = symbols(relpath).get("jump_here")
    if jump is not None:
        # The last instruction that ran was the jump.
        assert last_run == jump, f"last instruction run at {last_run:#x}, jump_here is {jump:#x}"


def test_illegal_instruction_bits() -> None:
    for relpath, width in (("faults/csr.elf", 4), ("faults/zero_insn.elf", 2)):
        here = symbols(relpath)["fault_here"]
        m = make(relpath)
        m.run()
        err = m.error
        assert isinstance(err, IllegalInstruction)
        word = int.from_bytes(m.read_memory(here, width), "little")
        assert err.bits == word, f"{relpath}: bits {err.bits:#x}, memory holds {word:#x}"
        assert err.to_dict()["bits"] == word
    # csrr a0, mstatus = csrrs a0, 0x300, x0
    assert make("faults/csr.elf").run().error.bits & 0xFFFFF07F == 0x30002073


def test_unsupported_syscall_number() -> None:
    relpath = "faults/ecall_unsupported.elf"
    m = make(relpath)
    m.run()
    err = m.error
    assert isinstance(err, UnsupportedSyscall)
    assert err.number == 1234 and err.to_dict()["number"] == 1234
    assert "1234" in str(err) and f"{symbols(relpath)['fault_here']:#x}" in str(err)


def test_unsupported_syscall_served_by_a_handler() -> None:
    """With a handler for 1234 the program gets past fault_here (and exits 100)."""
    m = make("faults/ecall_unsupported.elf")
    m.on_syscall(1234, lambda machine: 0)
    r = m.run()
    assert (r.state, r.exit_code) == ("exited", 100)


def test_output_limit_keeps_output_intact() -> None:
    relpath = "faults/write_forever.elf"
    syms = symbols(relpath)
    for limit in (0, len(MSG), OUTPUT_LIMIT, 4096):
        m = make(relpath, output_limit=limit)
        r = m.run()
        assert isinstance(m.error, OutputLimitExceeded), f"limit {limit}: {m.error!r}"
        assert m.stdout == MSG * (limit // len(MSG)), f"limit {limit}: output {len(m.stdout)} bytes"
        assert m.stderr == b""
        assert m.error.pc == syms["fault_here"]
        if "msg" in syms:
            assert m.error.address == syms["msg"], "address should be the buffer being written"
        assert str(limit) in str(m.error)
        assert r.cycles == m.cycles


def test_cycles_exceeded_stops_on_fault_here() -> None:
    relpath = "faults/infinite_loop.elf"
    here = symbols(relpath)["fault_here"]
    for cost_model in ("unit", "ckb"):
        jump = rvdist.Machine(guest(relpath), cost_model=cost_model).cost_table["jump"]
        for max_cycles in range(1000, 1004):
            m = make(relpath, cost_model=cost_model, max_cycles=max_cycles)
            r = m.run()
            assert isinstance(r.error, CyclesExceeded), r
            assert r.error.pc == here == m.pc
            assert r.error.address is None
            # Stopped exactly where the next instruction (the jump) would pass the limit.
            assert m.cycles <= max_cycles < m.cycles + jump, \
                f"{cost_model} max_cycles={max_cycles}: stopped at {m.cycles} cycles"
    # max_cycles=0: not even the first instruction runs.
    m = make(relpath, max_cycles=0)
    r = m.run()
    assert isinstance(r.error, CyclesExceeded) and r.error.pc == guest(relpath).entry == m.pc
    assert r.cycles == 0


def test_raising_handler_is_a_host_call_error() -> None:
    m = make("faults/ecall_unsupported.elf")

    def handler(machine: rvdist.Machine) -> int:
        raise ZeroDivisionError("handler bug")

    m.on_syscall(1234, handler)
    m.run()
    err = m.error
    assert isinstance(err, HostCallError), repr(err)
    assert err.kind == "host_call_error"
    assert isinstance(err.__cause__, ZeroDivisionError)
    assert "ZeroDivisionError" in str(err) and "1234" in str(err)
    assert err.pc == symbols("faults/ecall_unsupported.elf")["fault_here"]
    again = m.run()
    assert again.state == "error" and isinstance(again.error, HostCallError)


def test_raising_handler_run_result() -> None:
    m = make("faults/ecall_unsupported.elf")
    m.on_syscall(1234, lambda machine: 1 // 0)
    r = m.run()
    assert r.state == "error" and isinstance(r.error, HostCallError), r
