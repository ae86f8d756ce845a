"""Differential ISA testing of rvdist against Unicorn (QEMU) as the reference.

The generator builds seeded random instruction sequences with its own tiny
assembler (every instruction keeps a mnemonic string, so a failing case can
be printed as a listing and checked against ``llvm-mc``). The same bytes run

* in rvdist (:class:`rvdist.Machine`, unit cost model), and
* in Unicorn's riscv64 CPU (QEMU 5 based, machine mode, misa RV64IMAFDC+SU),

and afterwards all 32 registers and the whole data region must agree, and
rvdist's cycle count must equal the number of instructions Unicorn executed
(counted with a code hook) plus one for the final ``ecall``.

Reference for the bit-manipulation extensions
    Unicorn has no Zba/Zbb/Zbc/Zbs: they raise an illegal-instruction
    exception there. The Unicorn runner catches that exception for the
    instructions the generator emitted as bit-manipulation ops, computes the
    result with the pure-Python reference in :data:`ZB_REF` (written from the
    RISC-V bitmanip spec v1.0.0 pseudo-code) and resumes after the
    instruction. So bit-manipulation ops take part in the random sequences
    too, and :func:`bitmanip_batch` checks them one by one on edge operands.

Layout (identical in both)
    text   0x10000..  R+X (the sequence, then ``li a7,93; ecall``)
    rodata 0x18000..0x1a000  R    random bytes, read through ``tp``
    data   0x20000..0x30000  R+W  random bytes, read and written through
                                  ``sp``, ``gp``, ``s0`` and ``s1``
    Guest memory is 4 MiB. The base registers are never written by the
    generated code (except ``sp`` by C.ADDI16SP, whose value the generator
    tracks), so every access provably stays inside its region; accesses are
    often misaligned and often straddle a 4 KiB page boundary.

Where the two implementations may legitimately differ, and what the
generator does about it
    * SC success. QEMU implements SC as "the address matches the reservation
      *and* memory still holds the value LR read" (a compare-and-swap);
      rvdist as "the address matches the reservation"; both clear the
      reservation on every SC. They differ only when the hart itself writes
      the reserved location between LR and SC, where the spec lets the SC
      succeed or fail (SCs may fail for any reason). So the generator emits
      LR/SC only as a self-contained pair -- ``addi t,base,off; lr rd,(t);
      0-2 register-only ALU ops; sc rd2,rs2,(t or another address)`` -- with
      no memory write between them and the SC of the LR's width; as every LR
      is paired, a lone SC never finds a reservation (it fails in both).
    * Privilege. Unicorn runs in machine mode, so machine CSRs and writes
      to the counters work there; rvdist is user-mode only, with the FP CSRs
      and read-only cycle/time/instret. Such instructions are checked
      against rvdist's expected error alone, with Unicorn run only up to them
      (:data:`RVDIST_ONLY_FAULTS`). F and D have their own differential test
      against qemu-riscv64 (:mod:`fpdiff`).
    * Partial stores. A store straddling the end of memory makes Unicorn
      write the bytes that fit before it faults (the ISA allows a faulting
      misaligned store to be partly done); rvdist's stores are all or
      nothing. For those cases rvdist's last page is compared with Unicorn's
      state just before the store.
    * SC without a reservation. QEMU does not touch memory for it at all, so a
      misaligned or out-of-memory SC simply fails there; rvdist (like Spike)
      checks the access first and faults. Also checked against rvdist alone.

Unicorn quirks the runner works around
    * No Zba/Zbb/Zbc/Zbs (see above); ``UC_HOOK_INSN_INVALID`` is never
      called for riscv, the illegal-instruction exception arrives at
      ``UC_HOOK_INTR`` (intno 2) instead, where the PC register already points
      one instruction past the faulting one: the runner takes the pc from its
      code hook.
    * ``ebreak`` / ``c.ebreak`` end ``emu_start`` with ``UC_ERR_INSN_INVALID``
      without calling the interrupt hook; the runner looks at the instruction
      to tell a breakpoint from an illegal instruction.
    * An AMO outside mapped memory is reported as a failed *read*
      (``UC_ERR_READ_UNMAPPED``); the ISA calls it a store/AMO access fault.
    * ``ecall`` arrives as intno 8 whatever the privilege level.
    * ``mem_protect`` on part of the text mapping left the translation cache
      confused for later cases (Unicorn ran past the ``until`` address of a
      page-crossing sequence), so a case that needs a shorter executable
      text gets its own Unicorn instance instead.

Run by hand::

    python tests/diffgen.py --cases 20000 --seed 1
    python tests/diffgen.py --faults 2000 --bitmanip
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import time
import dataclasses
from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support.elfgen import PF_R, PF_W, PF_X, Seg, make_elf  # noqa: E402
from support.rvasm import (  # noqa: E402
    OP_AMO, OP_AUIPC, OP_IMM, OP_IMM32, OP_JALR, OP_LOAD, OP_LUI, OP_OP, OP_OP32, OP_STORE, OP_SYSTEM,
    enc_b, enc_i, enc_j, enc_r, enc_s, enc_u,
)

import rvdist  # noqa: E402

# ---------------------------------------------------------------------------
# Layout

TEXT = 0x10000
TEXT_MAX = 0x8000            # room mapped for code in Unicorn
RO_START, RO_END = 0x18000, 0x1A000
DATA_START, DATA_END = 0x20000, 0x30000
MEMORY_SIZE = 4 << 20
PAGE = 0x1000

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
INT64_MIN = 1 << 63
INT64_MAX = (1 << 63) - 1

REG_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1",
             "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
             "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
             "t3", "t4", "t5", "t6")
SP, GP, TP, S0, S1, A7 = 2, 3, 4, 8, 9, 17
DATA_BASES = (SP, GP, S0, S1)          # pointers into the data region
RO_BASE = TP                            # pointer into the read-only region
PROTECTED = frozenset((0, SP, GP, TP, S0, S1))
WRITABLE = tuple(r for r in range(32) if r not in PROTECTED)
C_WRITABLE = tuple(r for r in range(10, 16))   # x8..x15 minus the bases s0/s1
C_REGS = tuple(range(8, 16))


def sx(value: int, bits: int) -> int:
    """``value``'s low ``bits`` bits, sign-extended, as a Python int."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def u64(value: int) -> int:
    return value & M64


# ---------------------------------------------------------------------------
# The assembler


class Insn(NamedTuple):
    """One encoded instruction: its bits, size in bytes and assembly text.

    ``zb`` is set for bit-manipulation ops: ``(name, rd, rs1, rs2_or_imm,
    form)`` with form ``"r"``, ``"u"`` (unary) or ``"i"`` (immediate), used
    by the Unicorn runner to emulate them. ``llvm`` is False for the few
    encodings ``llvm-mc`` cannot assemble by name (hints).
    """

    word: int
    size: int
    text: str
    zb: Optional[tuple] = None
    llvm: bool = True


def _n(r: int) -> str:
    return REG_NAMES[r]


def _bit(v: int, hi: int, lo: int) -> int:
    """Bits ``hi..lo`` of ``v``."""
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


# --- RV64I / M ---------------------------------------------------------------

ALU_R = {"add": (0, 0), "sub": (0x20, 0), "sll": (0, 1), "slt": (0, 2), "sltu": (0, 3),
         "xor": (0, 4), "srl": (0, 5), "sra": (0x20, 5), "or": (0, 6), "and": (0, 7)}
ALU_RW = {"addw": (0, 0), "subw": (0x20, 0), "sllw": (0, 1), "srlw": (0, 5), "sraw": (0x20, 5)}
MUL_R = {"mul": 0, "mulh": 1, "mulhsu": 2, "mulhu": 3, "div": 4, "divu": 5, "rem": 6, "remu": 7}
MUL_RW = {"mulw": 0, "divw": 4, "divuw": 5, "remw": 6, "remuw": 7}
ALU_I = {"addi": 0, "slti": 2, "sltiu": 3, "xori": 4, "ori": 6, "andi": 7}
LOADS = {"lb": (0, 1), "lh": (1, 2), "lw": (2, 4), "ld": (3, 8),
         "lbu": (4, 1), "lhu": (5, 2), "lwu": (6, 4)}
STORES = {"sb": (0, 1), "sh": (1, 2), "sw": (2, 4), "sd": (3, 8)}
BRANCHES = {"beq": 0, "bne": 1, "blt": 4, "bge": 5, "bltu": 6, "bgeu": 7}
AMOS = {"amoswap": 1, "amoadd": 0, "amoxor": 4, "amoand": 12, "amoor": 8,
        "amomin": 16, "amomax": 20, "amominu": 24, "amomaxu": 28}


def r_op(name: str, rd: int, rs1: int, rs2: int) -> Insn:
    if name in ALU_R:
        f7, f3 = ALU_R[name]
        op = OP_OP
    elif name in ALU_RW:
        f7, f3 = ALU_RW[name]
        op = OP_OP32
    elif name in MUL_R:
        f7, f3, op = 1, MUL_R[name], OP_OP
    else:
        f7, f3, op = 1, MUL_RW[name], OP_OP32
    return Insn(enc_r(f7, rs2, rs1, f3, rd, op), 4, f"{name} {_n(rd)}, {_n(rs1)}, {_n(rs2)}")


def i_op(name: str, rd: int, rs1: int, imm: int) -> Insn:
    if name == "addiw":
        return Insn(enc_i(imm, rs1, 0, rd, OP_IMM32), 4, f"addiw {_n(rd)}, {_n(rs1)}, {imm}")
    return Insn(enc_i(imm, rs1, ALU_I[name], rd, OP_IMM), 4, f"{name} {_n(rd)}, {_n(rs1)}, {imm}")


def shift_i(name: str, rd: int, rs1: int, sh: int) -> Insn:
    word = name.endswith("w")
    assert 0 <= sh < (32 if word else 64)
    base = name[:-1] if word else name
    f3 = 1 if base == "slli" else 5
    imm = sh | (0x400 if base == "srai" else 0)
    return Insn(enc_i(imm, rs1, f3, rd, OP_IMM32 if word else OP_IMM), 4,
                f"{name} {_n(rd)}, {_n(rs1)}, {sh}")


def lui(rd: int, imm20: int) -> Insn:
    return Insn(enc_u(imm20, rd, OP_LUI), 4, f"lui {_n(rd)}, {imm20 & 0xFFFFF:#x}")


def auipc(rd: int, imm20: int) -> Insn:
    return Insn(enc_u(imm20, rd, OP_AUIPC), 4, f"auipc {_n(rd)}, {imm20 & 0xFFFFF:#x}")


def load(name: str, rd: int, rs1: int, off: int) -> Insn:
    return Insn(enc_i(off, rs1, LOADS[name][0], rd, OP_LOAD), 4, f"{name} {_n(rd)}, {off}({_n(rs1)})")


def store(name: str, rs2: int, rs1: int, off: int) -> Insn:
    return Insn(enc_s(off, rs2, rs1, STORES[name][0], OP_STORE), 4,
                f"{name} {_n(rs2)}, {off}({_n(rs1)})")


def branch(name: str, rs1: int, rs2: int, off: int) -> Insn:
    assert -4096 <= off < 4096 and off % 2 == 0
    return Insn(enc_b(off, rs2, rs1, BRANCHES[name]), 4, f"{name} {_n(rs1)}, {_n(rs2)}, {off}")


def jal(rd: int, off: int) -> Insn:
    return Insn(enc_j(off, rd), 4, f"jal {_n(rd)}, {off}")


def jalr(rd: int, rs1: int, off: int) -> Insn:
    return Insn(enc_i(off, rs1, 0, rd, OP_JALR), 4, f"jalr {_n(rd)}, {off}({_n(rs1)})")


def amo(name: str, width: int, rd: int, rs2: int, rs1: int, aq: int = 0, rl: int = 0) -> Insn:
    """An AMO (``name`` from :data:`AMOS`), or ``"lr"`` / ``"sc"``."""
    f5 = {"lr": 2, "sc": 3}.get(name, AMOS.get(name))
    f3 = 2 if width == 4 else 3
    word = enc_r(f5 << 2 | aq << 1 | rl, rs2, rs1, f3, rd, OP_AMO)
    suffix = ("w" if width == 4 else "d") + (".aq" if aq and not rl else "") \
        + (".rl" if rl and not aq else "") + (".aqrl" if aq and rl else "")
    if name == "lr":
        text = f"lr.{suffix} {_n(rd)}, ({_n(rs1)})"
    else:
        text = f"{name}.{suffix} {_n(rd)}, {_n(rs2)}, ({_n(rs1)})"
    return Insn(word, 4, text)


def pad(n: int) -> Insn:
    """``n`` zero bytes (never executed: they would be illegal instructions)."""
    return Insn(0, n, f".zero {n}", llvm=False)


def code_bytes(insns: Sequence[Insn]) -> bytes:
    return b"".join(struct.pack("<I", i.word) if i.size == 4 else struct.pack("<H", i.word)
                    if i.size == 2 else bytes(i.size) for i in insns)


FENCE = Insn(0x0FF0000F, 4, "fence iorw, iorw")
FENCE_RW = Insn(0x0330000F, 4, "fence rw, rw")
ECALL = Insn(0x00000073, 4, "ecall")
EBREAK = Insn(0x00100073, 4, "ebreak")

# --- C extension ---------------------------------------------------------------


def _ci(f3: int, rd: int, imm6: int, op: int) -> int:
    return (f3 << 13) | (((imm6 >> 5) & 1) << 12) | (rd << 7) | ((imm6 & 0x1F) << 2) | op


def c_addi(rd: int, imm: int) -> Insn:
    hint = imm == 0 or rd == 0
    return Insn(_ci(0, rd, imm, 1), 2, f"c.addi {_n(rd)}, {imm}", llvm=not hint)


def c_nop() -> Insn:
    return Insn(0x0001, 2, "c.nop")


def c_addiw(rd: int, imm: int) -> Insn:
    assert rd
    return Insn(_ci(1, rd, imm, 1), 2, f"c.addiw {_n(rd)}, {imm}")


def c_li(rd: int, imm: int) -> Insn:
    return Insn(_ci(2, rd, imm, 1), 2, f"c.li {_n(rd)}, {imm}", llvm=rd != 0)


def c_lui(rd: int, imm6: int) -> Insn:
    """c.lui rd, nzimm with nzimm[17:12] = imm6 (a non-zero signed 6-bit value)."""
    assert imm6 and rd != 2
    return Insn(_ci(3, rd, imm6, 1), 2, f"c.lui {_n(rd)}, {imm6 & 0xFFFFF:#x}", llvm=rd != 0)


def c_addi16sp(imm: int) -> Insn:
    assert imm and imm % 16 == 0 and -512 <= imm < 512
    bits = (_bit(imm, 9, 9) << 12) | (2 << 7) | (_bit(imm, 4, 4) << 6) | (_bit(imm, 6, 6) << 5) \
        | (_bit(imm, 8, 7) << 3) | (_bit(imm, 5, 5) << 2)
    return Insn((3 << 13) | bits | 1, 2, f"c.addi16sp sp, {imm}")


def c_addi4spn(rd: int, imm: int) -> Insn:
    assert 0 < imm < 1024 and imm % 4 == 0 and rd in C_REGS
    bits = (_bit(imm, 5, 4) << 11) | (_bit(imm, 9, 6) << 7) | (_bit(imm, 2, 2) << 6) \
        | (_bit(imm, 3, 3) << 5) | ((rd - 8) << 2)
    return Insn(bits, 2, f"c.addi4spn {_n(rd)}, sp, {imm}")


def c_slli(rd: int, sh: int) -> Insn:
    return Insn(_ci(0, rd, sh, 2), 2, f"c.slli {_n(rd)}, {sh}", llvm=rd != 0 and sh != 0)


def c_shift_andi(name: str, rd: int, imm: int) -> Insn:
    f2 = {"c.srli": 0, "c.srai": 1, "c.andi": 2}[name]
    word = (4 << 13) | (_bit(imm, 5, 5) << 12) | (f2 << 10) | ((rd - 8) << 7) \
        | ((imm & 0x1F) << 2) | 1
    return Insn(word, 2, f"{name} {_n(rd)}, {imm}", llvm=not (name != "c.andi" and imm == 0))


C_ARITH = {"c.sub": (0, 0), "c.xor": (0, 1), "c.or": (0, 2), "c.and": (0, 3),
           "c.subw": (1, 0), "c.addw": (1, 1)}


def c_arith(name: str, rd: int, rs2: int) -> Insn:
    b12, f2 = C_ARITH[name]
    word = (4 << 13) | (b12 << 12) | (3 << 10) | ((rd - 8) << 7) | (f2 << 5) | ((rs2 - 8) << 2) | 1
    return Insn(word, 2, f"{name} {_n(rd)}, {_n(rs2)}")


def c_mv(rd: int, rs2: int) -> Insn:
    assert rs2
    return Insn((4 << 13) | (rd << 7) | (rs2 << 2) | 2, 2, f"c.mv {_n(rd)}, {_n(rs2)}", llvm=rd != 0)


def c_add(rd: int, rs2: int) -> Insn:
    assert rs2
    return Insn((4 << 13) | (1 << 12) | (rd << 7) | (rs2 << 2) | 2, 2,
                f"c.add {_n(rd)}, {_n(rs2)}", llvm=rd != 0)


def c_jr(rs1: int) -> Insn:
    assert rs1
    return Insn((4 << 13) | (rs1 << 7) | 2, 2, f"c.jr {_n(rs1)}")


def c_jalr(rs1: int) -> Insn:
    assert rs1
    return Insn((4 << 13) | (1 << 12) | (rs1 << 7) | 2, 2, f"c.jalr {_n(rs1)}")


C_EBREAK = Insn(0x9002, 2, "c.ebreak")


def c_mem(name: str, r: int, base: int, off: int) -> Insn:
    """c.lw / c.ld / c.sw / c.sd with 3-bit register fields."""
    assert r in C_REGS and base in C_REGS
    f3 = {"c.lw": 2, "c.ld": 3, "c.sw": 6, "c.sd": 7}[name]
    if name in ("c.lw", "c.sw"):
        assert 0 <= off < 128 and off % 4 == 0
        imm = (_bit(off, 5, 3) << 10) | (_bit(off, 2, 2) << 6) | (_bit(off, 6, 6) << 5)
    else:
        assert 0 <= off < 256 and off % 8 == 0
        imm = (_bit(off, 5, 3) << 10) | (_bit(off, 7, 6) << 5)
    word = (f3 << 13) | imm | ((base - 8) << 7) | ((r - 8) << 2)
    return Insn(word, 2, f"{name} {_n(r)}, {off}({_n(base)})")


def c_sp_mem(name: str, r: int, off: int) -> Insn:
    """c.lwsp / c.ldsp / c.swsp / c.sdsp."""
    if name == "c.lwsp":
        assert r and 0 <= off < 256 and off % 4 == 0
        word = (2 << 13) | (_bit(off, 5, 5) << 12) | (r << 7) | (_bit(off, 4, 2) << 4) \
            | (_bit(off, 7, 6) << 2) | 2
    elif name == "c.ldsp":
        assert r and 0 <= off < 512 and off % 8 == 0
        word = (3 << 13) | (_bit(off, 5, 5) << 12) | (r << 7) | (_bit(off, 4, 3) << 5) \
            | (_bit(off, 8, 6) << 2) | 2
    elif name == "c.swsp":
        assert 0 <= off < 256 and off % 4 == 0
        word = (6 << 13) | (_bit(off, 5, 2) << 9) | (_bit(off, 7, 6) << 7) | (r << 2) | 2
    else:
        assert 0 <= off < 512 and off % 8 == 0
        word = (7 << 13) | (_bit(off, 5, 3) << 10) | (_bit(off, 8, 6) << 7) | (r << 2) | 2
    return Insn(word, 2, f"{name} {_n(r)}, {off}(sp)")


def c_j(off: int) -> Insn:
    assert -2048 <= off < 2048 and off % 2 == 0
    bits = (_bit(off, 11, 11) << 12) | (_bit(off, 4, 4) << 11) | (_bit(off, 9, 8) << 9) \
        | (_bit(off, 10, 10) << 8) | (_bit(off, 6, 6) << 7) | (_bit(off, 7, 7) << 6) \
        | (_bit(off, 3, 1) << 3) | (_bit(off, 5, 5) << 2)
    return Insn((5 << 13) | bits | 1, 2, f"c.j {off}")


def c_bz(name: str, rs1: int, off: int) -> Insn:
    assert rs1 in C_REGS and -256 <= off < 256 and off % 2 == 0
    f3 = 6 if name == "c.beqz" else 7
    bits = (_bit(off, 8, 8) << 12) | (_bit(off, 4, 3) << 10) | ((rs1 - 8) << 7) \
        | (_bit(off, 7, 6) << 5) | (_bit(off, 2, 1) << 3) | (_bit(off, 5, 5) << 2)
    return Insn((f3 << 13) | bits | 1, 2, f"{name} {_n(rs1)}, {off}")


# --- Zba / Zbb / Zbc / Zbs ---------------------------------------------------------

#: name -> (funct7, funct3, opcode) of the register-register ops.
ZB_R = {
    "add.uw": (0x04, 0, OP_OP32), "sh1add": (0x10, 2, OP_OP), "sh2add": (0x10, 4, OP_OP),
    "sh3add": (0x10, 6, OP_OP), "sh1add.uw": (0x10, 2, OP_OP32),
    "sh2add.uw": (0x10, 4, OP_OP32), "sh3add.uw": (0x10, 6, OP_OP32),
    "andn": (0x20, 7, OP_OP), "orn": (0x20, 6, OP_OP), "xnor": (0x20, 4, OP_OP),
    "max": (0x05, 6, OP_OP), "maxu": (0x05, 7, OP_OP), "min": (0x05, 4, OP_OP),
    "minu": (0x05, 5, OP_OP), "rol": (0x30, 1, OP_OP), "ror": (0x30, 5, OP_OP),
    "rolw": (0x30, 1, OP_OP32), "rorw": (0x30, 5, OP_OP32),
    "clmul": (0x05, 1, OP_OP), "clmulr": (0x05, 2, OP_OP), "clmulh": (0x05, 3, OP_OP),
    "bclr": (0x24, 1, OP_OP), "bext": (0x24, 5, OP_OP), "binv": (0x34, 1, OP_OP),
    "bset": (0x14, 1, OP_OP),
}
#: name -> (imm12, funct3, opcode) of the one-operand ops.
ZB_U = {
    "clz": (0x600, 1, OP_IMM), "ctz": (0x601, 1, OP_IMM), "cpop": (0x602, 1, OP_IMM),
    "clzw": (0x600, 1, OP_IMM32), "ctzw": (0x601, 1, OP_IMM32), "cpopw": (0x602, 1, OP_IMM32),
    "sext.b": (0x604, 1, OP_IMM), "sext.h": (0x605, 1, OP_IMM), "zext.h": (0x080, 4, OP_OP32),
    "orc.b": (0x287, 5, OP_IMM), "rev8": (0x6B8, 5, OP_IMM),
}
#: name -> (imm12 without the shift amount, funct3, opcode, shift amount bits).
ZB_I = {
    "slli.uw": (0x080, 1, OP_IMM32, 6), "rori": (0x600, 5, OP_IMM, 6),
    "roriw": (0x600, 5, OP_IMM32, 5), "bclri": (0x480, 1, OP_IMM, 6),
    "bexti": (0x480, 5, OP_IMM, 6), "binvi": (0x680, 1, OP_IMM, 6), "bseti": (0x280, 1, OP_IMM, 6),
}


def zb_op(name: str, rd: int, rs1: int, rs2_or_imm: int = 0) -> Insn:
    if name in ZB_R:
        f7, f3, op = ZB_R[name]
        return Insn(enc_r(f7, rs2_or_imm, rs1, f3, rd, op), 4,
                    f"{name} {_n(rd)}, {_n(rs1)}, {_n(rs2_or_imm)}", zb=(name, rd, rs1, rs2_or_imm, "r"))
    if name in ZB_U:
        imm, f3, op = ZB_U[name]
        return Insn(enc_i(imm, rs1, f3, rd, op), 4, f"{name} {_n(rd)}, {_n(rs1)}",
                    zb=(name, rd, rs1, 0, "u"))
    imm, f3, op, bits = ZB_I[name]
    assert 0 <= rs2_or_imm < (1 << bits)
    return Insn(enc_i(imm | rs2_or_imm, rs1, f3, rd, op), 4,
                f"{name} {_n(rd)}, {_n(rs1)}, {rs2_or_imm}", zb=(name, rd, rs1, rs2_or_imm, "i"))


# --- The pure-Python reference of the bit-manipulation ops ----------------------------
# Written from the pseudo-code of the RISC-V Bit-Manipulation ISA-extensions
# v1.0.0, for XLEN=64. Operands and results are unsigned 64-bit ints.


def _signed(x: int) -> int:
    return sx(x, 64)


def _rotl(x: int, n: int, width: int) -> int:
    mask = (1 << width) - 1
    x &= mask
    n %= width
    return ((x << n) | (x >> (width - n))) & mask


def _clmul(a: int, b: int) -> int:
    out = 0
    for i in range(64):
        if (b >> i) & 1:
            out ^= a << i
    return out & M64


def _clmulh(a: int, b: int) -> int:
    out = 0
    for i in range(1, 64):
        if (b >> i) & 1:
            out ^= a >> (64 - i)
    return out


def _clmulr(a: int, b: int) -> int:
    out = 0
    for i in range(64):
        if (b >> i) & 1:
            out ^= a >> (64 - i - 1)
    return out


def _clz(x: int, width: int) -> int:
    for i in range(width - 1, -1, -1):
        if (x >> i) & 1:
            return width - 1 - i
    return width


def _ctz(x: int, width: int) -> int:
    for i in range(width):
        if (x >> i) & 1:
            return i
    return width


def _orc_b(x: int) -> int:
    out = 0
    for i in range(8):
        if (x >> (8 * i)) & 0xFF:
            out |= 0xFF << (8 * i)
    return out


def _rev8(x: int) -> int:
    out = 0
    for i in range(8):
        out |= ((x >> (8 * i)) & 0xFF) << (8 * (7 - i))
    return out


#: name -> f(rs1, rs2_or_imm) -> rd, all unsigned 64-bit.
ZB_REF: dict[str, Callable[[int, int], int]] = {
    # Zba
    "add.uw": lambda a, b: u64(b + (a & M32)),
    "sh1add": lambda a, b: u64(b + (a << 1)),
    "sh2add": lambda a, b: u64(b + (a << 2)),
    "sh3add": lambda a, b: u64(b + (a << 3)),
    "sh1add.uw": lambda a, b: u64(b + ((a & M32) << 1)),
    "sh2add.uw": lambda a, b: u64(b + ((a & M32) << 2)),
    "sh3add.uw": lambda a, b: u64(b + ((a & M32) << 3)),
    "slli.uw": lambda a, sh: u64((a & M32) << sh),
    # Zbb
    "andn": lambda a, b: a & ~b & M64,
    "orn": lambda a, b: (a | ~b) & M64,
    "xnor": lambda a, b: ~(a ^ b) & M64,
    "clz": lambda a, _: _clz(a, 64),
    "clzw": lambda a, _: _clz(a & M32, 32),
    "ctz": lambda a, _: _ctz(a, 64),
    "ctzw": lambda a, _: _ctz(a & M32, 32),
    "cpop": lambda a, _: bin(a).count("1"),
    "cpopw": lambda a, _: bin(a & M32).count("1"),
    "max": lambda a, b: a if _signed(a) > _signed(b) else b,
    "maxu": lambda a, b: a if a > b else b,
    "min": lambda a, b: a if _signed(a) < _signed(b) else b,
    "minu": lambda a, b: a if a < b else b,
    "sext.b": lambda a, _: u64(sx(a, 8)),
    "sext.h": lambda a, _: u64(sx(a, 16)),
    "zext.h": lambda a, _: a & 0xFFFF,
    "rol": lambda a, b: _rotl(a, b & 63, 64),
    "ror": lambda a, b: _rotl(a, 64 - (b & 63), 64),
    "rori": lambda a, sh: _rotl(a, 64 - sh, 64),
    "rolw": lambda a, b: u64(sx(_rotl(a, b & 31, 32), 32)),
    "rorw": lambda a, b: u64(sx(_rotl(a, 32 - (b & 31), 32), 32)),
    "roriw": lambda a, sh: u64(sx(_rotl(a, 32 - sh, 32), 32)),
    "orc.b": lambda a, _: _orc_b(a),
    "rev8": lambda a, _: _rev8(a),
    # Zbc
    "clmul": _clmul,
    "clmulh": _clmulh,
    "clmulr": _clmulr,
    # Zbs
    "bclr": lambda a, b: a & ~(1 << (b & 63)) & M64,
    "bclri": lambda a, sh: a & ~(1 << sh) & M64,
    "bext": lambda a, b: (a >> (b & 63)) & 1,
    "bexti": lambda a, sh: (a >> sh) & 1,
    "binv": lambda a, b: a ^ (1 << (b & 63)),
    "binvi": lambda a, sh: a ^ (1 << sh),
    "bset": lambda a, b: a | (1 << (b & 63)),
    "bseti": lambda a, sh: a | (1 << sh),
}
assert set(ZB_REF) == set(ZB_R) | set(ZB_U) | set(ZB_I)

#: Interesting 64-bit operand values (unsigned representation).
EDGE_VALUES = (
    0, 1, 2, 3, 31, 32, 63, 64, M64, M64 - 1, INT64_MIN, INT64_MAX, INT64_MIN + 1,
    0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 0x100000000, 0xFFFFFFFF80000000, 0xFFFFFFFF00000000,
    0x00000000FFFF0000, 0x8000, 0xFFFF, 0x80, 0xFF, 0x0123456789ABCDEF, 0xFEDCBA9876543210,
    0x00FF00FF00FF00FF, 0x8000000080000000, 0x5555555555555555, 0xAAAAAAAAAAAAAAAA,
)


def random_value(rng: random.Random) -> int:
    """A 64-bit value biased towards edge cases."""
    r = rng.random()
    if r < 0.3:
        return rng.choice(EDGE_VALUES)
    if r < 0.6:
        return rng.getrandbits(64)
    if r < 0.7:
        return u64(rng.randint(-40, 40))
    if r < 0.8:
        return u64(sx(rng.getrandbits(32), 32))
    if r < 0.9:
        return rng.getrandbits(32)
    # A few random bytes in random places, zeros elsewhere (for orc.b, ctz, ...).
    v = 0
    for _ in range(rng.randint(1, 3)):
        v |= rng.getrandbits(8) << (8 * rng.randrange(8))
    return v


# ---------------------------------------------------------------------------
# Cases


@dataclass
class Case:
    """One generated program and its initial state."""

    seed: int
    length: int
    insns: list[Insn]
    regs: list[int]                    # initial x0..x31
    data: bytes                        # initial data region
    rodata: bytes                      # initial read-only region
    static_count: Optional[int]        # instructions retired before ecall, if straight-line
    expect: Optional[str] = None       # fault cases: the error kind rvdist should report
    fault_index: Optional[int] = None  # fault cases: index of the faulting instruction
    reference: bool = True             # False: rvdist-only (Unicorn legitimately differs)
    exec_end: Optional[int] = None     # Unicorn: code past this address is not executable
    note: str = ""
    repro: str = ""                    # the call that rebuilds and checks this case

    def code(self) -> bytes:
        return code_bytes(self.insns)

    def addresses(self) -> list[int]:
        out, pc = [], TEXT
        for i in self.insns:
            out.append(pc)
            pc += i.size
        return out

    def listing(self) -> str:
        lines = []
        for pc, i in zip(self.addresses(), self.insns):
            enc = f"{i.word:08x}" if i.size == 4 else f"    {i.word:04x}" if i.size == 2 else " " * 8
            lines.append(f"  {pc:#07x}:  {enc}  {i.text}")
        return "\n".join(lines)

    def describe(self) -> str:
        regs = "  ".join(f"{REG_NAMES[i]}={v:#x}" for i, v in enumerate(self.regs) if i)
        return (f"case seed={self.seed} length={self.length}"
                + (f" expect={self.expect}" if self.expect else "")
                + (f" ({self.note})" if self.note else "")
                + f"\ninitial registers: {regs}\nprogram:\n{self.listing()}")


class _Gen:
    """Builds one random sequence. Units return lists of instructions."""

    def __init__(self, rng: random.Random, allow_zb: bool = True) -> None:
        self.rng = rng
        self.allow_zb = allow_zb
        self.branchy = False
        self.recent_rd: list[int] = []
        self.recent_addr: list[int] = []
        self.base = {}
        boundaries = list(range(DATA_START + PAGE, DATA_END, PAGE))
        for r in DATA_BASES:
            lo = DATA_START + 2048
            hi = DATA_END - 2048 - 8 - (512 if r == SP else 0)
            self.base[r] = self._place(lo, hi, boundaries)
        if rng.random() < 0.3:   # two bases close together: aliasing through different registers
            a, b = rng.sample((GP, S0, S1), 2)
            self.base[b] = min(max(self.base[a] + rng.randint(-64, 64), DATA_START + 2048),
                               DATA_END - 2048 - 8)
        self.base[RO_BASE] = self._place(RO_START + 2048, RO_END - 2048 - 8, [RO_START + PAGE])
        self.sp_lo, self.sp_hi = DATA_START + 2048, DATA_END - 2048 - 520

    def _place(self, lo: int, hi: int, boundaries: list[int]) -> int:
        rng = self.rng
        if rng.random() < 0.5:
            v = rng.choice(boundaries) + rng.randint(-48, 48)
        else:
            v = rng.randint(lo, hi)
        if rng.random() < 0.4:
            v &= ~7
        return min(max(v, lo), hi)

    # -- register choice ------------------------------------------------------

    def rd(self, avoid: frozenset = frozenset(), zero_ok: bool = True) -> int:
        if zero_ok and self.rng.random() < 0.03:
            return 0
        choices = [r for r in WRITABLE if r not in avoid]
        r = self.rng.choice(choices)
        self.recent_rd = (self.recent_rd + [r])[-6:]
        return r

    def c_rd(self, avoid: frozenset) -> Optional[int]:
        choices = [r for r in C_WRITABLE if r not in avoid]
        return self.rng.choice(choices) if choices else None

    def rs(self) -> int:
        rng = self.rng
        if self.recent_rd and rng.random() < 0.4:
            return rng.choice(self.recent_rd)
        if rng.random() < 0.05:
            return 0
        return rng.randrange(32)

    def value(self) -> int:
        return random_value(self.rng)

    # -- building blocks --------------------------------------------------------

    def li(self, rd: int, v: int) -> list[Insn]:
        """Load the 64-bit constant ``v`` into ``rd`` (lui/addiw/slli/addi, or C forms)."""
        v = sx(v, 64)
        rng = self.rng
        if -2048 <= v < 2048:
            if -32 <= v < 32 and rd and rng.random() < 0.4:
                return [c_li(rd, v)]
            return [i_op("addi", rd, 0, v)]
        if -(1 << 31) <= v < (1 << 31):
            lo = sx(v, 12)
            hi20 = ((v - lo) >> 12) & 0xFFFFF
            out = [lui(rd, hi20)]
            if lo:
                out.append(i_op("addiw", rd, rd, lo))
            return out
        lo = sx(v, 12)
        hi = (v - lo) >> 12
        sh = 12
        while hi % 2 == 0 and sh < 63 and not (-2048 <= hi < 2048):
            hi //= 2
            sh += 1
        out = self.li(rd, hi) + [shift_i("slli", rd, rd, sh)]
        if lo:
            out.append(i_op("addi", rd, rd, lo))
        return out

    def mem_offset(self, base_val: int, width: int, lo: int = -2048, hi: int = 2047,
                   step: int = 1) -> int:
        """An offset in [lo, hi] (a multiple of ``step``), biased to interesting addresses:
        near recently used addresses, straddling a page boundary, aligned, or small."""
        rng = self.rng

        def ok(o: int) -> bool:
            return lo <= o <= hi and o % step == 0

        mode = rng.random()
        if mode < 0.2 and self.recent_addr:
            want = [a - base_val + d for a in self.recent_addr for d in (0, 0, 0, 1, -1, 2, -4, 4)]
            want = [o for o in want if ok(o)]
            if want:
                return rng.choice(want)
        if mode < 0.45 and width > 1:
            # Straddle a page boundary: the access starts 1..width-1 bytes before it.
            first = ((base_val + lo) // PAGE + 1) * PAGE
            offs = [p - k - base_val for p in range(first, base_val + hi + 1, PAGE)
                    for k in range(1, width)]
            offs = [o for o in offs if ok(o)]
            if offs:
                return rng.choice(offs)
        if mode < 0.65 and step == 1:
            o = rng.randint(lo, hi - width)
            o -= (base_val + o) % width
            return o if o >= lo else o + width
        if mode < 0.8:
            offs = [o for o in range(max(lo, -24), min(hi, 24) + 1) if o % step == 0]
            if offs:
                return rng.choice(offs)
        return step * rng.randint(-(-lo // step), hi // step)

    def note_addr(self, a: int) -> None:
        self.recent_addr = (self.recent_addr + [a])[-8:]

    # -- units -------------------------------------------------------------------

    def u_alu_r(self, avoid):
        name = self.rng.choice(list(ALU_R) + list(ALU_RW))
        return [r_op(name, self.rd(avoid), self.rs(), self.rs())]

    def u_alu_i(self, avoid):
        rng = self.rng
        r = rng.random()
        rd, rs1 = self.rd(avoid), self.rs()
        if r < 0.5:
            name = rng.choice(list(ALU_I) + ["addiw"])
            imm = rng.choice((0, 1, -1, 2047, -2048, rng.randint(-2048, 2047), rng.randint(-16, 16)))
            return [i_op(name, rd, rs1, imm)]
        if r < 0.85:
            name = rng.choice(("slli", "srli", "srai", "slliw", "srliw", "sraiw"))
            limit = 32 if name.endswith("w") else 64
            sh = rng.choice((0, 1, limit - 1, limit // 2, rng.randrange(limit)))
            return [shift_i(name, rd, rs1, sh)]
        if r < 0.95:
            return [lui(rd, rng.choice((0, 0x80000, 0x7FFFF, 0xFFFFF, rng.getrandbits(20))))]
        return [auipc(rd, rng.getrandbits(20) if rng.random() < 0.5 else rng.randint(0, 3))]

    def u_li(self, avoid):
        return self.li(self.rd(avoid, zero_ok=False), self.value())

    def u_muldiv(self, avoid):
        rng = self.rng
        name = rng.choice(list(MUL_R) + list(MUL_RW))
        out = []
        rs1, rs2 = self.rs(), self.rs()
        if rng.random() < 0.5:
            rs1 = self.rd(avoid, zero_ok=False)
            v = rng.choice((INT64_MIN, 0xFFFFFFFF80000000, 0x80000000, M64, 0, 1, INT64_MAX,
                            self.value()))
            out += self.li(rs1, v)
        if rng.random() < 0.5:
            rs2 = self.rd(avoid | {rs1}, zero_ok=False)
            v = rng.choice((0, M64, 1, M64, 0xFFFFFFFF, 0x100000000, 2, self.value()))
            out += self.li(rs2, v)
        elif rng.random() < 0.1:
            rs2 = 0
        out.append(r_op(name, self.rd(avoid), rs1, rs2))
        return out

    def u_load(self, avoid):
        rng = self.rng
        name = rng.choice(list(LOADS))
        width = LOADS[name][1]
        base = rng.choice(DATA_BASES + (RO_BASE,))
        off = self.mem_offset(self.base[base], width)
        self.note_addr(self.base[base] + off)
        return [load(name, self.rd(avoid), base, off)]

    def u_load_text(self, avoid):
        """A load from the (readable) code pages, at or after the auipc that finds them."""
        rng = self.rng
        name = rng.choice(list(LOADS))
        t = self.rd(avoid, zero_ok=False)
        return [auipc(t, 0), load(name, self.rd(avoid), t, rng.randint(0, 2000))]

    def u_mem_top(self, avoid):
        """A load or store in the last bytes of guest memory (ending at most at its end)."""
        rng = self.rng
        t = self.rd(avoid, zero_ok=False)
        if rng.random() < 0.5:
            name = rng.choice(list(LOADS))
            width = LOADS[name][1]
        else:
            name = rng.choice(list(STORES))
            width = STORES[name][1]
        addr = MEMORY_SIZE - width - rng.choice((0, 0, 1, 2, 3, rng.randrange(64)))
        off = rng.randint(-16, 16)
        ins = load(name, self.rd(avoid), t, off) if name in LOADS else store(name, self.rs(), t, off)
        return self.li(t, addr - off) + [ins]

    def u_store(self, avoid):
        rng = self.rng
        name = rng.choice(list(STORES))
        width = STORES[name][1]
        base = rng.choice(DATA_BASES)
        off = self.mem_offset(self.base[base], width)
        self.note_addr(self.base[base] + off)
        return [store(name, self.rs(), base, off)]

    def u_c_alu(self, avoid):
        rng = self.rng
        kind = rng.randrange(11)
        rd = self.rd(avoid, zero_ok=False)
        imm6 = rng.choice((1, -1, 31, -32, rng.randint(-32, 31)))
        if kind == 0:
            return [c_addi(rd, imm6 or 1)]
        if kind == 1:
            return [c_addiw(rd, imm6)]
        if kind == 2:
            return [c_li(rd, imm6)]
        if kind == 3:
            return [c_lui(rd, imm6 or -1)]
        if kind == 4:
            return [c_slli(rd, rng.randint(1, 63))]
        if kind == 5:
            return [c_mv(rd, self.rs() or 1)]
        if kind == 6:
            return [c_add(rd, self.rs() or 1)]
        crd = self.c_rd(avoid)
        if crd is None:
            return [c_addi(rd, imm6 or 1)]
        if kind == 7:
            return [c_shift_andi(rng.choice(("c.srli", "c.srai")), crd, rng.randint(1, 63))]
        if kind == 8:
            return [c_shift_andi("c.andi", crd, imm6)]
        if kind == 9:
            return [c_addi4spn(crd, rng.randrange(1, 256) * 4)]
        return [c_arith(rng.choice(list(C_ARITH)), crd, rng.choice(C_REGS))]

    def u_c_hint(self, avoid):
        """Compressed HINTs: legal encodings that must execute as no-ops."""
        rng = self.rng
        kind = rng.randrange(7)
        if kind == 0:
            return [c_nop()]
        if kind == 1:
            return [c_addi(0, rng.choice((1, -1, 17)))]   # c.nop with a non-zero immediate
        if kind == 2:
            return [c_li(0, rng.randint(-32, 31))]
        if kind == 3:
            return [c_lui(0, rng.choice((1, -1, 5)))]
        if kind == 4:
            return [c_mv(0, rng.randint(1, 31))]
        if kind == 5:
            return [c_add(0, rng.randint(1, 31))]
        return [c_slli(0, rng.randint(1, 63))]

    def u_c_mem(self, avoid):
        rng = self.rng
        name = rng.choice(("c.lw", "c.ld", "c.sw", "c.sd", "c.lwsp", "c.ldsp", "c.swsp", "c.sdsp"))
        width = 4 if "w" in name[2:4] else 8
        if name.endswith("sp"):
            limit = 256 if width == 4 else 512
            off = self.mem_offset(self.base[SP], width, 0, limit - width, width)
            self.note_addr(self.base[SP] + off)
            if name in ("c.lwsp", "c.ldsp"):
                return [c_sp_mem(name, self.rd(avoid, zero_ok=False), off)]
            return [c_sp_mem(name, self.rs(), off)]
        base = rng.choice((S0, S1))
        limit = 128 if width == 4 else 256
        off = self.mem_offset(self.base[base], width, 0, limit - width, width)
        self.note_addr(self.base[base] + off)
        if name in ("c.lw", "c.ld"):
            rd = self.c_rd(avoid)
            if rd is None:
                return []
            return [c_mem(name, rd, base, off)]
        return [c_mem(name, rng.choice(C_REGS), base, off)]

    def u_addi16sp(self, avoid):
        rng = self.rng
        sp = self.base[SP]
        deltas = [d for d in range(-512, 512, 16) if d and self.sp_lo <= sp + d <= self.sp_hi]
        if not deltas or SP in avoid:
            return []
        d = rng.choice(deltas)
        self.base[SP] = sp + d
        return [c_addi16sp(d)]

    def _atomic_addr(self, width: int) -> tuple[int, int]:
        """(base register, offset) of a naturally aligned data address."""
        base = self.rng.choice(DATA_BASES)
        off = self.mem_offset(self.base[base], width)
        a = (self.base[base] + off) & ~(width - 1)
        if a - self.base[base] < -2048:
            a += width
        return base, a - self.base[base]

    def _atomic_target(self, avoid) -> tuple[int, int, int, Insn]:
        """(width, t, address, the addi that sets t): a random access width and a
        register t (never x0) to hold a naturally aligned data address of that width."""
        width = self.rng.choice((4, 8))
        base, off = self._atomic_addr(width)
        t = self.rd(avoid, zero_ok=False)
        return width, t, self.base[base] + off, i_op("addi", t, base, off)

    def u_amo(self, avoid):
        rng = self.rng
        width, t, addr, set_t = self._atomic_target(avoid)
        self.note_addr(addr)
        return [set_t,
                amo(rng.choice(list(AMOS)), width, self.rd(avoid), self.rs(), t,
                    rng.randrange(2), rng.randrange(2))]

    def u_lrsc(self, avoid):
        """A self-contained LR/SC pair (see the module docstring)."""
        rng = self.rng
        width, t, addr, set_t = self._atomic_target(avoid)
        self.note_addr(addr)
        out = [set_t]
        inner = avoid | {t}
        out.append(amo("lr", width, self.rd(inner), 0, t, rng.randrange(2), rng.randrange(2)))
        for _ in range(rng.randrange(3)):
            out += self.u_alu_r(inner) if rng.random() < 0.5 else self.u_alu_i(inner)
        sc_addr = t
        if rng.random() < 0.25:   # SC to another (aligned) address: must fail in both
            base2, off2 = self._atomic_addr(width)
            sc_addr = self.rd(inner, zero_ok=False)
            out.append(i_op("addi", sc_addr, base2, off2))
        out.append(amo("sc", width, self.rd(avoid), self.rs(), sc_addr,
                       rng.randrange(2), rng.randrange(2)))
        return out

    def u_lone_sc(self, avoid):
        """An SC with no reservation outstanding: fails (rd = 1) in both."""
        width, t, _, set_t = self._atomic_target(avoid)
        return [set_t, amo("sc", width, self.rd(avoid), self.rs(), t)]

    def u_zb(self, avoid):
        rng = self.rng
        r = rng.random()
        rd = self.rd(avoid)
        if r < 0.55:
            return [zb_op(rng.choice(list(ZB_R)), rd, self.rs(), self.rs())]
        if r < 0.8:
            return [zb_op(rng.choice(list(ZB_U)), rd, self.rs())]
        name = rng.choice(list(ZB_I))
        bits = ZB_I[name][3]
        return [zb_op(name, rd, self.rs(), rng.choice((0, 1, (1 << bits) - 1, rng.randrange(1 << bits))))]

    def u_fence(self, avoid):
        return [self.rng.choice((FENCE, FENCE_RW))]

    SIMPLE = (("u_alu_r", 14), ("u_alu_i", 14), ("u_li", 3), ("u_muldiv", 8), ("u_load", 12),
              ("u_store", 10), ("u_c_alu", 10), ("u_c_mem", 8), ("u_amo", 3), ("u_lrsc", 2),
              ("u_lone_sc", 0.3), ("u_zb", 8), ("u_fence", 0.3), ("u_c_hint", 0.5),
              ("u_load_text", 0.5), ("u_mem_top", 0.5))

    def simple(self, avoid) -> list[Insn]:
        names = [n for n, _ in self.SIMPLE if n != "u_zb" or self.allow_zb]
        weights = [w for n, w in self.SIMPLE if n != "u_zb" or self.allow_zb]
        while True:
            out = getattr(self, self.rng.choices(names, weights)[0])(avoid)
            if out:
                return out

    def shadow(self, avoid, max_units: int = 3) -> list[Insn]:
        out = []
        for _ in range(self.rng.randint(1, max_units)):
            out += self.simple(avoid)
        return out

    def u_branch(self, avoid):
        """A forward branch or jump over a few instructions."""
        rng = self.rng
        self.branchy = True
        body = self.shadow(avoid)
        size = sum(i.size for i in body)
        kind = rng.randrange(8)
        if kind <= 2:
            name = rng.choice(list(BRANCHES))
            rs1, rs2 = self.rs(), self.rs()
            if rng.random() < 0.2:
                rs2 = rs1
            return [branch(name, rs1, rs2, 4 + size)] + body
        if kind == 3:
            return [c_bz(rng.choice(("c.beqz", "c.bnez")), rng.choice(C_REGS), 2 + size)] + body
        if kind == 4:
            return [jal(self.rd(avoid), 4 + size)] + body
        if kind == 5:
            return [c_j(2 + size)] + body
        t = self.rd(avoid, zero_ok=False)
        odd = rng.random() < 0.25          # jalr clears bit 0 of the target
        if kind == 6:
            rd = t if rng.random() < 0.2 else self.rd(avoid)
            return [auipc(t, 0), jalr(rd, t, 8 + size + odd)] + body
        # c.jr / c.jalr: the target is auipc's pc + 10 + size
        j = c_jr(t) if rng.random() < 0.5 else c_jalr(t)
        return [auipc(t, 0), i_op("addi", t, t, 10 + size + odd), j] + body

    def u_overlap(self, avoid):
        """A branch into the middle of a 32-bit instruction.

        ``lui rd, imm`` is chosen so that its upper half is itself a compressed
        instruction H; a branch over the first half runs H instead of the lui.
        """
        rng = self.rng
        self.branchy = True
        h = self.u_c_alu(avoid)[0]
        if h.size != 2:
            return []
        word = lui(self.rd(avoid, zero_ok=False), (h.word << 4) | rng.randrange(16))
        name = rng.choice(list(BRANCHES))
        rs1, rs2 = self.rs(), self.rs()
        hidden = Insn(word.word, 4, f"{word.text}   # at +2: {h.text}", llvm=False)
        return [branch(name, rs1, rs2, 6), hidden]

    def u_loop(self, avoid):
        """A counted loop of 1..4 iterations over a few instructions."""
        rng = self.rng
        self.branchy = True
        cnt = self.c_rd(avoid) if rng.random() < 0.5 else self.rd(avoid, zero_ok=False)
        if cnt is None:
            return []
        n = rng.randint(1, 4)
        out = self.li(cnt, n)
        body = self.shadow(avoid | {cnt})
        if cnt in C_REGS and rng.random() < 0.5:
            body.append(c_addi(cnt, -1))
        else:
            body.append(i_op("addi", cnt, cnt, -1))
        size = sum(i.size for i in body)
        if cnt in C_REGS and rng.random() < 0.5:
            body.append(c_bz("c.bnez", cnt, -size))
        elif rng.random() < 0.5:
            body.append(branch("bne", cnt, 0, -size))
        else:
            body.append(branch("blt", 0, cnt, -size))
        return out + body

    TOP = (("simple", 90), ("u_branch", 6), ("u_loop", 2), ("u_addi16sp", 2), ("u_overlap", 1))

    def sequence(self, length: int) -> list[Insn]:
        names = [n for n, _ in self.TOP]
        weights = [w for _, w in self.TOP]
        out: list[Insn] = []
        while len(out) < length:
            out += getattr(self, self.rng.choices(names, weights)[0])(frozenset())
        return out

    def initial_regs(self) -> list[int]:
        regs = [0] * 32
        for r in WRITABLE:
            regs[r] = self.value()
        for r, v in self.base.items():
            regs[r] = v
        return regs

    def initial_data(self, size: int) -> bytes:
        rng = self.rng
        data = bytearray(rng.randbytes(size))
        for _ in range(rng.randint(0, 12)):   # some runs of edge values
            at = rng.randrange(0, size - 64) & ~7
            for k in range(8):
                data[at + 8 * k: at + 8 * k + 8] = self.value().to_bytes(8, "little")
        return bytes(data)


TAIL = [i_op("addi", A7, 0, 93), ECALL]


def generate(seed: int, length: int = 30, zb: bool = True,
             cross_page: Optional[bool] = None) -> Case:
    """The random case for ``seed``: about ``length`` instructions, then exit.

    With ``cross_page`` (by default: one case in four) the program first jumps
    over zero padding so that its body straddles the 4 KiB page boundary at
    0x11000, often splitting a 32-bit instruction across the two pages.
    """
    rng = random.Random(seed)
    g = _Gen(rng, allow_zb=zb)
    regs_at_start = dict(g.base)
    body = g.sequence(length)
    if cross_page is None:
        cross_page = rng.random() < 0.25
    if cross_page:
        offsets, at = [], 0
        for i in body:
            offsets.append((at, i.size))
            at += i.size
        split = [o + 2 for o, size in offsets if size == 4]
        if split and rng.random() < 0.6:
            cut = rng.choice(split)          # the boundary falls inside a 32-bit instruction
        else:
            cut = rng.choice([o for o, _ in offsets] + [at])
        start = TEXT + PAGE - cut
        body = [jal(0, start - TEXT), pad(start - TEXT - 4)] + body
    sp_start = regs_at_start[SP]
    g.base[SP] = sp_start
    regs = g.initial_regs()
    regs[SP] = sp_start
    insns = body + TAIL
    data = g.initial_data(DATA_END - DATA_START)
    rodata = rng.randbytes(RO_END - RO_START)
    count = None if g.branchy else sum(i.size in (2, 4) for i in body) + 1
    return Case(seed, length, insns, regs, data, rodata, count,
                repro=f"diffgen.check_case(diffgen.generate({seed}, length={length}, "
                      f"zb={zb}, cross_page={cross_page}))")


# ---------------------------------------------------------------------------
# Fault cases


#: Fault kinds that Unicorn can confirm (rvdist error kind -> how to make it).
FAULT_KINDS = ("load_fault", "store_fault", "write_exec", "write_readonly", "misaligned_atomic",
               "fetch_fault", "illegal_instruction", "breakpoint", "unsupported_syscall")

#: Encodings both rvdist and Unicorn must reject (all reserved in RV64GC).
ILLEGAL_BOTH = (
    Insn(0x0000, 2, "c.unimp (all zeros)", llvm=False),
    Insn(0xFFFFFFFF, 4, ".word 0xffffffff", llvm=False),
    Insn(0x6002, 2, "c.ldsp x0, 0(sp) (reserved: rd=0)", llvm=False),
    Insn(0x4002, 2, "c.lwsp x0, 0(sp) (reserved: rd=0)", llvm=False),
    Insn(0x8002, 2, "c.jr x0 (reserved)", llvm=False),
    Insn(0x6101, 2, "c.addi16sp sp, 0 (reserved)", llvm=False),
    Insn(0x6501, 2, "c.lui a0, 0 (reserved)", llvm=False),
    Insn(0x2001, 2, "c.addiw x0, 0 (reserved)", llvm=False),
    Insn(enc_i(0x020, 1, 1, 10, OP_IMM32), 4, "slliw a0, ra, 32 (reserved: shamt[5]=1)", llvm=False),
    Insn(enc_r(0x02, 12, 11, 0, 10, OP_OP), 4, "funct7=2 OP (reserved)", llvm=False),
    Insn(0x0000007F, 4, "opcode 0x7f (reserved, >32-bit)", llvm=False),
    Insn(enc_i(0, 11, 7, 10, OP_LOAD), 4, "load funct3=7 (reserved)", llvm=False),
    Insn(enc_s(0, 12, 11, 4, OP_STORE), 4, "store funct3=4 (reserved)", llvm=False),
    Insn(enc_b(8, 12, 11, 2), 4, "branch funct3=2 (reserved)", llvm=False),
    Insn(enc_i(0, 11, 1, 10, OP_JALR), 4, "jalr funct3=1 (reserved)", llvm=False),
    Insn(enc_i(0x7C0, 0, 2, 10, OP_SYSTEM), 4, "csrr a0, 0x7c0 (no such CSR)", llvm=False),
    Insn(enc_r(5 << 2, 12, 11, 2, 10, OP_AMO), 4, "amo funct5=5 (reserved)", llvm=False),
)

#: Instructions rvdist must reject but Unicorn (machine mode, F/D) executes:
#: (instruction, expected rvdist kind).
RVDIST_ONLY_FAULTS = (
    (Insn(0xC0051073, 4, "csrw cycle, a0 (counters are read-only)", llvm=False), "illegal_instruction"),
    (Insn(0xC025A573, 4, "csrrs a0, instret, a1 (a write: rs1 != x0)", llvm=False), "illegal_instruction"),
    (Insn(0xC010E573, 4, "csrrsi a0, time, 1 (a write: uimm != 0)", llvm=False), "illegal_instruction"),
    (Insn(0xC8002573, 4, "csrr a0, cycleh (RV32 only)", llvm=False), "illegal_instruction"),
    (Insn(0x30102573, 4, "csrr a0, misa"), "illegal_instruction"),
    (Insn(0x34051073, 4, "csrw mscratch, a0"), "illegal_instruction"),
    (Insn(0x02B55553, 4, "fadd.d fa0, fa0, fa1, rm=5 (reserved)", llvm=False), "illegal_instruction"),
    (Insn(0x06B5E553, 4, "fadd.q fa0, fa1, fa1 (no Q)", llvm=False), "illegal_instruction"),
    (Insn(0x30200073, 4, "mret"), "illegal_instruction"),
    (Insn(0x10500073, 4, "wfi"), "illegal_instruction"),
    (Insn(0x12000073, 4, "sfence.vma"), "illegal_instruction"),
    (Insn(enc_r(0x04, 0, 11, 4, 10, OP_OP), 4, "pack a0, a1, zero (Zbkb, not Zbb)", llvm=False),
     "illegal_instruction"),
    (Insn(enc_r(0x07, 12, 11, 7, 10, OP_OP), 4, "czero.nez a0, a1, a2 (Zicond)", llvm=False),
     "illegal_instruction"),
)


def generate_fault(seed: int, length: int = 12, kinds: Sequence[str] = FAULT_KINDS) -> Case:
    """A short random prefix, one faulting instruction, then more (never run) code."""
    rng = random.Random(seed)
    g = _Gen(rng)
    start_sp = g.base[SP]
    prefix = g.sequence(rng.randint(0, length))
    kind = rng.choice(list(kinds))
    t = g.rd(frozenset(), zero_ok=False)
    setup: list[Insn] = []
    note = ""
    reference = True
    if kind in ("load_fault", "store_fault"):
        width = rng.choice((1, 2, 4, 8))
        where = rng.random()
        if where < 0.5:
            addr = MEMORY_SIZE + rng.choice((0, 8, rng.randrange(1 << 20)))
        elif where < 0.75 and width > 1:   # straddles the end of memory
            addr = MEMORY_SIZE - rng.randint(1, width - 1)
            note = "straddles the end of memory"
        else:
            addr = rng.choice((1 << 32, 1 << 40, 0x7FFFFFFFFFFFFFF0, u64(-8), 0x80000000))
        off = rng.randint(-8, 8)
        setup = g.li(t, addr - off)
        if kind == "load_fault":
            name = {1: "lb", 2: "lh", 4: "lw", 8: "ld"}[width]
            if rng.random() < 0.3 and width in (4, 8) and addr % width == 0 and not off:
                fault = amo("lr", width, g.rd(), 0, t)
            else:
                fault = load(name, g.rd(), t, off)
        else:
            name = {1: "sb", 2: "sh", 4: "sw", 8: "sd"}[width]
            if rng.random() < 0.3 and width in (4, 8) and addr % width == 0 and not off:
                name = rng.choice(list(AMOS) + ["sc"])
                fault = amo(name, width, g.rd(), g.rs(), t)
                note = f"{name} out of memory"
                # QEMU does not touch memory for an SC without a reservation, so it
                # does not fault there; rvdist (like Spike) checks the access first.
                reference = name != "sc"
            else:
                fault = store(name, g.rs(), t, off)
    elif kind in ("write_exec", "write_readonly"):
        region = (TEXT, TEXT + 0x100) if kind == "write_exec" else (RO_START, RO_END - 8)
        width = rng.choice((1, 2, 4, 8))
        addr = rng.randrange(*region) & ~(width - 1)
        if rng.random() < 0.4:
            fault = amo(rng.choice(list(AMOS)), width if width >= 4 else 8, g.rd(), g.rs(), t)
            addr &= ~7
        else:
            fault = store({1: "sb", 2: "sh", 4: "sw", 8: "sd"}[width], g.rs(), t, 0)
        setup = g.li(t, addr)
    elif kind == "misaligned_atomic":
        width = rng.choice((4, 8))
        addr = DATA_START + 0x100 + rng.randrange(0x1000)
        if addr % width == 0:
            addr += rng.randint(1, width - 1)
        setup = g.li(t, addr)
        name = rng.choice(list(AMOS) + ["lr", "sc"])
        fault = amo(name, width, g.rd(), 0 if name == "lr" else g.rs(), t)
        # QEMU checks an SC's alignment only when it holds a matching reservation
        # (a failing SC never touches memory there), so a misaligned SC is checked
        # against rvdist's expected error alone.
        reference = name != "sc"
    elif kind == "fetch_fault" and rng.random() < 0.3:
        # A 32-bit instruction whose second half lies past the end of the text segment.
        half = rng.choice(g.simple(frozenset()) + [ECALL])
        while half.size != 4:
            half = rng.choice(g.simple(frozenset()) + [ECALL])
        before = prefix + [jal(0, 0)]
        size = sum(i.size for i in before)
        prefix = before[:-1] + [jal(0, PAGE - 2 - (size - 4)), pad(PAGE - 2 - size)]
        fault = Insn(half.word & 0xFFFF, 2, f"(first half of: {half.text})", llvm=False)
        insns = prefix + [fault]
        g.base[SP] = start_sp
        return Case(seed, length, insns, g.initial_regs(), g.initial_data(DATA_END - DATA_START),
                    rng.randbytes(RO_END - RO_START), None, expect=kind, fault_index=len(prefix),
                    exec_end=TEXT + PAGE, note="32-bit instruction straddling the end of the text",
                    repro=_fault_repro(seed, length, kinds))
    elif kind == "fetch_fault":
        target = rng.choice((DATA_START + 4 * rng.randrange(0x100), RO_START,
                             MEMORY_SIZE + 4 * rng.randrange(64), 1 << 33))
        setup = g.li(t, target)
        fault = rng.choice((jalr(g.rd(), t, 0), c_jr(t), c_jalr(t)))
        note = f"jump to {target:#x}"
    elif kind == "illegal_instruction":
        fault = rng.choice(ILLEGAL_BOTH)
    elif kind == "breakpoint":
        fault = rng.choice((EBREAK, C_EBREAK))
    else:
        # Numbers the core does not serve (it serves the Linux ABI's, docs/linux-abi.md).
        number = rng.choice((0, 1, 198, 220, 221, 1000, 0xFFFF))
        setup = g.li(A7, number)
        fault = ECALL
        note = f"syscall {number}"
    after = g.sequence(rng.randint(0, 4))
    insns = prefix + setup + [fault] + after + TAIL
    g.base[SP] = start_sp
    regs = g.initial_regs()
    data = g.initial_data(DATA_END - DATA_START)
    rodata = rng.randbytes(RO_END - RO_START)
    return Case(seed, length, insns, regs, data, rodata, None, expect=kind,
                fault_index=len(prefix) + len(setup), reference=reference, note=note,
                repro=_fault_repro(seed, length, kinds))


def _fault_repro(seed: int, length: int, kinds: Sequence[str]) -> str:
    k = "" if tuple(kinds) == FAULT_KINDS else f", kinds={tuple(kinds)!r}"
    return f"diffgen.check_fault_case(diffgen.generate_fault({seed}, length={length}{k}))"


def generate_rvdist_only(seed: int) -> Case:
    """A case whose faulting instruction only rvdist rejects (see RVDIST_ONLY_FAULTS)."""
    rng = random.Random(seed)
    g = _Gen(rng)
    start_sp = g.base[SP]
    prefix = g.sequence(rng.randint(0, 8))
    fault, kind = RVDIST_ONLY_FAULTS[seed % len(RVDIST_ONLY_FAULTS)]
    insns = prefix + [fault] + TAIL
    g.base[SP] = start_sp
    return Case(seed, 8, insns, g.initial_regs(), g.initial_data(DATA_END - DATA_START),
                rng.randbytes(RO_END - RO_START), None, expect=kind, fault_index=len(prefix),
                reference=False, note=fault.text,
                repro=f"diffgen.check_fault_case(diffgen.generate_rvdist_only({seed}))")


# ---------------------------------------------------------------------------
# Running


@dataclass
class Outcome:
    """The state an implementation ended in."""

    regs: list[int]
    data: bytes
    count: int                 # instructions retired (rvdist: cycles)
    top: bytes = b""           # the last page of memory
    fault: Optional[str] = None
    fault_pc: Optional[int] = None
    fault_addr: Optional[int] = None
    pc: Optional[int] = None
    detail: str = ""
    problems: list = dataclasses.field(default_factory=list)   # found while running


def build_elf(case: Case) -> bytes:
    return make_elf([Seg(TEXT, case.code(), flags=PF_R | PF_X),
                     Seg(RO_START, case.rodata, flags=PF_R),
                     Seg(DATA_START, case.data, flags=PF_R | PF_W)], TEXT)


def new_machine(case: Case, **kw) -> rvdist.Machine:
    m = rvdist.Machine(rvdist.Program(build_elf(case)), memory_size=MEMORY_SIZE, **kw)
    regs = m.registers
    for i in range(1, 32):
        regs[i] = case.regs[i]
    return m


def _rvdist_outcome(m: rvdist.Machine, r) -> Outcome:
    out = Outcome(list(m.registers), m.read_memory(DATA_START, DATA_END - DATA_START),
                  m.cycles, m.read_memory(MEMORY_SIZE - PAGE, PAGE), pc=m.pc)
    if r.state == "error":
        out.fault, out.fault_pc, out.fault_addr = r.error.kind, r.error.pc, r.error.address
        out.detail = str(r.error)
    elif r.state != "exited":
        out.fault = f"<{r.state}>"
    return out


def run_rvdist(case: Case, budgets: Optional[Sequence[int]] = None) -> Outcome:
    """Run ``case`` in rvdist, in one go or in slices of the given budgets."""
    m = new_machine(case)
    if not budgets:
        return _rvdist_outcome(m, m.run())
    r = None
    problems = []
    for b in budgets:
        before = m.cycles
        r = m.run(budget=b)
        if r.used != m.cycles - before or r.used > b or (not r.done and r.used != b):
            problems.append(f"slice run(budget={b}) -> {r.state}, used {r.used}, "
                            f"cycles {before} -> {m.cycles}")
        if r.done:
            break
    if not r.done:
        r = m.run()
    out = _rvdist_outcome(m, r)
    out.problems = problems
    return out


class _UcState:
    __slots__ = ("count", "last_pc", "intr", "mem", "zb_at", "zb_error")

    def reset(self, zb_at: dict) -> None:
        self.count = 0
        self.last_pc = None
        self.intr = None
        self.mem = None
        self.zb_at = zb_at
        self.zb_error = None


class UnicornRunner:
    """One Unicorn riscv64 instance, reused for every case (state restored each time).

    ``text_size`` bytes from ``TEXT`` are mapped executable; the rest of the
    address space outside the regions of the layout is unmapped.
    """

    def __init__(self, text_size: int = TEXT_MAX) -> None:
        self.text_size = text_size
        import unicorn
        from unicorn import riscv_const as rc
        self.uc_mod = unicorn
        self.rc = rc
        uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64)
        P = unicorn
        uc.mem_map(TEXT, text_size, P.UC_PROT_READ | P.UC_PROT_EXEC)
        uc.mem_map(RO_START, RO_END - RO_START, P.UC_PROT_READ)
        uc.mem_map(DATA_START, DATA_END - DATA_START, P.UC_PROT_READ | P.UC_PROT_WRITE)
        # The last page of rvdist's memory, so that accesses straddling its end fault the same way.
        uc.mem_map(MEMORY_SIZE - PAGE, PAGE, P.UC_PROT_READ | P.UC_PROT_WRITE)
        self.uc = uc
        self.st = _UcState()
        self.st.reset({})
        self.ctx = uc.context_save()
        self.regids = [rc.UC_RISCV_REG_X0 + i for i in range(32)]
        self.pc_reg = rc.UC_RISCV_REG_PC
        uc.hook_add(P.UC_HOOK_CODE, self._on_code)
        uc.hook_add(P.UC_HOOK_INTR, self._on_intr)
        uc.hook_add(P.UC_HOOK_MEM_INVALID, self._on_mem_invalid)

    def _on_code(self, uc, addr, size, _ud):
        st = self.st
        st.count += 1
        st.last_pc = addr

    def _on_intr(self, uc, intno, _ud):
        st = self.st
        pc = st.last_pc
        insn = st.zb_at.get(pc)
        if intno == 2 and insn is not None:
            # A bit-manipulation op: emulate it with the Python reference.
            name, rd, rs1, arg, form = insn.zb
            a = uc.reg_read(self.regids[rs1])
            b = uc.reg_read(self.regids[arg]) if form == "r" else arg
            try:
                val = ZB_REF[name](a, b)
            except Exception as e:  # pragma: no cover - a bug in the reference
                st.zb_error = f"{name}: {e!r}"
                uc.emu_stop()
                return
            if rd:
                uc.reg_write(self.regids[rd], val)
            uc.reg_write(self.pc_reg, pc + 4)
            return
        st.intr = intno
        uc.emu_stop()

    def _word_at(self, pc: int) -> int:
        raw = bytes(self.uc.mem_read(pc, 4))
        lo = int.from_bytes(raw[:2], "little")
        return int.from_bytes(raw, "little") if lo & 3 == 3 else lo

    def _on_mem_invalid(self, uc, access, addr, size, value, _ud):
        self.st.mem = (access, addr, size)
        return False

    def run(self, case: Case, count: int = 0, top_page: Optional[bytes] = None,
            until: Optional[int] = None) -> Outcome:
        """Run ``case`` up to its final ecall, or up to address ``until``, or for
        ``count`` instructions. ``top_page`` is the content of the last page of memory."""
        uc, st, U = self.uc, self.st, self.uc_mod
        addrs = case.addresses()
        code = case.code()
        if len(code) > self.text_size:
            raise ValueError("program too large for the Unicorn text mapping")
        uc.context_restore(self.ctx)
        uc.mem_write(TEXT, code + bytes(self.text_size - len(code)))
        uc.ctl_remove_cache(TEXT, TEXT + self.text_size)
        uc.mem_write(RO_START, case.rodata)
        uc.mem_write(DATA_START, case.data)
        uc.mem_write(MEMORY_SIZE - PAGE, top_page if top_page is not None else initial_top_page(case))
        for i in range(1, 32):
            uc.reg_write(self.regids[i], case.regs[i])
        st.reset({a: i for a, i in zip(addrs, case.insns) if i.zb})
        end = addrs[-1] if until is None else until   # default: the final ecall
        err = None
        try:
            uc.emu_start(TEXT, end, count=count)
        except U.UcError as e:
            err = e
        regs = [uc.reg_read(r) for r in self.regids]
        data = bytes(uc.mem_read(DATA_START, DATA_END - DATA_START))
        top = bytes(uc.mem_read(MEMORY_SIZE - PAGE, PAGE))
        pc = uc.reg_read(self.pc_reg)
        out = Outcome(regs, data, st.count, top, pc=pc)
        if st.zb_error:
            raise AssertionError(f"bit-manipulation reference failed: {st.zb_error}")
        if st.intr is not None:
            out.fault = {2: "illegal_instruction", 3: "breakpoint", 4: "misaligned_atomic",
                         6: "misaligned_atomic", 5: "load_fault", 7: "store_fault",
                         8: "unsupported_syscall", 9: "unsupported_syscall",
                         11: "unsupported_syscall"}.get(st.intr, f"<intr {st.intr}>")
            out.fault_pc = st.last_pc
            out.count = st.count - 1
            out.detail = f"interrupt {st.intr}"
        elif err is not None:
            e = err.errno
            maddr = st.mem[1] if st.mem else None
            if e in (U.UC_ERR_FETCH_UNMAPPED, U.UC_ERR_FETCH_PROT):
                out.fault, out.fault_pc, out.fault_addr = "fetch_fault", pc, pc
            elif e == U.UC_ERR_INSN_INVALID:
                # Unicorn reports EBREAK this way, without calling the interrupt hook.
                word = self._word_at(st.last_pc)
                out.fault = "breakpoint" if word in (EBREAK.word, C_EBREAK.word) \
                    else "illegal_instruction"
                out.fault_pc = st.last_pc
                out.count = st.count - 1
            else:
                if e == U.UC_ERR_READ_UNMAPPED:
                    out.fault = "load_fault"
                elif e == U.UC_ERR_WRITE_UNMAPPED:
                    out.fault = "store_fault"
                elif e == U.UC_ERR_WRITE_PROT:
                    out.fault = "write_exec" if maddr is not None and \
                        TEXT <= maddr < TEXT + self.text_size else "write_readonly"
                else:
                    out.fault = f"<{err}>"
                out.fault_pc, out.fault_addr = st.last_pc, maddr
                out.count = st.count - 1
            out.detail = str(err)
        return out


def initial_top_page(case: Case) -> bytes:
    """The last page of a fresh rvdist machine for ``case``: its initial stack
    (argv, environment, auxv), which depends on the program's headers."""
    return new_machine(case).read_memory(MEMORY_SIZE - PAGE, PAGE)


_RUNNERS: dict[int, UnicornRunner] = {}


def unicorn_runner(text_size: int = TEXT_MAX) -> UnicornRunner:
    """The shared runner whose executable text mapping is ``text_size`` bytes."""
    if text_size not in _RUNNERS:
        _RUNNERS[text_size] = UnicornRunner(text_size)
    return _RUNNERS[text_size]


# ---------------------------------------------------------------------------
# Comparing


def _diff_bytes(what: str, base: int, a: bytes, b: bytes, names: tuple) -> list[str]:
    """Differing byte ranges of two equal-length memory images, as report lines."""
    if a == b:
        return []
    spans: list[list[int]] = []
    for i in range(len(a)):
        if a[i] != b[i]:
            if spans and i - spans[-1][1] <= 2:
                spans[-1][1] = i + 1
            else:
                spans.append([i, i + 1])
    out = [f"{what} [{base + lo:#x}, {base + hi:#x}): {names[0]}={a[lo:hi].hex()} "
           f"{names[1]}={b[lo:hi].hex()}" for lo, hi in spans[:8]]
    if len(spans) > 8:
        out.append(f"... and {len(spans) - 8} more differing {what} ranges")
    return out


def _diff_state(a: Outcome, b: Outcome, names=("rvdist", "unicorn")) -> list[str]:
    problems = []
    for i in range(32):
        if a.regs[i] != b.regs[i]:
            problems.append(f"x{i}/{REG_NAMES[i]}: {names[0]}={a.regs[i]:#018x} "
                            f"{names[1]}={b.regs[i]:#018x}")
    problems += _diff_bytes("memory", DATA_START, a.data, b.data, names)
    problems += _diff_bytes("top page", MEMORY_SIZE - PAGE, a.top, b.top, names)
    return problems


def check_case(case: Case, *, sliced: bool = False, budget_probe: bool = False,
               limit_probe: bool = False) -> list[str]:
    """Run ``case`` in both and return the divergences (empty when they agree).

    ``sliced``: run rvdist in many small budgets instead of one go.
    ``budget_probe``: also stop rvdist with ``run(budget=n)`` and Unicorn after
    ``n`` instructions, and compare the state there. ``limit_probe``: the same
    with ``max_cycles=n`` (rvdist must stop with ``cycles_exceeded``).
    """
    rng = random.Random(case.seed ^ 0x5EED)
    budgets = [rng.randint(1, 8) for _ in range(200)] if sliced else None
    got = run_rvdist(case, budgets)
    ref = unicorn_runner().run(case)
    problems = list(got.problems)
    if got.fault != ref.fault:
        problems.append(f"outcome: rvdist={got.fault or 'exited'} ({got.detail}) "
                        f"unicorn={ref.fault or 'reached the final ecall'} ({ref.detail})")
        if ref.fault is not None:
            at = case.addresses().index(ref.fault_pc) if ref.fault_pc in case.addresses() else None
            problems.append(f"unicorn stopped at pc {ref.fault_pc:#x}"
                            + (f" ({case.insns[at].text})" if at is not None else ""))
        return problems + _diff_state(got, ref)
    problems += _diff_state(got, ref)
    if got.count != ref.count + 1:
        problems.append(f"cycles: rvdist={got.count}, unicorn executed {ref.count} + 1 ecall")
    if case.static_count is not None and ref.count != case.static_count:
        problems.append(f"generator counted {case.static_count} instructions, "
                        f"unicorn executed {ref.count}")
    if budget_probe and not problems and ref.count > 1:
        # Stop both after exactly n instructions and compare the state there.
        n = rng.randint(1, ref.count)
        m = new_machine(case)
        r = m.run(budget=n)
        mid = _rvdist_outcome(m, r)
        uref = unicorn_runner().run(case, count=n)
        sub = _diff_state(mid, uref)
        if r.state != "budget" or r.used != n:
            sub.append(f"run(budget={n}) ended in state {r.state} having used {r.used}")
        if mid.pc != uref.pc:
            sub.append(f"pc: rvdist={mid.pc:#x} unicorn={uref.pc:#x}")
        problems += [f"after {n} instructions: {p}" for p in sub]
    if limit_probe and not problems and ref.count > 1:
        n = rng.randrange(1, ref.count)
        m = new_machine(case, max_cycles=n)
        r = m.run()
        mid = _rvdist_outcome(m, r)
        uref = unicorn_runner().run(case, count=n)
        sub = _diff_state(mid, uref)
        if r.state != "error" or r.error.kind != "cycles_exceeded" or m.cycles != n:
            sub.append(f"max_cycles={n}: run() ended in state {r.state} ({r.error}), "
                       f"cycles {m.cycles}")
        elif r.error.pc != uref.pc or m.pc != uref.pc:
            sub.append(f"max_cycles={n}: error pc {r.error.pc:#x}, machine pc {m.pc:#x}, "
                       f"unicorn's next pc {uref.pc:#x}")
        problems += [f"with max_cycles={n}: {p}" for p in sub]
    return problems


#: Errors found when an instruction is decoded cost nothing (the instruction
#: never runs); errors found while it executes (memory faults, misaligned
#: atomics, ebreak, ecall) charge the faulting instruction. This is rvdist's
#: documented metering rule (csrc/decode.c, csrc/exec.c).
UNCHARGED_FAULTS = frozenset({"illegal_instruction", "fetch_fault"})


def _is_amo_store(word: int) -> bool:
    """An AMO or SC (an atomic that writes), not an LR."""
    return word & 0x7F == OP_AMO and (word >> 27) != 2


def check_fault_case(case: Case) -> list[str]:
    """Run a fault case; rvdist must report ``case.expect`` at the faulting instruction,
    in the same state as Unicorn (which, for ``case.reference=False``, is run up to the
    faulting instruction only)."""
    m = new_machine(case)
    top = m.read_memory(MEMORY_SIZE - PAGE, PAGE)
    got = _rvdist_outcome(m, m.run())
    addrs = case.addresses()
    fpc = addrs[case.fault_index]
    problems = []
    if got.fault != case.expect:
        problems.append(f"rvdist ended with {got.fault or 'exit'} ({got.detail}), "
                        f"expected {case.expect}")
    elif got.fault_pc != fpc and case.expect != "fetch_fault":
        problems.append(f"rvdist reported pc {got.fault_pc:#x}, the faulting instruction is at {fpc:#x}")
    # A case with exec_end gets a runner whose text mapping ends there. (Changing
    # the protection of part of one mapping with mem_protect instead leaves
    # Unicorn's translation cache confused for later cases: it ran past the end
    # address of the next page-crossing sequence.)
    runner = unicorn_runner(TEXT_MAX if case.exec_end is None else case.exec_end - TEXT)
    if case.reference:
        ref = runner.run(case, top_page=top, until=1)   # an odd address: run until it stops
        if (ref.fault == "load_fault" and ref.fault_pc in addrs
                and _is_amo_store(case.insns[addrs.index(ref.fault_pc)].word)):
            # Unicorn reports an AMO/SC outside memory as a failed read; the ISA
            # (and rvdist) call it a store/AMO access fault.
            ref.fault = "store_fault"
        if ref.fault != got.fault:
            problems.append(f"unicorn ended with {ref.fault or 'exit'} ({ref.detail}), "
                            f"rvdist with {got.fault}")
        if ref.fault_pc != got.fault_pc:
            problems.append(f"fault pc: rvdist={got.fault_pc and hex(got.fault_pc)} "
                            f"unicorn={ref.fault_pc and hex(ref.fault_pc)}")
        if (got.fault in ("load_fault", "store_fault") and "straddles" not in case.note
                and ref.fault == got.fault and ref.fault_addr != got.fault_addr):
            problems.append(f"fault address: rvdist={got.fault_addr:#x} unicorn={ref.fault_addr:#x}")
        if "straddles" in case.note:
            # A store straddling the end of memory: Unicorn writes the bytes that fit
            # before faulting (the ISA allows that for a misaligned store); rvdist's
            # stores are all or nothing, so its last page must be as it was just
            # before the store.
            ref.top = runner.run(case, top_page=top, until=fpc).top
    else:
        ref = runner.run(case, top_page=top, until=fpc)
        if ref.fault is not None:
            problems.append(f"unicorn faulted before the instruction under test: {ref.fault} "
                            f"at {ref.fault_pc:#x} ({ref.detail})")
    problems += _diff_state(got, ref)
    charged = 0 if got.fault in UNCHARGED_FAULTS else 1
    if got.count != ref.count + charged:
        problems.append(f"cycles: rvdist={got.count}, unicorn completed {ref.count} instructions"
                        f" before the fault (+{charged} for the faulting one)")
    return problems


def report(case: Case, problems: list[str]) -> str:
    return (f"DIVERGENCE in {case.describe()}\ndifferences:\n  " + "\n  ".join(problems)
            + (f"\nreproduce: {case.repro}" if case.repro else ""))


def case_seed(base: int, i: int) -> int:
    return base * 1_000_003 + i


def run_many(n: int, seed: int = 0, length: int = 30, *, stop_after: int = 5,
             progress: bool = False) -> tuple[int, list[str]]:
    """Check ``n`` random cases; returns (cases run, failure reports)."""
    failures = []
    t0 = time.perf_counter()
    for i in range(n):
        case = generate(case_seed(seed, i), length)
        problems = check_case(case, sliced=i % 4 == 1, budget_probe=i % 4 == 2,
                              limit_probe=i % 4 == 3)
        if problems:
            failures.append(report(case, problems))
            if len(failures) >= stop_after:
                return i + 1, failures
        if progress and (i + 1) % 5000 == 0:
            dt = time.perf_counter() - t0
            print(f"  {i + 1} cases, {(i + 1) / dt:.0f}/s, {len(failures)} divergences", flush=True)
    return n, failures


def run_faults(n: int, seed: int = 0, *, kinds: Sequence[str] = FAULT_KINDS,
               rvdist_only: bool = True, stop_after: int = 5) -> tuple[int, list[str]]:
    """Check ``n`` fault cases (one in five rvdist-only, if ``rvdist_only``)."""
    failures = []
    for i in range(n):
        s = case_seed(seed, i)
        case = generate_rvdist_only(s) if rvdist_only and i % 5 == 0 \
            else generate_fault(s, kinds=kinds)
        problems = check_fault_case(case)
        if problems:
            failures.append(report(case, problems))
            if len(failures) >= stop_after:
                return i + 1, failures
    return n, failures


# ---------------------------------------------------------------------------
# Bit-manipulation ops one at a time, against the Python reference


def bitmanip_program(rng: random.Random, per_op: int) -> tuple[list[Insn], bytes, list[tuple]]:
    """Unrolled tests: load both operands from memory, run the op, store the result.

    Returns the code, the operand table (placed at ``DATA_START``) and, per
    test, ``(insn, rs1 value, rs2 value or imm)``. ``s0`` walks the table;
    result ``k`` goes to the third word of entry ``k``.
    """
    insns: list[Insn] = []
    table = bytearray()
    tests = []
    pool = [r for r in WRITABLE if r != A7]
    names = list(ZB_REF)
    for name in names:
        for _ in range(per_op):
            a = random_value(rng)
            b = random_value(rng) if rng.random() < 0.8 else rng.randrange(128)
            rs1, rs2, rd = rng.choice(pool), rng.choice(pool), rng.choice(pool)
            if rng.random() < 0.2:
                rd = rs1
            if name in ZB_I:
                bits = ZB_I[name][3]
                b = rng.choice((0, 1, (1 << bits) - 1, rng.randrange(1 << bits)))
                insn = zb_op(name, rd, rs1, b)
            elif name in ZB_U:
                insn = zb_op(name, rd, rs1)
            else:
                if rs2 == rs1:
                    b = a
                insn = zb_op(name, rd, rs1, rs2)
            off = len(table)
            table += struct.pack("<QQQ", a, b, 0)
            insns += [load("ld", rs1, S0, 0)]
            if name in ZB_R and rs2 != rs1:
                insns.append(load("ld", rs2, S0, 8))
            insns += [insn, store("sd", rd, S0, 16), i_op("addi", S0, S0, 24)]
            tests.append((insn, a, b, off))
    return insns + TAIL, bytes(table), tests


def bitmanip_batch(seed: int = 0, per_op: int = 60) -> list[str]:
    """Run every Zb* op on ``per_op`` operand sets in rvdist; compare with :data:`ZB_REF`."""
    rng = random.Random(seed)
    insns, table, tests = bitmanip_program(rng, per_op)
    code = code_bytes(insns)
    data_seg = 0x100000
    elf = make_elf([Seg(TEXT, code, flags=PF_R | PF_X),
                    Seg(data_seg, table, flags=PF_R | PF_W)], TEXT)
    m = rvdist.Machine(rvdist.Program(elf), memory_size=MEMORY_SIZE)
    m.registers[S0] = data_seg
    r = m.run()
    if r.state != "exited":
        return [f"bit-manipulation batch did not exit: {r.state} {r.error}"]
    out = m.read_memory(data_seg, len(table))
    problems = []
    for insn, a, b, off in tests:
        got = struct.unpack_from("<Q", out, off + 16)[0]
        want = ZB_REF[insn.zb[0]](a, b)
        if got != want:
            operands = f"rs1={a:#x}" + (f", rs2={b:#x}" if insn.zb[4] == "r" else "")
            problems.append(f"{insn.text} ({insn.word:08x}) with {operands}: "
                            f"rvdist={got:#x} reference={want:#x}")
    return problems


# ---------------------------------------------------------------------------
# Checking the assembler against llvm-mc

LLVM_ATTRS = "+m,+a,+f,+d,+zba,+zbb,+zbc,+zbs"


def llvm_encodings(texts: Sequence[str], compressed: bool, llvm_mc: str = "llvm-mc") -> list[int]:
    """Assemble ``texts`` (one instruction each) with llvm-mc; their encodings in order."""
    import re
    import subprocess
    attrs = LLVM_ATTRS + (",+c" if compressed else ",-c")
    proc = subprocess.run([llvm_mc, "-triple=riscv64", f"-mattr={attrs}", "-show-encoding"],
                          input="\n".join(texts) + "\n", capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"llvm-mc failed:\n{proc.stderr[:4000]}")
    out = []
    for m in re.finditer(r"encoding: \[([^\]]*)\]", proc.stdout):
        raw = bytes(int(b, 16) for b in m.group(1).split(","))
        out.append(int.from_bytes(raw, "little"))
    if len(out) != len(texts):
        raise RuntimeError(f"llvm-mc gave {len(out)} encodings for {len(texts)} lines")
    return out


def llvm_check(insns: Sequence[Insn], llvm_mc: str = "llvm-mc") -> list[str]:
    """Compare our encodings of ``insns`` with llvm-mc's; returns the mismatches."""
    uniq = {}
    for i in insns:
        if i.llvm:
            uniq[(i.text, i.size)] = i
    problems = []
    for compressed in (False, True):
        group = [i for i in uniq.values() if (i.size == 2) == compressed]
        if not group:
            continue
        words = llvm_encodings([i.text for i in group], compressed, llvm_mc)
        for i, w in zip(group, words):
            if w != i.word:
                problems.append(f"{i.text}: ours {i.word:0{2 * i.size}x}, llvm-mc {w:0{2 * i.size}x}")
    return problems


# ---------------------------------------------------------------------------


def _print_run(what: str, n: int, seconds: float, failures: list[str], show: int) -> int:
    """Print a run's rate and its first ``show`` divergences; return how many there were."""
    print(f"{n} {what} in {seconds:.1f} s ({n / seconds:.0f} cases/s): {len(failures)} divergences")
    for f in failures[:show]:
        print(f, "\n")
    return len(failures)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=2000, help="random sequences to check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--length", type=int, default=30, help="instructions per sequence")
    ap.add_argument("--faults", type=int, default=0, help="fault cases to check too")
    ap.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                    help="comma-separated fault kinds to generate (default: all)")
    ap.add_argument("--bitmanip", action="store_true", help="also run the Zb* reference batch")
    ap.add_argument("--show", type=int, default=3, help="divergence reports to print in full")
    ap.add_argument("--stop-after", type=int, default=20)
    args = ap.parse_args(argv)

    unicorn_runner()
    bad = 0
    t0 = time.perf_counter()
    n, failures = run_many(args.cases, args.seed, args.length, stop_after=args.stop_after,
                           progress=True)
    bad += _print_run("sequences", n, time.perf_counter() - t0, failures, args.show)
    if args.faults:
        t0 = time.perf_counter()
        kinds = [k for k in args.fault_kinds.split(",") if k]
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            ap.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(FAULT_KINDS)}")
        n, failures = run_faults(args.faults, args.seed, kinds=kinds, stop_after=args.stop_after)
        bad += _print_run("fault cases", n, time.perf_counter() - t0, failures, args.show)
    if args.bitmanip:
        problems = bitmanip_batch(args.seed)
        print(f"bit-manipulation reference: {len(ZB_REF)} ops, {len(problems)} mismatches")
        for p in problems[:20]:
            print("  " + p)
        bad += len(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
