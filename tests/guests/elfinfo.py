"""Minimal ELF64 reader for the guest-program tooling (no dependencies).

Used by check_elfs.py and qemu_check.py to read program headers and symbol
values such as ``fault_here`` / ``fault_addr``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4
ET_EXEC = 2
EM_RISCV = 243


@dataclass
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int
    align: int


@dataclass
class Elf:
    path: str
    type: int
    machine: int
    entry: int
    segments: list[Segment] = field(default_factory=list)
    symbols: dict[str, int] = field(default_factory=dict)


def read_elf(path: str) -> Elf:
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian ELF64 file")
    (e_type, e_machine, _ver, e_entry, e_phoff, e_shoff, _flags, _ehsize,
     e_phentsize, e_phnum, e_shentsize, e_shnum, _shstrndx) = struct.unpack_from(
        "<HHIQQQIHHHHHH", data, 16)
    elf = Elf(path, e_type, e_machine, e_entry)
    for i in range(e_phnum):
        p_type, p_flags, p_offset, p_vaddr, _paddr, p_filesz, p_memsz, p_align = (
            struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize))
        elf.segments.append(Segment(p_type, p_flags, p_offset, p_vaddr, p_filesz,
                                    p_memsz, p_align))
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
                for i in range(e_shnum)]
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        str_off = strtab[4]
        for j in range(sh[5] // sh[9]):
            st_name, _info, _other, _shndx, st_value, _size = struct.unpack_from(
                "<IBBHQQ", data, sh[4] + j * sh[9])
            if st_name:
                end = data.index(b"\0", str_off + st_name)
                elf.symbols[data[str_off + st_name:end].decode()] = st_value
    return elf
