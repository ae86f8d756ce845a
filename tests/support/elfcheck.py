"""What rvdist's loader must make of an ELF file, worked out independently.

:func:`verdict` reads a file with :mod:`struct` alone (the loader uses
pyelftools) and applies the rules README.md and :mod:`rvdist.program` state:
either the program it must load (entry and segments), or every refusal that
fits what is wrong with the file. The loader stops at its first finding, so
where a file breaks several rules of one stage (two bad segments, say) any of
them is a right answer; a later stage counts only once every earlier one
passes. :func:`assert_loads_as_judged` holds ``rvdist.Program`` to it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

import pytest

from rvdist.errors import ProgramError
from rvdist.program import Program, Segment

PAGE = 4096
EM_RISCV, ET_EXEC, ET_DYN, PT_LOAD, PT_INTERP, PN_XNUM = 243, 2, 3, 1, 3, 0xFFFF
PF_X, PF_W, PF_R = 1, 2, 4
#: Where static PIE (ET_DYN) loads its address 0 (docs/linux-abi.md).
PIE_BASE = 0x10000


@dataclass(frozen=True)
class Verdict:
    """``refusals``: message fragments, one of which the ProgramError must hold
    (empty: the file loads, as ``entry`` and ``segments``, sorted by address).
    ``parser_may_refuse``: the count of program headers is PN_XNUM, for which
    pyelftools reads section 0 and the section name table; its refusals of
    those ("malformed ELF file") are not worked out here, and count as right."""

    refusals: tuple[str, ...] = ()
    entry: int = 0
    segments: tuple[Segment, ...] = ()
    parser_may_refuse: bool = False


def _refuse(*fragments: str) -> Verdict:
    return Verdict(refusals=fragments)


def verdict(data: bytes) -> Verdict:
    """What loading ``data`` as an rvdist program must give."""
    v = _verdict(data)
    if len(data) >= 64 and struct.unpack_from("<H", data, 56)[0] == PN_XNUM:
        v = Verdict(v.refusals, v.entry, v.segments, parser_may_refuse=True)
    return v


def _verdict(data: bytes) -> Verdict:
    # Stage 1: e_ident and the size of the ELF header.
    if len(data) < 4 or data[:4] != b"\x7fELF":
        return _refuse("not an ELF file")
    if len(data) < 6:
        return _refuse("truncated ELF header")
    if data[4] != 2:
        return _refuse("not an ELF64 file")
    if data[5] != 1:
        return _refuse("not a little-endian ELF file")
    if len(data) < 64:
        return _refuse("truncated ELF header")
    (e_type, e_machine, _, entry, phoff, shoff, _, _, phentsize, phnum, _, _, _) = \
        struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
    # Stage 2: what kind of file.
    if e_machine != EM_RISCV:
        return _refuse("e_machine is")
    if e_type not in (ET_EXEC, ET_DYN):
        return _refuse("e_type is")
    base = PIE_BASE if e_type == ET_DYN else 0
    # Stage 3: the program header table lies inside the file.
    if phnum == PN_XNUM:            # the real count is section 0's sh_info
        if shoff + 64 > len(data):
            return _refuse("malformed ELF file")
        phnum = struct.unpack_from("<I", data, shoff + 44)[0]
    if phnum and phentsize != 56:
        return _refuse(f"e_phentsize is {phentsize}, expected 56")
    if phoff + phnum * phentsize > len(data):
        return _refuse(f"truncated program header table: {phnum} entries at file offset {phoff:#x}")
    # Stage 3b: a program that needs a dynamic loader (ET_EXEC or ET_DYN alike).
    if any(struct.unpack_from("<I", data, phoff + 56 * i)[0] == PT_INTERP for i in range(phnum)):
        return _refuse("dynamically linked")
    # Stage 4: each loadable segment on its own.
    segs, bad = [], []
    for i in range(phnum):
        p_type, flags, offset, vaddr, _, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)
        if p_type != PT_LOAD or memsz == 0:
            continue
        vaddr += base
        where = f"segment {i} (vaddr {vaddr:#x}): "
        found = [where + why for why, broken in (
            (f"p_memsz {memsz:#x} is smaller than p_filesz {filesz:#x}", filesz > memsz),
            (f"file bytes [{offset:#x}, {offset + filesz:#x}) extend beyond the end of the file",
             offset + filesz > len(data)),
            (f"p_memsz {memsz:#x} is larger than any rvdist memory", memsz > 1 << 32),
            ("vaddr + p_memsz", vaddr + memsz > 1 << 64),
            ("segment is not readable", not flags & PF_R),
            ("segment is both writable and executable", flags & PF_W and flags & PF_X),
        ) if broken]
        bad += found
        segs.append((i, Segment(vaddr, data[offset:offset + filesz], memsz, True, bool(flags & PF_W),
                                bool(flags & PF_X))))
    if bad:
        return _refuse(*bad)
    if not segs:
        return _refuse("no PT_LOAD segment with a non-zero size")
    # Stage 5: the segments together: no overlap, no page shared by two kinds of permission.
    segs.sort(key=lambda item: item[1].vaddr)
    clashes = []
    for k, (i, low) in enumerate(segs):
        for j, high in segs[k + 1:]:
            pair = f"segment {i} [{low.vaddr:#x}, {low.end:#x}) {low.perms} and segment {j}"
            if low.end > high.vaddr:
                clashes.append(f"segments overlap: {pair}")
            elif low.perms != high.perms and (low.end - 1) // PAGE == high.vaddr // PAGE:
                clashes.append(f"{pair} [{high.vaddr:#x}, {high.end:#x}) {high.perms} share the page at "
                               f"{high.vaddr // PAGE * PAGE:#x}")
    if clashes:
        return _refuse(*clashes)
    # Stage 6: the entry point is code.
    entry += base
    if not any(s.executable and s.vaddr <= entry < s.end for _, s in segs):
        return _refuse(f"entry point {entry:#x} is not inside an executable segment")
    return Verdict(entry=entry, segments=tuple(s for _, s in segs))


def assert_loads_as_judged(data: bytes) -> Optional[ProgramError]:
    """Load ``data`` and check the outcome against :func:`verdict`: the same
    program, or a ProgramError naming one of the defects. Returns the error."""
    expected = verdict(data)
    if not expected.refusals:
        try:
            program = Program(data)
        except ProgramError as e:
            if expected.parser_may_refuse and "malformed ELF file" in str(e):
                return e
            raise
        assert (program.entry, program.segments) == (expected.entry, expected.segments)
        return None
    with pytest.raises(ProgramError) as info:
        Program(data)
    message = str(info.value)
    if expected.parser_may_refuse and "malformed ELF file" in message:
        return info.value
    assert any(f in message for f in expected.refusals), \
        f"refused with {message!r}; expected one of {list(expected.refusals)}"
    return info.value
