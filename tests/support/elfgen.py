"""Build small ELF64 RISC-V executables in memory, for tests and fuzzing.

``make_elf`` lays out an ELF header, a program header table and the segment
bytes, and lets every header field be overridden so that tests can build
exactly one defect at a time::

    from support.elfgen import Seg, PF_R, PF_X, make_elf

    elf = make_elf([Seg(0x10000, code, flags=PF_R | PF_X)], entry=0x10000)
    bad = make_elf([Seg(0x10000, code, flags=PF_R | PF_X)], entry=0x10000, e_machine=62)

The file is written with the byte order ``ei_data`` announces (big-endian for
``ELFDATA2MSB``), but always with ELF64 layouts, whatever ``ei_class`` says.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Sequence

__all__ = [
    "ELFCLASS32", "ELFCLASS64", "ELFDATA2LSB", "ELFDATA2MSB", "EM_RISCV", "EM_X86_64",
    "ET_REL", "ET_EXEC", "ET_DYN", "ET_CORE", "PT_LOAD", "PT_INTERP", "PT_NOTE", "PT_GNU_STACK",
    "PF_X", "PF_W", "PF_R", "EHDR_SIZE", "PHDR_SIZE",
    "Seg", "make_elf", "sample_segments", "sample_elf", "TEXT", "DATA", "asm_elf",
]

ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EM_X86_64, EM_RISCV = 62, 243
ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4
PT_LOAD, PT_INTERP, PT_NOTE, PT_GNU_STACK = 1, 3, 4, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
EHDR_SIZE, PHDR_SIZE = 64, 56

_EHDR = "16sHHIQQQIHHHHHH"
_PHDR = "IIQQQQQQ"


@dataclass(frozen=True)
class Seg:
    """One program header and the bytes it refers to.

    ``memsz`` defaults to ``len(data)``. ``offset`` and ``filesz`` override the
    values ``make_elf`` would record (the bytes are still written at the
    automatic position), which is how tests point a header past the file.
    """

    vaddr: int
    data: bytes = b""
    memsz: int | None = None
    flags: int = PF_R
    type: int = PT_LOAD
    offset: int | None = None
    filesz: int | None = None
    align: int = 0x1000


def make_elf(
    segments: Sequence[Seg],
    entry: int,
    *,
    ei_class: int = ELFCLASS64,
    ei_data: int = ELFDATA2LSB,
    e_type: int = ET_EXEC,
    e_machine: int = EM_RISCV,
    e_phoff: int | None = None,
    e_phentsize: int = PHDR_SIZE,
    e_phnum: int | None = None,
    e_shoff: int = 0,
    e_shnum: int = 0,
    e_shstrndx: int = 0,
    truncate: int | None = None,
) -> bytes:
    """Return the bytes of an ELF executable holding ``segments``.

    Header fields take their correct values unless overridden. ``e_phoff`` and
    ``e_phnum`` only change what the header says, not where the table is
    written (right after the ELF header). ``truncate`` cuts the file to that
    many bytes.
    """
    order = "<" if ei_data != ELFDATA2MSB else ">"
    table_end = EHDR_SIZE + PHDR_SIZE * len(segments)

    body = bytearray()
    phdrs = bytearray()
    for seg in segments:
        # Keeping segment bytes 16-aligned makes hex dumps of failures readable.
        body += bytes(-(table_end + len(body)) % 16)
        offset = table_end + len(body)
        body += seg.data
        phdrs += struct.pack(
            order + _PHDR,
            seg.type,
            seg.flags,
            offset if seg.offset is None else seg.offset,
            seg.vaddr,
            seg.vaddr,
            len(seg.data) if seg.filesz is None else seg.filesz,
            len(seg.data) if seg.memsz is None else seg.memsz,
            seg.align,
        )

    ident = b"\x7fELF" + bytes([ei_class, ei_data, 1, 0]) + bytes(8)
    header = struct.pack(
        order + _EHDR,
        ident,
        e_type,
        e_machine,
        1,
        entry,
        EHDR_SIZE if e_phoff is None else e_phoff,
        e_shoff,
        0,
        EHDR_SIZE,
        e_phentsize,
        len(segments) if e_phnum is None else e_phnum,
        64,
        e_shnum,
        e_shstrndx,
    )
    out = header + bytes(phdrs) + bytes(body)
    return out if truncate is None else out[:truncate]


def sample_segments() -> list[Seg]:
    """A typical small program: code (r-x), constants (r--) and data plus bss (rw-)."""
    code = bytes.fromhex("93 08 d0 05 13 05 00 00 73 00 00 00")  # li a7,93; li a0,0; ecall
    return [
        Seg(0x10000, code, flags=PF_R | PF_X),
        Seg(0x11000, b"hello\n\0", flags=PF_R),
        Seg(0x12000, b"\x01\x02\x03\x04", memsz=0x2010, flags=PF_R | PF_W),
    ]


def sample_elf(*, entry: int = 0x10000, **overrides: Any) -> bytes:
    """``make_elf(sample_segments(), entry, **overrides)``: a valid program unless overridden."""
    return make_elf(sample_segments(), entry, **overrides)


#: Where :func:`asm_elf` puts code and data.
TEXT, DATA = 0x10000, 0x11000


def asm_elf(code: bytes, data: bytes = b"", bss: int = 0, rodata: bytes | None = None) -> bytes:
    """An ELF with ``code`` at TEXT (r-x), ``data`` + ``bss`` zero bytes at DATA (rw-)
    and, if given, ``rodata`` on the page after the data (r--)."""
    segs = [Seg(TEXT, code, flags=PF_R | PF_X)]
    if data or bss:
        segs.append(Seg(DATA, data, memsz=len(data) + bss, flags=PF_R | PF_W))
    if rodata is not None:
        end = -(-(DATA + len(data) + bss) // 4096) * 4096
        segs.append(Seg(end, rodata, flags=PF_R))
    return make_elf(segs, entry=TEXT)
