"""Loading RISC-V ELF executables into :class:`Program` objects.

A :class:`Program` is the validated description of what a guest image puts
where: its entry point, its ``PT_LOAD`` segments with their permissions,
and where its program headers are (for the auxiliary vector). Static
executables (``ET_EXEC``) load at their own addresses; static-PIE ones
(``ET_DYN`` without ``PT_INTERP``) at :data:`STATIC_PIE_BASE`. A program
that needs a dynamic loader (``PT_INTERP``) is refused. Validation is
strict on purpose: everything that rvdist cannot honour exactly (W+X pages,
overlapping segments, pages shared by segments with different permissions,
...) is rejected here with a :class:`~rvdist.errors.ProgramError`, so the
core never has to guess.

The ELF header and program headers are parsed with pyelftools; every size and
offset is checked against the file before any bytes are sliced out of it, so
a hostile file cannot make the loader allocate more than the file itself.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from elftools.common.utils import struct_parse
from elftools.elf.elffile import ELFFile

from rvdist.errors import ProgramError

__all__ = ["PAGE_SIZE", "STATIC_PIE_BASE", "Segment", "Program"]

#: Granularity of memory permissions in rvdist (W^X is enforced per page).
PAGE_SIZE = 4096

#: No rvdist machine has more guest memory than this, so larger segments are bogus.
MAX_SEGMENT_SIZE = 1 << 32

_ADDRESS_LIMIT = 1 << 64
_ELF_MAGIC = b"\x7fELF"
_EHDR64_SIZE = 64
_PHDR64_SIZE = 56
_EM_RISCV = 243
_PF_X, _PF_W, _PF_R = 1, 2, 4

#: Where a static-PIE program (ET_DYN without PT_INTERP) is loaded: its
#: address 0 goes here. Fixed, so that every run of it is the same; the
#: same address static ET_EXEC programs start at by default.
STATIC_PIE_BASE = 0x10000


@dataclass(frozen=True)
class Segment:
    """One loadable (``PT_LOAD``) segment of a program.

    ``data`` holds the ``p_filesz`` bytes taken from the file; the remaining
    ``memsz - len(data)`` bytes of the segment are zero-filled at load time.
    """

    vaddr: int
    data: bytes
    memsz: int
    readable: bool
    writable: bool
    executable: bool

    @property
    def end(self) -> int:
        """First address past the segment (``vaddr + memsz``)."""
        return self.vaddr + self.memsz

    @property
    def perms(self) -> str:
        """Permissions in ``ls``-like form, e.g. ``"r-x"``."""
        return (
            ("r" if self.readable else "-")
            + ("w" if self.writable else "-")
            + ("x" if self.executable else "-")
        )

    def __repr__(self) -> str:
        return (
            f"Segment(vaddr={self.vaddr:#x}, end={self.end:#x}, "
            f"filesz={len(self.data):#x}, perms={self.perms!r})"
        )


def _fail(message: str, offset: int | None = None) -> NoReturn:
    raise ProgramError(message, offset=offset)


@dataclass(frozen=True)
class Headers:
    """Where a loaded program's headers are, for the auxiliary vector.

    ``base`` is the load bias (0 for ``ET_EXEC``, :data:`STATIC_PIE_BASE`
    for static PIE); ``phdr`` the guest address of the program header table
    when a segment loads it (else None: the process start copies ``table``
    onto the stack); ``phent`` and ``phnum`` its entry size and count.
    """

    base: int
    phdr: int | None
    phent: int
    phnum: int
    table: bytes


class Program:
    """A validated static RISC-V ELF64 executable (little-endian): ``ET_EXEC``,
    or static PIE (``ET_DYN`` without ``PT_INTERP``).

    ``Program(data)`` parses and validates ``data`` and raises
    :class:`ProgramError` for anything that is not a loadable rvdist program;
    no other exception escapes for any ``bytes`` input. ``entry`` and the
    segments' addresses are where they load (static PIE: moved by
    :data:`STATIC_PIE_BASE`).
    """

    data: bytes
    name: str | None
    entry: int
    segments: tuple[Segment, ...]
    headers: Headers
    digest: str

    def __init__(self, data: bytes, *, name: str | None = None) -> None:
        self.data = bytes(data)
        self.name = name
        self.entry, self.segments, self.headers = _parse(self.data)
        self.digest = hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, name: str | None = None) -> Program:
        """Read and parse the ELF file at ``path``; ``name`` defaults to its file name."""
        try:
            data = Path(path).read_bytes()
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            reason = getattr(exc, "strerror", None) or exc
            raise ProgramError(f"cannot read program file {os.fspath(path)!r}: {reason}") from exc
        return cls(data, name=Path(path).name if name is None else name)

    @property
    def image_end(self) -> int:
        """End of the highest segment rounded up to a page: where the heap (brk) starts."""
        end = max(seg.end for seg in self.segments)
        return -(-end // PAGE_SIZE) * PAGE_SIZE

    def check_fits(self, memory_size: int) -> None:
        """Raise :class:`ProgramError` unless all segments and the entry lie in guest memory.

        Guest memory is the address range ``[0, memory_size)``.
        """
        for index, seg in enumerate(self.segments):
            if seg.end > memory_size:
                _fail(
                    f"segment {index} [{seg.vaddr:#x}, {seg.end:#x}) does not fit in "
                    f"guest memory of {memory_size:#x} bytes"
                )
        if not 0 <= self.entry < memory_size:
            _fail(f"entry point {self.entry:#x} is outside guest memory of {memory_size:#x} bytes")

    def __repr__(self) -> str:
        return (
            f"Program(name={self.name!r}, entry={self.entry:#x}, "
            f"segments={len(self.segments)}, image_end={self.image_end:#x}, "
            f"digest={self.digest[:12]}...)"
        )


def _parse(data: bytes) -> tuple[int, tuple[Segment, ...], Headers]:
    """Validate ``data`` as an rvdist program: its entry, sorted segments and headers."""
    _check_ident(data)
    with _malformed_as_program_error():
        elf = ELFFile(io.BytesIO(data))
        header = elf.header
    if header["e_machine"] != "EM_RISCV":
        _fail(f"e_machine is {header['e_machine']}, not EM_RISCV ({_EM_RISCV})", 18)
    if header["e_type"] not in ("ET_EXEC", "ET_DYN"):
        _fail(f"e_type is {header['e_type']}, not ET_EXEC or ET_DYN (only static executables "
              f"and static PIE load)", 16)
    with _malformed_as_program_error():
        phdrs = _read_program_headers(elf, data)
    for phdr in phdrs:
        if phdr["p_type"] == "PT_INTERP":
            start, end = phdr["p_offset"], phdr["p_offset"] + phdr["p_filesz"]
            interp = data[start:end].split(b"\0")[0].decode(errors="replace") if end <= len(data) else "?"
            _fail(f"dynamically linked program (PT_INTERP {interp!r}): rvdist runs static programs "
                  f"only; link with -static or -static-pie")
    base = STATIC_PIE_BASE if header["e_type"] == "ET_DYN" else 0

    # Empty PT_LOADs map nothing, so they cannot break any rule below.
    loads = {
        index: _make_segment(index, phdr, data, header["e_phoff"] + index * header["e_phentsize"], base)
        for index, phdr in enumerate(phdrs)
        if phdr["p_type"] == "PT_LOAD" and phdr["p_memsz"] > 0
    }
    if not loads:
        _fail("no PT_LOAD segment with a non-zero size: nothing to load")
    ordered = sorted(loads.items(), key=lambda item: item[1].vaddr)
    _check_layout(ordered)

    entry = header["e_entry"] + base
    if not any(seg.executable and seg.vaddr <= entry < seg.end for seg in loads.values()):
        _fail(f"entry point {entry:#x} is not inside an executable segment", 24)
    return entry, tuple(seg for _, seg in ordered), _headers(header, phdrs, data, base)


def _headers(header: Any, phdrs: list[Any], data: bytes, base: int) -> Headers:
    """Where the program header table is once loaded: PT_PHDR says, or the
    PT_LOAD whose file bytes hold it."""
    phoff, phent, phnum = header["e_phoff"], header["e_phentsize"], len(phdrs)
    size = phent * phnum
    at = None
    for phdr in phdrs:
        if phdr["p_type"] == "PT_PHDR":
            at = phdr["p_vaddr"] + base
            break
    else:
        for phdr in phdrs:
            if phdr["p_type"] == "PT_LOAD" and phdr["p_offset"] <= phoff and \
                    phoff + size <= phdr["p_offset"] + phdr["p_filesz"]:
                at = phdr["p_vaddr"] + base + phoff - phdr["p_offset"]
                break
    return Headers(base=base, phdr=at, phent=phent or _PHDR64_SIZE, phnum=phnum,
                   table=data[phoff:phoff + size])


@contextmanager
def _malformed_as_program_error() -> Iterator[None]:
    """Turn whatever pyelftools raises on malformed input into ProgramError."""
    try:
        yield
    except ProgramError:
        raise
    except Exception as exc:
        # pyelftools raises a zoo of types on malformed input (ELFError,
        # ELFParseError, struct.error, ValueError, OverflowError, ...), and
        # callers must only ever see ProgramError.
        raise ProgramError(f"malformed ELF file: {type(exc).__name__}: {exc}") from exc


def _check_ident(data: bytes) -> None:
    """Check ``e_ident`` ourselves: pyelftools' messages for these are cryptic."""
    if len(data) < len(_ELF_MAGIC) or data[:4] != _ELF_MAGIC:
        what = "empty file" if not data else f"bad magic {data[:4]!r}"
        _fail(f"not an ELF file ({what})", 0)
    if len(data) < 6:
        _fail(f"truncated ELF header: file has only {len(data)} bytes", len(data))
    if data[4] != 2:
        kind = {1: "ELF32 (ELFCLASS32)"}.get(data[4], f"invalid class {data[4]}")
        _fail(f"not an ELF64 file: EI_CLASS is {kind}, expected ELFCLASS64", 4)
    if data[5] != 1:
        kind = {2: "big-endian (ELFDATA2MSB)"}.get(data[5], f"invalid encoding {data[5]}")
        _fail(f"not a little-endian ELF file: EI_DATA is {kind}, expected ELFDATA2LSB", 5)
    if len(data) < _EHDR64_SIZE:
        _fail(
            f"truncated ELF header: file has {len(data)} bytes, ELF64 needs {_EHDR64_SIZE}",
            len(data),
        )


def _read_program_headers(elf: ELFFile, data: bytes) -> list[Any]:
    """Parse the program header table after checking it lies inside the file."""
    phoff, phentsize = elf.header["e_phoff"], elf.header["e_phentsize"]
    count = elf.num_segments()
    if count and phentsize != _PHDR64_SIZE:
        _fail(f"e_phentsize is {phentsize}, expected {_PHDR64_SIZE} for ELF64", 54)
    if phoff + count * phentsize > len(data):
        _fail(
            f"truncated program header table: {count} entries at file offset {phoff:#x} "
            f"end at {phoff + count * phentsize:#x}, beyond the end of the file ({len(data):#x})",
            phoff,
        )
    # Parsed with pyelftools' struct directly rather than elf.get_segment(),
    # which for PT_DYNAMIC/PT_NOTE also walks unrelated sections we never need.
    phdr, stream = elf.structs.Elf_Phdr, elf.stream
    return [struct_parse(phdr, stream, stream_pos=phoff + i * phentsize) for i in range(count)]


def _make_segment(index: int, phdr: Any, data: bytes, ph_offset: int, base: int = 0) -> Segment:
    """Validate one ``PT_LOAD`` program header and build its :class:`Segment`
    (``base`` added to its address)."""
    vaddr, memsz = phdr["p_vaddr"] + base, phdr["p_memsz"]
    offset, filesz, flags = phdr["p_offset"], phdr["p_filesz"], phdr["p_flags"]
    where = f"segment {index} (vaddr {vaddr:#x})"
    if filesz > memsz:
        _fail(f"{where}: p_memsz {memsz:#x} is smaller than p_filesz {filesz:#x}", ph_offset)
    if offset + filesz > len(data):
        _fail(
            f"{where}: file bytes [{offset:#x}, {offset + filesz:#x}) extend beyond the end "
            f"of the file ({len(data):#x} bytes); truncated file?",
            offset,
        )
    if memsz > MAX_SEGMENT_SIZE:
        _fail(
            f"{where}: p_memsz {memsz:#x} is larger than any rvdist memory ({MAX_SEGMENT_SIZE:#x})",
            ph_offset,
        )
    if vaddr + memsz > _ADDRESS_LIMIT:
        _fail(
            f"{where}: vaddr + p_memsz = {vaddr + memsz:#x} overflows the 64-bit address space",
            ph_offset,
        )
    if not flags & _PF_R:
        _fail(f"{where}: segment is not readable (no PF_R flag)", ph_offset)
    if flags & _PF_W and flags & _PF_X:
        _fail(f"{where}: segment is both writable and executable (W+X is not allowed)", ph_offset)
    return Segment(
        vaddr=vaddr,
        data=data[offset : offset + filesz],
        memsz=memsz,
        readable=True,
        writable=bool(flags & _PF_W),
        executable=bool(flags & _PF_X),
    )


def _check_layout(ordered: list[tuple[int, Segment]]) -> None:
    """Reject overlaps and pages shared by segments of different permissions.

    ``ordered`` holds (program header index, segment) pairs sorted by vaddr.
    Checking neighbours is enough: a segment lying between two others on one
    page shares that page with both of them.
    """
    for (i, low), (j, high) in zip(ordered, ordered[1:]):
        pair = (
            f"segment {i} [{low.vaddr:#x}, {low.end:#x}) {low.perms} and "
            f"segment {j} [{high.vaddr:#x}, {high.end:#x}) {high.perms}"
        )
        if low.end > high.vaddr:
            _fail(f"segments overlap: {pair}")
        if low.perms != high.perms and (low.end - 1) // PAGE_SIZE == high.vaddr // PAGE_SIZE:
            page = high.vaddr // PAGE_SIZE * PAGE_SIZE
            _fail(
                f"{pair} share the page at {page:#x} with different permissions, "
                f"but permissions apply to whole {PAGE_SIZE}-byte pages"
            )
