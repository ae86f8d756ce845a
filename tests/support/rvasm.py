"""The one RISC-V instruction encoder of the tests, and a tiny assembler on it.

``enc_*`` pack the fields of each base format (R, I, S, B, U, J) into a
32-bit word, arguments in the order the fields stand in the word, registers
as numbers; :mod:`diffgen` builds its random programs on them. The
mnemonic helpers below take registers by number or ABI name (``"a0"``) and
return the instruction's little-endian bytes, ready to concatenate into a
program for :func:`support.elfgen.asm_elf`.
"""

from __future__ import annotations

import struct
from typing import Union

from rvdist.machine import ABI_NAMES

Reg = Union[int, str]

OP_LOAD, OP_MISC_MEM, OP_IMM, OP_AUIPC, OP_IMM32 = 0x03, 0x0F, 0x13, 0x17, 0x1B
OP_STORE, OP_AMO, OP_OP, OP_LUI, OP_OP32 = 0x23, 0x2F, 0x33, 0x37, 0x3B
OP_BRANCH, OP_JALR, OP_JAL, OP_SYSTEM = 0x63, 0x67, 0x6F, 0x73
OP_LOAD_FP, OP_STORE_FP, OP_MADD, OP_FP = 0x07, 0x27, 0x43, 0x53


def enc_r(f7: int, rs2: int, rs1: int, f3: int, rd: int, op: int) -> int:
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def enc_i(imm: int, rs1: int, f3: int, rd: int, op: int) -> int:
    assert -2048 <= imm < 4096, imm         # a signed 12-bit immediate, or its bits
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def enc_s(imm: int, rs2: int, rs1: int, f3: int, op: int = OP_STORE) -> int:
    return (((imm >> 5) & 0x7F) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) \
        | ((imm & 0x1F) << 7) | op


def enc_b(imm: int, rs2: int, rs1: int, f3: int) -> int:
    return (((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3F) << 25) | (rs2 << 20) \
        | (rs1 << 15) | (f3 << 12) | (((imm >> 1) & 0xF) << 8) | (((imm >> 11) & 1) << 7) \
        | OP_BRANCH


def enc_u(imm20: int, rd: int, op: int) -> int:
    return ((imm20 & 0xFFFFF) << 12) | (rd << 7) | op


def enc_j(imm: int, rd: int) -> int:
    return (((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3FF) << 21) | (((imm >> 11) & 1) << 20) \
        | (((imm >> 12) & 0xFF) << 12) | (rd << 7) | OP_JAL


# -- a tiny assembler: instructions as bytes ------------------------------------------------

def reg(r: Reg) -> int:
    return ABI_NAMES.index(r) if isinstance(r, str) else r


def word(v: int) -> bytes:
    """One instruction word, little-endian."""
    return struct.pack("<I", v & 0xFFFFFFFF)


def r_type(op: int, f3: int, f7: int, rd: Reg, rs1: Reg, rs2: Reg) -> bytes:
    return word(enc_r(f7, reg(rs2), reg(rs1), f3, reg(rd), op))


def i_type(op: int, f3: int, rd: Reg, rs1: Reg, imm: int) -> bytes:
    return word(enc_i(imm, reg(rs1), f3, reg(rd), op))


def s_type(f3: int, rs2: Reg, rs1: Reg, imm: int) -> bytes:
    return word(enc_s(imm, reg(rs2), reg(rs1), f3))


def b_type(f3: int, rs1: Reg, rs2: Reg, off: int) -> bytes:
    return word(enc_b(off, reg(rs2), reg(rs1), f3))


def addi(rd, rs1, imm): return i_type(OP_IMM, 0, rd, rs1, imm)
def slli(rd, rs1, sh): return i_type(OP_IMM, 1, rd, rs1, sh)
def add(rd, rs1, rs2): return r_type(OP_OP, 0, 0, rd, rs1, rs2)
def mul(rd, rs1, rs2): return r_type(OP_OP, 0, 1, rd, rs1, rs2)
def div(rd, rs1, rs2): return r_type(OP_OP, 4, 1, rd, rs1, rs2)
def rem(rd, rs1, rs2): return r_type(OP_OP, 6, 1, rd, rs1, rs2)
def lui(rd, imm20): return word(enc_u(imm20, reg(rd), OP_LUI))
def ld(rd, rs1, off): return i_type(OP_LOAD, 3, rd, rs1, off)
def lw(rd, rs1, off): return i_type(OP_LOAD, 2, rd, rs1, off)
def lbu(rd, rs1, off): return i_type(OP_LOAD, 4, rd, rs1, off)
def sd(rs2, rs1, off): return s_type(3, rs2, rs1, off)
def sw(rs2, rs1, off): return s_type(2, rs2, rs1, off)
def beq(rs1, rs2, off): return b_type(0, rs1, rs2, off)
def bne(rs1, rs2, off): return b_type(1, rs1, rs2, off)
def jal(rd, off): return word(enc_j(off, reg(rd)))
def amo(f5, f3, rd, rs1, rs2): return r_type(OP_AMO, f3, f5 << 2, rd, rs1, rs2)


_WIDTH = {"w": 2, "d": 3}


def lr(width: str, rd: Reg, rs1: Reg) -> bytes:
    """``lr.w`` or ``lr.d`` (``width`` "w" or "d")."""
    return amo(0b00010, _WIDTH[width], rd, rs1, 0)


def sc(width: str, rd: Reg, rs2: Reg, rs1: Reg) -> bytes:
    """``sc.w`` or ``sc.d``: rd = 0 if rs2 was stored at (rs1)."""
    return amo(0b00011, _WIDTH[width], rd, rs1, rs2)


ECALL = word(0x00000073)


def li(rd: Reg, value: int) -> bytes:
    """Load a 32-bit signed constant (one or two instructions)."""
    if -2048 <= value < 2048:
        return addi(rd, 0, value)
    assert -(1 << 31) <= value < (1 << 31), value
    low = (value & 0xFFF) - ((value & 0x800) << 1)
    return lui(rd, (value - low) >> 12) + i_type(OP_IMM32, 0, rd, rd, low)  # lui + addiw


def syscall(number: int, *args: int) -> bytes:
    """``a0.. = args; a7 = number; ecall``."""
    code = b"".join(li(f"a{i}", v) for i, v in enumerate(args))
    return code + li("a7", number) + ECALL


def exit_with(r: Reg = "a0") -> bytes:
    """exit(r): the guest's exit code is the register's value."""
    return (addi("a0", r, 0) if reg(r) != reg("a0") else b"") + li("a7", 93) + ECALL
