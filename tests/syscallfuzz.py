"""Random syscall sequences for the Linux ABI: every served syscall with
arguments drawn from good values, bad ones and garbage.

A case is a tiny guest: a table of (number, a0..a5) in its data segment,
next to a few buffers and path strings, and code that loads each row and
makes the call. Whatever the calls do (and they may overwrite the table,
map over the data, close fd 1 or exit early), the run must end in a typed
outcome: no host crash, no sanitizer report, no untyped exception, and the
same outcome on every run and in any slices.
"""

from __future__ import annotations

import random
import struct

import rvdist
from support.elfgen import DATA, TEXT, asm_elf
from support.rvasm import ECALL, addi, exit_with, ld, li

MEMORY = 1 << 20

#: The syscalls the core serves (csrc/linux.c), each with the kind of each argument.
#: p: pointer to a buffer, s: path string, f: fd, n: length, x: anything.
SERVED = {
    17: "pn", 23: "f", 24: "ffx", 25: "fxp", 29: "fxp", 34: "fsx", 35: "fsx", 46: "fn", 48: "fsx",
    49: "s", 50: "f", 52: "fx", 53: "fsx", 56: "fsxx", 57: "f", 61: "fpn", 62: "fxx", 63: "fpn", 64: "fpn", 65: "fpn",
    66: "fpn", 67: "fpnx", 68: "fpnx", 78: "fspn", 79: "fspx", 80: "fp", 82: "f", 83: "f",
    96: "p", 98: "pxxpxx", 99: "pn", 100: "xpp", 101: "pp", 113: "xp", 114: "xp", 115: "xxpp",
    122: "xnp", 123: "xnp", 124: "", 129: "xx", 130: "xx", 131: "xxx", 132: "pp", 134: "xppn",
    135: "xppn", 153: "p", 160: "p", 163: "xp", 164: "xp", 165: "xp", 166: "x", 169: "pp",
    172: "", 173: "", 174: "", 175: "", 176: "", 177: "", 178: "", 179: "p", 214: "x",
    215: "xn", 216: "xnnxx", 222: "xnxxfx", 226: "xnx", 233: "xnx", 261: "xxpp", 278: "pnx",
    293: "pnxx", 439: "fsxx",
}
#: Calls that end the run whatever their arguments: kept rare.
ENDING = {93, 94}

PATHS = [b"/", b".", b"..", b"/dev/null", b"/dev/urandom", b"/data/in.txt", b"/data", b"new.txt",
         b"d", b"d/e.txt", b"/data/in.txt/x", b"", b"/proc/self/exe", b"a" * 300, b"//data//in.txt/"]
BUFFER = DATA + 0x400      # 2 KiB of scratch the calls read and write
STRINGS = DATA + 0xC00


def _value(rng: random.Random, kind: str, strings: list[int]) -> int:
    pick = rng.random()
    if pick < 0.15:     # garbage of every size
        return rng.choice((0, 1, 2, -1, -100, 4096, 0x7fffffff, 1 << 31, 1 << 40, (1 << 63) + 1,
                           rng.getrandbits(64), rng.getrandbits(12), MEMORY - 8, MEMORY + 4096,
                           TEXT, DATA, 0xdead0000)) & (2**64 - 1)
    if kind == "p":
        return rng.choice((BUFFER, BUFFER + rng.randrange(1024), 0, TEXT, MEMORY - 16, 0x7fff12340000))
    if kind == "s":
        return rng.choice(strings + [0, 0x7fff12340000, TEXT])
    if kind == "f":
        return rng.choice((0, 1, 2, 3, 4, 5, -100, 1023, 1024, -1)) & (2**64 - 1)
    if kind == "n":
        return rng.choice((0, 1, 8, 16, 24, 64, 100, 1024, 4096, 1 << 20, 2**64 - 1))
    return rng.choice((0, 1, 2, 3, 0x41, 0x42, 0x22, 0x1000, 0o100 | 2, 0o644, 0x200, 0x100))


def case(seed: int, calls: int = 40) -> bytes:
    """The ELF of case ``seed``: ``calls`` random syscalls, then exit(0)."""
    rng = random.Random(seed)
    strings, blob = [], b""
    for p in PATHS:
        strings.append(STRINGS + len(blob))
        blob += p + b"\0"
    table = b""
    numbers = sorted(SERVED)
    for _ in range(calls):
        nr = rng.choice(numbers) if rng.random() > 0.01 else rng.choice(sorted(ENDING))
        kinds = SERVED.get(nr, "x")
        args = [_value(rng, kinds[i] if i < len(kinds) else "x", strings) for i in range(6)]
        table += struct.pack("<7Q", nr, *args)
    data = table.ljust(0x400, b"\0") + bytes(0x800) + blob
    # s0 = the row; per row: a7, a0..a5 from it, ecall. The table is in the
    # guest's own memory: a call may change rows still to come.
    code = li("s0", DATA)
    for _ in range(calls):
        code += ld("a7", "s0", 0)
        for r in range(6):
            code += ld(f"a{r}", "s0", 8 * (r + 1))
        code += ECALL + addi("s0", "s0", 56)
    code += li("a0", 0) + exit_with("a0")
    return asm_elf(code, data=data, bss=0x1000)


def files() -> dict[str, bytes]:
    return {"/data/in.txt": b"input file\n" * 20}


def outcome(seed: int, budgets: list[int] | None = None) -> tuple:
    """Run case ``seed`` (whole, or in the given budgets, cycled) and return what a guest
    and its host can observe of the end."""
    m = rvdist.Machine(case(seed), memory_size=MEMORY, files=files(), stdin=b"some stdin\n" * 10)
    if budgets is None:
        r = m.run()
    else:
        i = 0
        while (r := m.run(budgets[i % len(budgets)])).state == "budget":
            i += 1
    err = r.error
    return (r.state, r.exit_code, None if err is None else (type(err).__name__, str(err)), m.cycles,
            list(m.registers), m.stdout, m.stderr, m.files(),
            m.read_memory(0, MEMORY))
