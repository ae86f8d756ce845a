"""The Machine API run on real RISC-V programs: ISA self-checks, the qemu
reference outputs, process start, syscalls and host calls, memory, registers,
cycle metering and cost models, and configuration errors."""

from __future__ import annotations

import json
import struct

import pytest

import rvdist
from rvdist import ConfigError, CyclesExceeded, Machine, MemoryFault, ProgramError, RvError
from rvdist.cost import CLASSES, MAX_COST, MODELS
from support.elfgen import DATA, PF_R, PF_W, PF_X, TEXT, Seg, asm_elf, make_elf
from support.guests import GUESTS, guest, guest_paths, memory_digest
from support.rvasm import (
    ECALL,
    add,
    addi,
    amo,
    beq,
    bne,
    div,
    exit_with,
    i_type,
    jal,
    lbu,
    ld,
    li,
    lui,
    lw,
    mul,
    rem,
    sd,
    slli,
    sw,
    syscall,
)

U64 = (1 << 64) - 1
MiB = 1 << 20


def u64(m: rvdist.Machine, addr: int) -> int:
    return struct.unpack("<Q", m.read_memory(addr, 8))[0]


def c_string(m: rvdist.Machine, addr: int) -> bytes:
    out = b""
    while True:
        chunk = m.read_memory(addr + len(out), min(64, m.memory_size - addr - len(out)))
        if b"\0" in chunk:
            return out + chunk[: chunk.index(b"\0")]
        out += chunk


# --- ISA self-checks and the qemu reference ---------------------------------------


@pytest.mark.parametrize("relpath", guest_paths("isa/*.elf"))
def test_isa_self_check(relpath: str) -> None:
    m = rvdist.Machine(guest(relpath))
    r = m.run()
    assert r.state == "exited", f"{relpath}: {r.state} {r.error}"
    assert r.exit_code == 0, f"{relpath}: check number {r.exit_code} failed (tp={m.registers['tp']})"


def _expected_entries() -> list:
    path = GUESTS / "expected.json"
    if not path.is_file():
        return []
    entries = json.loads(path.read_text())
    return [pytest.param(e, id=f"{e['program']}-{'-'.join(e['args'])[:30]}-{i}")
            for i, e in enumerate(entries)]


@pytest.mark.parametrize("entry", _expected_entries())
def test_matches_qemu_reference(entry: dict) -> None:
    m = rvdist.Machine(guest(entry["program"]), args=entry["args"],
                       stdin=entry["stdin"].encode(), memory_size=entry["memory_size"])
    r = m.run()
    assert r.state == "exited", f"{r.state}: {r.error}"
    assert m.stdout.decode() == entry["stdout"]
    assert r.exit_code == entry["exit_code"], f"exit {r.exit_code}, qemu exited {entry['exit_code']}"
    assert m.stderr == b""
    if "instructions" in entry:
        # With the unit model a cycle is one instruction retired.
        assert r.cycles == entry["instructions"], \
            f"{r.cycles} cycles, qemu executed {entry['instructions']} instructions"


def test_expected_json_is_present_and_covers_the_c_programs(guests) -> None:
    entries = json.loads((guests / "expected.json").read_text())
    covered = {e["program"] for e in entries}
    missing = [p for p in guest_paths("c/*.elf") if p not in covered]
    assert not missing, f"C programs without a qemu reference entry: {missing}"


# --- process start -------------------------------------------------------------------

ARG_SETS = [[], ["a"], ["alpha", "two words", "", "last"], ["x" * 13, "yy", "zzz"],
            ["ünïcödé", "€"], [b"raw\xffbytes"], [str(i) for i in range(40)]]


@pytest.mark.parametrize("args", ARG_SETS, ids=lambda a: f"{len(a)}args")
def test_entry_state_and_stack(args) -> None:
    prog = guest("c/hello.elf")
    m = rvdist.Machine(prog, args=args)
    regs = m.registers
    assert (m.state, m.cycles, m.pc) == ("ready", 0, prog.entry)
    argv = [b"hello.elf"] + [a.encode() if isinstance(a, str) else a for a in args]
    sp = regs["sp"]
    assert sp % 16 == 0, f"sp {sp:#x} is not 16-byte aligned"
    assert 0 < sp < m.memory_size
    assert len(argv) == u64(m, sp)
    for i, expected in enumerate(argv):
        ptr = u64(m, sp + 8 * (1 + i))
        assert sp < ptr < m.memory_size
        assert c_string(m, ptr) == expected, f"argv[{i}]"
    at = sp + 8 * (1 + len(argv))
    assert u64(m, at) == 0, "argv is not NULL-terminated"
    at += 8
    while u64(m, at):  # envp
        at += 8
    at += 8
    auxv = {}
    while True:
        key, value = u64(m, at), u64(m, at + 8)
        at += 16
        if key == 0:
            break
        auxv[key] = value
        assert at < m.memory_size, "auxv does not end with AT_NULL"
    if 6 in auxv:
        assert auxv[6] == 4096, "AT_PAGESZ"
    for i in range(32):
        if i != 2:  # sp; a0 must be 0 too: glibc's _start takes it for rtld_fini
            assert regs[i] == 0, f"x{i} = {regs[i]:#x} at entry"


@pytest.mark.parametrize("args", ARG_SETS, ids=lambda a: f"{len(a)}args")
def test_hello_sees_its_arguments(args) -> None:
    m = rvdist.Machine(guest("c/hello.elf"), args=args)
    r = m.run()
    lines = [a.encode() if isinstance(a, str) else a for a in args]
    assert m.stdout == b"".join(x + b"\n" for x in [b"hello from rvdist", *lines])
    assert (r.state, r.exit_code) == ("exited", 1 + len(args)), "hello exits with argc"


def test_program_sources(guests) -> None:
    """A Program, ELF bytes or a path all load; argv[0] is the file name or "program"."""
    path = guests / "c/hello.elf"
    for source in (path, str(path), path.read_bytes(), rvdist.Program.from_file(path)):
        m = rvdist.Machine(source)
        assert m.run().exit_code == 1
    m = rvdist.Machine(path.read_bytes())
    assert c_string(m, u64(m, m.registers["sp"] + 8)) == b"program"


def test_bad_arguments() -> None:
    prog = guest("c/hello.elf")
    with pytest.raises(ConfigError):
        rvdist.Machine(prog, args=["nul\0inside"])
    with pytest.raises(ConfigError):
        rvdist.Machine(prog, args=["x" * 70_000, "y" * 70_000])


# --- syscalls ------------------------------------------------------------------------

MSG_OUT, MSG_ERR = b"to stdout\n", b"to stderr!\n"


def io_program() -> bytes:
    data = MSG_OUT.ljust(16, b"\0") + MSG_ERR
    code = (lui("s0", DATA >> 12)
            + li("a0", 1) + addi("a1", "s0", 0) + li("a2", len(MSG_OUT)) + li("a7", 64) + ECALL
            + li("a0", 2) + addi("a1", "s0", 16) + li("a2", len(MSG_ERR)) + ECALL
            + li("a0", 3) + addi("a1", "s0", 0) + li("a2", 1) + ECALL + addi("s1", "a0", 0)
            + li("a0", 5) + addi("a1", "s0", 64) + li("a2", 1) + li("a7", 63) + ECALL + addi("s2", "a0", 0)
            + li("a0", 1) + addi("a1", "s0", 0) + li("a2", 0) + li("a7", 64) + ECALL + addi("s3", "a0", 0)
            + syscall(93, 0))
    return asm_elf(code, data, bss=128)


def test_write_to_stdout_and_stderr_is_captured() -> None:
    m = rvdist.Machine(io_program())
    r = m.run()
    assert (r.state, r.exit_code) == ("exited", 0), r
    assert m.stdout == MSG_OUT and m.stderr == MSG_ERR
    assert (m.output_length(1), m.output_length(2)) == (len(MSG_OUT), len(MSG_ERR))
    assert m.output_since(1, 3) == MSG_OUT[3:] and m.output_since(2, 100) == b""
    regs = m.registers
    assert regs["s1"] == -9 & U64, "write to fd 3 must fail with -EBADF"
    assert regs["s2"] == -9 & U64, "read from fd 5 must fail with -EBADF"
    assert regs["s3"] == 0, "a zero-length write returns 0"


def test_read_stdin_in_chunks() -> None:
    stdin = bytes(range(256)) * 7 + b"the end, abc xyz"
    m = rvdist.Machine(guest("c/upper.elf"), stdin=stdin)
    assert m.stdin == stdin and m.stdin_position == 0
    r = m.run()
    assert (r.state, r.exit_code) == ("exited", 0), r
    expected = bytes(b - 32 if ord("a") <= b <= ord("z") else b for b in stdin)
    assert m.stdout == expected
    assert m.stdin_position == len(stdin)


def test_read_stdin_across_slices() -> None:
    """upper reads 7 bytes at a time; a read never sees bytes twice or skips any."""
    stdin = b"Hello, slices! " * 40
    m = rvdist.Machine(guest("c/upper.elf"), stdin=stdin)
    positions = []
    while not (r := m.run(13)).done:
        positions.append(m.stdin_position)
    assert positions == sorted(positions) and positions[-1] <= len(stdin)
    assert all(p % 7 == 0 or p == len(stdin) for p in positions)
    assert m.stdout == stdin.upper() and r.exit_code == 0


def buffer_program(fd: int, buf: int, length: int, number: int) -> tuple[bytes, int]:
    """One read or write syscall on (fd, buf, length), then exit(a0); and the ecall's address."""
    setup = li("a0", fd) + li("a1", buf) + li("a2", length) + li("a7", number)
    return asm_elf(setup + ECALL + exit_with("a0"), bss=64, rodata=b"ro"), TEXT + len(setup)


EFAULT = 14


@pytest.mark.parametrize("what, fd, buf, length, number, stdin", [
    ("read into text", 0, TEXT, 4, 63, b"abcd"),
    ("read into rodata", 0, 0x12000, 2, 63, b"ab"),
    ("read past the end of memory", 0, 4 * MiB - 16, 32, 63, b"x" * 40),
    ("read into the NULL guard", 0, 0x100, 4, 63, b"abcd"),
    ("write past the end of memory", 1, 4 * MiB - 16, 32, 64, b""),
    ("write from the NULL guard", 1, 0, 4, 64, b""),
])
def test_syscall_buffers_obey_the_sandbox(what, fd, buf, length, number, stdin) -> None:
    """A buffer a syscall may not use gets EFAULT, as on Linux: nothing is read,
    written or consumed, and the guest goes on."""
    elf, ecall = buffer_program(fd, buf, length, number)
    m = rvdist.Machine(elf, stdin=stdin)
    before = m.read_memory(buf, 16)
    r = m.run()
    assert (r.state, r.exit_code) == ("exited", -EFAULT), f"{what}: {r}"
    assert m.read_memory(buf, 16) == before, f"{what}: memory changed"
    assert (m.stdout, m.stdin_position) == (b"", 0)


def test_write_from_text_is_allowed() -> None:
    m = rvdist.Machine(buffer_program(1, TEXT, 8, 64)[0])
    r = m.run()
    assert (r.exit_code, m.stdout) == (8, m.read_memory(TEXT, 8))


def test_brkgrow_program() -> None:
    m = rvdist.Machine(guest("c/brkgrow.elf"))
    r = m.run()
    assert r.exit_code == 0, f"brkgrow step {r.exit_code} misbehaved:\n{m.stdout.decode()[-300:]}"


def test_brk_grows_and_refuses_beyond_limits() -> None:
    requests = [0, 0x20_0000, 4 * MiB, 4 * MiB + 4096, DATA, 0x10_0000, 0]
    code = lui("s0", DATA >> 12)
    for i, req in enumerate(requests):
        code += li("a0", req) + li("a7", 214) + ECALL + sd("a0", "s0", 8 * i)
    code += li("a0", 1) + slli("a0", "a0", 62) + ECALL + sd("a0", "s0", 8 * len(requests))
    code += syscall(93, 0)
    m = rvdist.Machine(asm_elf(code, bss=8 * 16), memory_size=4 * MiB)
    start = m.brk
    assert start == m.program.image_end == 0x12000
    r = m.run()
    assert r.exit_code == 0, r
    got = [u64(m, DATA + 8 * i) for i in range(len(requests) + 1)]
    assert got == [start,            # brk(0) asks
                   0x20_0000,        # grows
                   0x20_0000,        # all of memory would eat the stack: refused
                   0x20_0000,        # past the end of memory: refused
                   0x20_0000,        # below the initial break: refused
                   0x10_0000,        # shrinks
                   0x10_0000,        # brk(0) asks
                   0x10_0000], [hex(g) for g in got]  # brk(2**62): refused
    assert m.brk == 0x10_0000


HOST = 500


def host_call_program() -> bytes:
    """a0 = host_call_500(6, DATA); write(1, DATA, a0); exit(a0)."""
    code = (lui("s0", DATA >> 12) + li("a0", 6) + addi("a1", "s0", 0) + li("a7", HOST) + ECALL
            + addi("s1", "a0", 0)
            + li("a0", 1) + addi("a1", "s0", 0) + addi("a2", "s1", 0) + li("a7", 64) + ECALL
            + exit_with("s1"))
    return asm_elf(code, bss=4096)


def test_handler_return_value_lands_in_a0() -> None:
    m = rvdist.Machine(host_call_program())
    calls = []

    def handler(machine: rvdist.Machine) -> int:
        regs = machine.registers
        calls.append((regs["a0"], regs["a1"], regs["a7"]))
        n = regs["a0"] * 7
        machine.write_memory(regs["a1"], b"x" * n)
        return n

    m.on_syscall(HOST, handler)
    r = m.run()
    assert calls == [(6, DATA, HOST)]
    assert (r.state, r.exit_code) == ("exited", 42), r
    assert m.stdout == b"x" * 42


def test_handler_returning_none_keeps_its_registers() -> None:
    m = rvdist.Machine(host_call_program())

    def handler(machine: rvdist.Machine) -> None:
        machine.write_memory(DATA, b"abcde")
        machine.registers["a0"] = 5

    m.on_syscall(HOST, handler)
    r = m.run()
    assert (r.exit_code, m.stdout) == (5, b"abcde")


def test_suspend_and_complete_host_call() -> None:
    m = rvdist.Machine(host_call_program())
    m.on_syscall(HOST, lambda machine: rvdist.SUSPEND)
    r = m.run()
    assert (r.state, r.syscall, r.done) == ("host_call", HOST, False), r
    assert m.state == "host_call"
    assert m.registers["a0"] == 6, "arguments are still in the registers while suspended"
    cycles = m.cycles
    m.write_memory(DATA, b"later\n")
    m.complete_host_call(6)
    assert m.cycles == cycles
    r = m.run()
    assert (r.state, r.exit_code, m.stdout) == ("exited", 6, b"later\n"), r
    with pytest.raises(RvError):
        m.complete_host_call(1)


def test_suspended_call_in_slices() -> None:
    """A host call inside a sliced run: every slice stays in budget, same end result."""
    whole = rvdist.Machine(host_call_program())
    whole.on_syscall(HOST, lambda machine: 3)
    whole.run()
    m = rvdist.Machine(host_call_program())
    m.on_syscall(HOST, lambda machine: rvdist.SUSPEND)
    states = []
    while not (r := m.run(2)).done:
        assert r.used <= 2
        states.append(r.state)
        if r.state == "host_call":
            m.complete_host_call(3)
    assert states.count("host_call") == 1
    assert (r.exit_code, m.stdout, m.cycles, list(m.registers)) == \
        (whole.exit_code, whole.stdout, whole.cycles, list(whole.registers))


def test_raising_handler_leaves_the_host_fine() -> None:
    m = rvdist.Machine(host_call_program())
    m.on_syscall(HOST, lambda machine: {}["missing"])
    m.run()
    assert isinstance(m.error, rvdist.HostCallError) and isinstance(m.error.__cause__, KeyError)
    assert m.error.pc == TEXT + 16  # the ecall, after lui, li a0, addi a1, li a7
    ok = rvdist.Machine(host_call_program())
    ok.on_syscall(HOST, lambda machine: 0)
    assert ok.run().exit_code == 0


def test_unhandled_syscall_names_number_and_pc() -> None:
    m = rvdist.Machine(host_call_program())
    m.on_syscall(HOST, lambda machine: 0)
    m.on_syscall(HOST, None)  # removed again
    m.run()
    err = m.error
    assert isinstance(err, rvdist.UnsupportedSyscall), repr(err)
    assert (err.number, err.pc) == (HOST, TEXT + 16)
    assert str(HOST) in str(err) and f"{TEXT + 16:#x}" in str(err)


def test_unhandled_syscall_run_result() -> None:
    r = rvdist.Machine(host_call_program()).run()
    assert r.state == "error" and isinstance(r.error, rvdist.UnsupportedSyscall), r


@pytest.mark.parametrize("number", [63, 64, 93, 94, 214])
def test_core_syscalls_cannot_be_overridden(number: int) -> None:
    m = rvdist.Machine(guest("c/hello.elf"))
    with pytest.raises(ConfigError):
        m.on_syscall(number, lambda machine: 0)
    with pytest.raises(ConfigError):
        m.on_syscall(number, None)
    assert m.run().exit_code == 1


# --- memory ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["128KiB", "1MiB", "64MiB", "1GiB", "4GiB", 4 << 30, 3 * 4096 * 1024])
def test_memory_sizes(size) -> None:
    m = rvdist.Machine(guest("c/hello.elf"), args=["big"], memory_size=size)
    expected = rvdist.units.parse_size(size) if isinstance(size, str) else size
    assert m.memory_size == expected
    r = m.run()
    assert (r.exit_code, m.stdout) == (2, b"hello from rvdist\nbig\n")
    assert m.read_memory(expected - 4, 4) == b"big\0", "argv strings sit at the top of memory"
    with pytest.raises(MemoryFault):
        m.read_memory(expected - 4, 5)


def test_several_4GiB_machines_at_once() -> None:
    machines = [rvdist.Machine(guest("c/hello.elf"), memory_size="4GiB") for _ in range(4)]
    for m in machines:
        m.write_memory((4 << 30) - (1 << 30), b"touch")
    assert [m.run().exit_code for m in machines] == [1, 1, 1, 1]


def test_program_that_does_not_fit_memory() -> None:
    with pytest.raises(ProgramError):
        rvdist.Machine(guest("c/hello.elf"), memory_size="64KiB")


def test_host_memory_writes_are_seen_by_the_guest() -> None:
    code = lui("s0", DATA >> 12) + ld("a0", "s0", 8) + exit_with("a0")
    m = rvdist.Machine(asm_elf(code, bss=16))
    m.write_memory(DATA + 8, (42).to_bytes(8, "little"))
    assert m.read_memory(DATA, 16) == bytes(8) + (42).to_bytes(8, "little")
    assert m.run().exit_code == 42


def test_write_to_text_and_rodata_is_refused() -> None:
    code = syscall(93, 0)
    elf = asm_elf(code, bss=4096, rodata=b"constant")
    m = rvdist.Machine(elf)
    rodata = 0x12000
    text = m.read_memory(TEXT, len(code))
    assert text == code
    with pytest.raises(MemoryFault) as info:
        m.write_memory(TEXT + 4, b"\0\0\0\0")
    assert (info.value.kind, info.value.address) == ("write_exec", TEXT + 4)
    with pytest.raises(MemoryFault) as info:
        m.write_memory(rodata, b"CONSTANT")
    assert info.value.kind == "write_readonly"
    # A write straddling the last data page and rodata writes nothing at all.
    with pytest.raises(MemoryFault) as info:
        m.write_memory(rodata - 4, b"12345678")
    assert info.value.kind == "write_readonly"
    assert m.read_memory(rodata - 4, 12) == bytes(4) + b"constant"
    assert m.read_memory(TEXT, len(code)) == text
    assert m.run().exit_code == 0


def test_out_of_range_memory_access() -> None:
    m = rvdist.Machine(guest("c/hello.elf"), memory_size="1MiB")
    size = m.memory_size
    assert len(m.read_memory(size - 8, 8)) == 8
    assert m.read_memory(size, 0) == b""
    for addr, length in ((size, 1), (size - 1, 2), (U64, 1), (1 << 40, 8), (-8, 8)):
        with pytest.raises(MemoryFault) as info:
            m.read_memory(addr, length)
        assert info.value.kind == "load_fault"
        assert info.value.address == addr
    top = m.read_memory(size - 3, 3)
    for addr in (size - 3, size, 1 << 63):
        with pytest.raises(MemoryFault) as info:
            m.write_memory(addr, b"1234")
        assert info.value.kind == "store_fault"
    assert m.read_memory(size - 3, 3) == top, "a refused write changed memory"
    with pytest.raises(ConfigError):
        m.read_memory(0, -1)


@pytest.mark.parametrize("length", [1 << 62, 1 << 64])
def test_huge_read_is_a_memory_fault(length: int) -> None:
    m = rvdist.Machine(guest("c/hello.elf"))
    with pytest.raises(MemoryFault):
        m.read_memory(0, length)


# --- registers ------------------------------------------------------------------------


def test_registers_by_index_and_name() -> None:
    m = rvdist.Machine(guest("c/hello.elf"))
    regs = m.registers
    assert len(regs) == 32 and len(list(regs)) == 32
    assert regs["sp"] == regs[2] == regs["x2"]
    regs["s0"] = 0x1234
    assert regs["fp"] == regs[8] == regs["x8"] == 0x1234
    regs[31] = -1
    assert regs["t6"] == U64
    regs["a5"] = (1 << 64) + 7
    assert regs[15] == 7
    regs[0] = 99
    regs["zero"] = 99
    assert regs[0] == regs["x0"] == 0
    assert regs == list(regs)
    for bad in ("x32", "pc", "A0", "r1"):
        with pytest.raises(KeyError):
            regs[bad]
    for bad in (32, -1, 100):
        with pytest.raises(IndexError):
            regs[bad]


def test_guest_sees_host_registers_and_pc() -> None:
    # TEXT: exit(s1); TEXT+12: exit(s2)
    code = exit_with("s1") + exit_with("s2")
    m = rvdist.Machine(asm_elf(code))
    m.registers["s1"] = 77
    assert m.run().exit_code == 77
    m = rvdist.Machine(asm_elf(code))
    m.registers["x18"] = 78
    m.pc = TEXT + 12
    assert m.pc == TEXT + 12
    assert m.run().exit_code == 78


def test_x0_stays_zero() -> None:
    code = (addi(0, 0, 5) + lui(0, 0x12345) + add(0, "sp", "sp")
            + i_type(0x03, 3, 0, "sp", 0)  # ld x0, 0(sp)
            + add("a0", 0, 0) + exit_with("a0"))
    m = rvdist.Machine(asm_elf(code))
    r = m.run()
    assert r.exit_code == 0 and m.registers[0] == 0
    assert r.cycles == 7


def test_jump_into_the_middle_of_an_instruction() -> None:
    """The upper half of `addi x0, s10, 0x451` is `c.li a0, 7`; run it both ways."""
    code = (li("a0", 0)                    # 0
            + addi(0, "s10", 0x451)        # 4: a hint (no-op); bytes 6..7 = c.li a0, 7
            + bne("a0", 0, 12)             # 8: -> 20 once a0 != 0
            + jal(0, -6)                   # 12: -> 6
            + li("a0", 99)                 # 16: never
            + li("a7", 93) + ECALL)        # 20
    m = rvdist.Machine(asm_elf(code))
    r = m.run()
    assert (r.exit_code, r.cycles) == (7, 8)


def straddle_into_data_elf() -> bytes:
    """2047 c.nop, then a 4-byte instruction whose upper half lies in the (non-executable) data page."""
    code = struct.pack("<H", 0x0001) * 2047 + struct.pack("<H", 0x0513)  # addi a0, a0, 1 ...
    return make_elf([Seg(TEXT, code, flags=PF_R | PF_X),
                     Seg(DATA, struct.pack("<H", 0x0015).ljust(16, b"\0"), flags=PF_R | PF_W)], entry=TEXT)


@pytest.mark.parametrize("budget", [None, 1, 3, 2046])
def test_instruction_straddling_into_a_data_page_faults(budget) -> None:
    m = rvdist.Machine(straddle_into_data_elf())
    while not (r := m.run(budget)).done:
        pass
    err = r.error
    assert isinstance(err, MemoryFault) and err.kind == "fetch_fault", repr(err)
    assert (err.pc, err.address) == (TEXT + 4094, DATA)
    assert m.cycles == 2047
    assert m.registers["a0"] == 0, "a0 is still 0 (as at start): the faulting instruction did not run"


# --- cycles and cost models -------------------------------------------------------------

# (cost class, code); class None: skipped by a branch, never run
C_LD_A5_S0 = struct.pack("<H", 0x601C)    # c.ld a5, 0(s0)
C_LW_A4_8S0 = struct.pack("<H", 0x4418)   # c.lw a4, 8(s0)
C_J_2 = struct.pack("<H", 0xA009)         # c.j .+2
C_MV_A0_A4 = struct.pack("<H", 0x853A)    # c.mv a0, a4
C_ADDI_A0_1 = struct.pack("<H", 0x0505)   # c.addi a0, 1
CLASSED = [
    ("alu", li("a0", 100)), ("alu", li("a1", 7)),
    ("mul", mul("a2", "a0", "a1")), ("div", div("a3", "a0", "a1")), ("div", rem("a4", "a0", "a1")),
    ("alu", lui("s0", DATA >> 12)),
    ("mem64", sd("a2", "s0", 0)), ("mem64", ld("a5", "s0", 0)),
    ("mem", sw("a3", "s0", 8)), ("mem", lw("a6", "s0", 8)), ("mem", lbu("s1", "s0", 0)),
    ("atomic_w", amo(0, 2, "s2", "s0", "a1")),   # amoadd.w
    ("atomic_d", amo(0, 3, "s3", "s0", "a1")),   # amoadd.d
    ("atomic_d", amo(2, 3, "s4", "s0", 0)),      # lr.d
    ("atomic_d", amo(3, 3, "s5", "s0", "a1")),   # sc.d
    ("mem64", C_LD_A5_S0), ("mem", C_LW_A4_8S0), ("jump", C_J_2),
    ("alu", C_MV_A0_A4), ("alu", C_ADDI_A0_1),
    ("jump", beq(0, 0, 8)), (None, addi("a0", "a0", 100)), ("jump", jal(0, 4)),
    ("alu", li("a7", 93)), ("system", ECALL),
]
CLASSED_ELF = asm_elf(b"".join(code for _, code in CLASSED), bss=64)
PRIMES = dict(zip(CLASSES, [2, 3, 5, 7, 11, 13, 17, 19, 23]))


@pytest.mark.parametrize("model", ["unit", "ckb", PRIMES, {"div": 7}, {"system": MAX_COST}],
                         ids=["unit", "ckb", "primes", "div7", "max"])
def test_cost_classes_exact(model) -> None:
    m = rvdist.Machine(CLASSED_ELF, cost_model=model)
    table = MODELS[model] if isinstance(model, str) else {c: model.get(c, 1) for c in CLASSES}
    assert m.cost_table == table
    assert m.cost_model == (model if isinstance(model, str) else "custom")
    r = m.run()
    assert (r.state, r.exit_code) == ("exited", 15), r
    regs = m.registers
    got = {n: regs[n] for n in ("a2", "a3", "a5", "a6", "s1", "s2", "s3", "s4", "s5", "a4")}
    assert got == {"a2": 700, "a3": 14, "a5": 7, "a6": 14, "s1": 700 & 255, "s2": 700,
                   "s3": 707, "s4": 714, "s5": 0, "a4": 14}
    expected = sum(table[c] for c, _ in CLASSED if c)
    assert r.cycles == expected, f"cycles {r.cycles}, sum of class costs {expected}"


def test_ckb_costs_more_than_unit() -> None:
    for relpath, args in (("c/hello.elf", ["x"]), ("c/intloop.elf", ["100"]), ("isa/muldiv.elf", [])):
        unit = rvdist.Machine(guest(relpath), args=args)
        ckb = rvdist.Machine(guest(relpath), args=args, cost_model="ckb")
        ru, rc = unit.run(), ckb.run()
        assert (ru.exit_code, unit.stdout) == (rc.exit_code, ckb.stdout)
        assert rc.cycles > ru.cycles, f"{relpath}: ckb {rc.cycles} <= unit {ru.cycles}"
    div7 = rvdist.Machine(guest("isa/muldiv.elf"), cost_model={"div": 7})
    assert div7.run().exit_code == 0 and div7.cycles > ru.cycles


@pytest.mark.parametrize("bad", ["fast", "", {"bogus": 1}, {"div": 0}, {"div": -1}, {"div": 1.5},
                                 {"div": True}, {"div": "7"}, {"div": MAX_COST + 1}, {"alu": None}])
def test_bad_cost_tables(bad) -> None:
    with pytest.raises(ConfigError):
        rvdist.Machine(guest("c/hello.elf"), cost_model=bad)


def instruction_starts(prog: rvdist.Program) -> set[int]:
    """Instruction addresses by a linear sweep of the text (no data in text)."""
    starts = set()
    for seg in prog.segments:
        if seg.executable:
            at = 0
            while at + 2 <= len(seg.data):
                starts.add(seg.vaddr + at)
                at += 4 if seg.data[at] & 3 == 3 else 2
    return starts


@pytest.mark.parametrize("cost_model", ["unit", "ckb"])
def test_budget_stops_at_instruction_boundaries(cost_model: str) -> None:
    prog = guest("c/hello.elf")
    starts = instruction_starts(prog)
    m = rvdist.Machine(prog, args=["a", "bc"], cost_model=cost_model)
    biggest = max(m.cost_table.values())
    n = 0
    for n in range(1, 100_000):
        budget = (1, 2, 3, 5)[n % 4] if cost_model == "unit" else (1, 4, 500, 33)[n % 4]
        r = m.run(budget)
        if r.done:
            break
        assert r.state == "budget" and r.used <= budget
        if cost_model == "unit":
            assert r.used == budget, "with unit costs a slice stops only when the budget is spent"
        else:
            assert budget - r.used < biggest
        assert m.pc in starts, f"stopped at {m.pc:#x}, not an instruction start"
    assert (r.exit_code, m.stdout) == (3, b"hello from rvdist\na\nbc\n") and n > 10


def test_zero_budget_makes_no_progress() -> None:
    m = rvdist.Machine(guest("c/intloop.elf"), args=["50"], memory_size="1MiB")
    for _ in range(3):
        before = (m.pc, m.cycles, list(m.registers), memory_digest(m), m.stdout)
        r = m.run(0)
        assert (r.state, r.used, r.cycles) == ("budget", 0, before[1])
        assert (m.pc, m.cycles, list(m.registers), memory_digest(m), m.stdout) == before
        m.run(123)
    m.run()
    r = m.run(0)
    assert (r.state, r.used, r.exit_code) == ("exited", 0, 0)


def test_exited_machine_stays_exited() -> None:
    m = rvdist.Machine(guest("c/hello.elf"))
    first = m.run()
    for budget in (None, 0, 10):
        r = m.run(budget)
        assert (r.state, r.exit_code, r.cycles, r.used) == ("exited", 1, first.cycles, 0)
    assert m.stdout == b"hello from rvdist\n"


@pytest.mark.parametrize("cost_model", ["unit", "ckb"])
@pytest.mark.parametrize("limit", [1, 57, 1000, 2345])
def test_max_cycles_stops_where_the_budget_would(cost_model: str, limit: int) -> None:
    """max_cycles=N stops exactly where run(N) does: before the instruction that would pass N."""
    args = dict(args=["200"], memory_size="1MiB", cost_model=cost_model)
    budgeted = rvdist.Machine(guest("c/intloop.elf"), **args)
    rb = budgeted.run(limit)
    assert rb.state == "budget"
    capped = rvdist.Machine(guest("c/intloop.elf"), max_cycles=limit, **args)
    assert capped.max_cycles == limit
    rc = capped.run()
    assert rc.state == "error" and isinstance(rc.error, rvdist.CyclesExceeded), rc
    assert rc.error.pc == capped.pc == budgeted.pc
    assert capped.cycles == budgeted.cycles <= limit
    assert list(capped.registers) == list(budgeted.registers)
    if cost_model == "unit":
        assert capped.cycles == limit
    assert str(limit) in str(rc.error)


@pytest.mark.parametrize("cost_model", ["unit", "ckb"])
def test_raising_max_cycles_continues_to_the_same_end(cost_model: str) -> None:
    args = dict(args=["300"], memory_size="1MiB", cost_model=cost_model)
    free = rvdist.Machine(guest("c/intloop.elf"), **args)
    free_result = free.run()
    m = rvdist.Machine(guest("c/intloop.elf"), max_cycles=1000, **args)
    stops = []
    for new_limit in (1500, 1501, 4000, None):
        r = m.run(700)
        while r.state == "budget":
            r = m.run(700)
        assert isinstance(r.error, rvdist.CyclesExceeded), r
        stops.append(m.cycles)
        m.max_cycles = new_limit
        assert m.max_cycles == new_limit and m.state == "ready"
    r = m.run()
    assert stops == sorted(stops) and len(set(stops)) >= 3
    assert (r.state, r.exit_code, m.stdout, m.cycles, m.pc, list(m.registers), memory_digest(m)) == \
        (free_result.state, free_result.exit_code, free.stdout, free.cycles, free.pc,
         list(free.registers), memory_digest(free))


def test_raising_max_cycles_does_not_revive_other_errors() -> None:
    m = rvdist.Machine(guest("faults/store_text.elf"), max_cycles=10_000)
    m.run()
    err = m.error.to_dict()
    m.max_cycles = None
    assert m.state == "error"
    r = m.run()
    assert r.state == "error" and r.error.to_dict() == err


def test_lowering_max_cycles_below_spent() -> None:
    m = rvdist.Machine(guest("c/intloop.elf"), args=["100"])
    m.run(500)
    pc = m.pc
    m.max_cycles = 100
    r = m.run(1000)
    assert isinstance(r.error, rvdist.CyclesExceeded) and r.used == 0
    assert (m.cycles, m.pc, r.error.pc) == (500, pc, pc)
    m.max_cycles = None
    assert m.max_cycles is None
    assert m.run().exit_code == 0


# --- configuration errors -----------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 4095, 4097, 4096 * 1000 + 1, (4 << 30) + 4096, 8 << 30, -4096,
                                  "12 parsecs", "", "4 GiB of RAM", "-1MiB", "1.5KiB", "5GiB"])
def test_bad_memory_size(size) -> None:
    with pytest.raises(ConfigError):
        rvdist.Machine(guest("c/hello.elf"), memory_size=size)


@pytest.mark.parametrize("kwargs", [{"max_cycles": -1}, {"max_cycles": 1 << 64}, {"output_limit": -1}])
def test_bad_limits(kwargs) -> None:
    with pytest.raises(ConfigError):
        rvdist.Machine(guest("c/hello.elf"), **kwargs)


@pytest.mark.parametrize("budget", [-1, -1000, 1 << 64])
def test_bad_budget(budget: int) -> None:
    m = rvdist.Machine(guest("c/hello.elf"))
    with pytest.raises(ConfigError):
        m.run(budget)
    assert (m.state, m.cycles) == ("ready", 0)
    assert m.run().exit_code == 1


def test_config_error_types() -> None:
    with pytest.raises(ValueError):
        rvdist.Machine(guest("c/hello.elf"), memory_size="12 parsecs")
    assert issubclass(ConfigError, RvError) and ConfigError("x").to_dict()["kind"] == "config"


@pytest.mark.parametrize("value", [-1, 1 << 64])
def test_bad_max_cycles_setter(value: int) -> None:
    m = rvdist.Machine(guest("c/hello.elf"))
    with pytest.raises(ConfigError):
        m.max_cycles = value


def test_negative_stack_size_rejected() -> None:
    with pytest.raises(ConfigError):
        rvdist.Machine(guest("c/hello.elf"), stack_size=-1)


# -- the core owns its state: Python changes it only through core functions -------------

def test_failing_a_host_call_is_a_core_transition() -> None:
    """rv_fail_host_call: only a pending host call, only with a host error kind."""
    from rvdist._core import lib

    m = Machine(asm_elf(li("a0", 7) + syscall(500) + exit_with()))
    core = m.core
    assert lib.rv_fail_host_call(core, lib.RV_ERR_HOST) == -1 and m.state == "ready"
    assert m.run().state == "error" and m.error.number == 500          # unhandled: RV_ERR_SYSCALL
    m = Machine(asm_elf(li("a0", 7) + syscall(500) + exit_with()))
    m.on_syscall(500, lambda mm: rvdist.SUSPEND)
    assert m.run().state == "host_call"
    core, ecall_pc = m.core, int(m.core.host_call_pc)
    assert m.pc == ecall_pc + 4
    for kind in (lib.RV_ERR_NONE, lib.RV_ERR_ILLEGAL, lib.RV_ERR_CYCLES, 99):
        assert lib.rv_fail_host_call(core, kind) == -1 and m.state == "host_call"
    assert lib.rv_fail_host_call(core, lib.RV_ERR_HOST) == 0
    assert (m.state, m.pc, int(core.err_pc), int(core.err_kind)) == ("error", ecall_pc, ecall_pc, lib.RV_ERR_HOST)
    assert lib.rv_finish_host_call(core) == -1 and lib.rv_fail_host_call(core, lib.RV_ERR_HOST) == -1


def test_max_cycles_and_output_limit_are_core_transitions() -> None:
    from rvdist._core import lib

    m = Machine(guest("c/intloop.elf"), max_cycles=1000)
    assert isinstance(m.run().error, CyclesExceeded)
    lib.rv_set_max_cycles(m.core, 1000)         # the same limit: ready again, to stop again
    assert m.state == "ready" and isinstance(m.run().error, CyclesExceeded) and m.cycles == 1000
    lib.rv_set_max_cycles(m.core, lib.RV_NO_LIMIT)
    assert m.max_cycles is None and m.run(5000).state == "budget"
    lib.rv_set_output_limit(m.core, 123)
    assert m.output_limit == 123


def test_the_brk_range_is_checked_by_the_core() -> None:
    from rvdist._core import lib

    m = Machine(guest("c/hello.elf"), memory_size=MiB)
    core, brk_min = m.core, m.brk
    assert int(core.brk_min) == brk_min and int(core.brk_max) <= MiB
    for lo, hi in ((brk_min + 4096, brk_min), (brk_min, MiB + 4096)):
        assert lib.rv_set_brk_range(core, lo, hi) == -1
    assert (int(core.brk_min), m.brk) == (brk_min, brk_min)
    assert lib.rv_set_brk_range(core, brk_min + 4096, MiB) == 0
    assert (int(core.brk_min), m.brk, int(core.brk_max)) == (brk_min + 4096, brk_min + 4096, MiB)


def test_one_source_for_the_defaults_and_limits() -> None:
    """The core's constants are the defaults Python uses, and a bare core machine has them."""
    from rvdist._core import ffi, lib
    from rvdist.machine import DEFAULT_OUTPUT_LIMIT, MAX_MEMORY_SIZE

    assert DEFAULT_OUTPUT_LIMIT == lib.RV_DEFAULT_OUTPUT_LIMIT == Machine(guest("c/hello.elf")).output_limit
    assert MAX_MEMORY_SIZE == lib.RV_MAX_MEMORY and MAX_COST == lib.RV_MAX_COST
    bare = ffi.gc(lib.rv_new(MiB), lib.rv_free)
    assert int(bare.out_cap) == lib.RV_DEFAULT_OUTPUT_LIMIT and int(bare.max_cycles) == lib.RV_NO_LIMIT
    assert list(bare.cost) == [1] * lib.RV_NCLASSES


def test_cost_classes_are_the_cores() -> None:
    """rvdist.cost lists the classes in the core's order, and refuses to load if not."""
    from pathlib import Path

    import rvdist.cost
    from rvdist._core import lib

    assert [getattr(lib, f"RV_CLASS_{c.upper()}") for c in CLASSES] == list(range(lib.RV_NCLASSES))
    source = Path(rvdist.cost.__file__).read_text()
    swapped = source.replace('    "mul",       # MUL*\n    "div",', '    "div",\n    "mul",       # MUL*\n', 1)
    assert swapped != source
    with pytest.raises(ImportError, match="RV_CLASS_"):
        exec(compile(swapped, "cost.py", "exec"), {"__name__": "cost_swapped"})
