#!/usr/bin/env python3
"""Checks that built guest ELFs fit what rvdist loads.

Every file must be an ELF64 RISC-V ET_EXEC whose program headers are all
PT_LOAD, none of them both writable and executable, none below 0x10000, with
the entry point inside an executable segment.  Fault programs must define
fault_here.  Usage: check_elfs.py FILE.elf...  (exit 1 on any problem)
"""

import sys

from elfinfo import EM_RISCV, ET_EXEC, PF_W, PF_X, PT_LOAD, read_elf


def problems(path: str) -> list[str]:
    elf = read_elf(path)
    out = []
    if elf.type != ET_EXEC:
        out.append("not ET_EXEC")
    if elf.machine != EM_RISCV:
        out.append("not EM_RISCV")
    if not elf.segments:
        out.append("no program headers")
    for s in elf.segments:
        if s.type != PT_LOAD:
            out.append(f"program header of type {s.type:#x} (only PT_LOAD allowed)")
        if s.flags & PF_W and s.flags & PF_X:
            out.append(f"W+X segment at {s.vaddr:#x}")
        if s.vaddr < 0x10000:
            out.append(f"segment below 0x10000 at {s.vaddr:#x}")
        if s.memsz < s.filesz:
            out.append(f"memsz < filesz at {s.vaddr:#x}")
    if not any(s.flags & PF_X and s.vaddr <= elf.entry < s.vaddr + s.memsz
               for s in elf.segments):
        out.append(f"entry {elf.entry:#x} not in an executable segment")
    if "/faults/" in "/" + path and "fault_here" not in elf.symbols:
        out.append("fault program without a fault_here symbol")
    return out


def main() -> int:
    bad = 0
    for path in sys.argv[1:]:
        for p in problems(path):
            print(f"{path}: {p}")
            bad += 1
    print(f"checked {len(sys.argv) - 1} ELF files, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
