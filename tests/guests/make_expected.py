#!/usr/bin/env python3
"""Regenerates expected.json: what qemu-riscv64 gives for each C program run.

Each entry: {"program", "args", "stdin", "memory_size", "exit_code",
"stdout", "instructions"}.  "args" are the arguments after argv[0] (qemu is
given the program path, e.g. "c/hello.elf", as argv[0]; no program prints
it).  "memory_size" is the guest memory, in bytes, the case needs under
rvdist.  "instructions" is the number of instructions qemu executed, the
final exit ecall included (see qemurun.py for how it is counted).

Usage: python3 make_expected.py   (needs qemu-riscv64; run from anywhere)
"""

import json
import os
import sys

import qemurun

MIB = 1 << 20

# (program, args, stdin, memory_size)
CASES = [
    ("c/hello.elf", [], "", 4 * MIB),
    ("c/hello.elf", ["alpha", "two words", "", "last"], "", 4 * MIB),
    ("c/intloop.elf", ["1000"], "", 4 * MIB),
    ("c/intloop.elf", ["100000"], "", 4 * MIB),
    ("c/intloop.elf", ["12x"], "", 4 * MIB),
    ("c/memsort.elf", ["16k"], "", 4 * MIB),
    ("c/memsort.elf", ["64k"], "", 4 * MIB),
    ("c/upper.elf", [], "", 4 * MIB),
    ("c/upper.elf", [], "Hello, World!\nthe quick brown fox jumps over the lazy dog\n"
                        "0123456789 {mixed} CASE ~end", 4 * MIB),
    ("c/brkgrow.elf", [], "", 4 * MIB),
    ("c/lrsc_counter.elf", ["0"], "", 4 * MIB),
    ("c/lrsc_counter.elf", ["20000"], "", 4 * MIB),
    ("c/rewrite_pages.elf", [], "", 4 * MIB),
    ("c/primes.elf", ["10000"], "", 4 * MIB),
    ("c/primes.elf", ["100000"], "", 4 * MIB),
    ("c/nbody.elf", ["1000"], "", 4 * MIB),
    ("c/nbody.elf", ["20000"], "", 4 * MIB),
    ("c/nbody.elf", ["x"], "", 4 * MIB),
]


def main() -> int:
    if not qemurun.available():
        print("qemu-riscv64 not found", file=sys.stderr)
        return 1
    entries = []
    for program, args, stdin, memory_size in CASES:
        plain = qemurun.run(program, args, stdin.encode())
        traced = qemurun.run(program, args, stdin.encode(), trace=True)
        if (plain.returncode, plain.stdout) != (traced.returncode, traced.stdout):
            print(f"{program} {args}: traced run differs from plain run", file=sys.stderr)
            return 1
        if plain.returncode < 0:
            print(f"{program} {args}: killed by signal {-plain.returncode}", file=sys.stderr)
            return 1
        entries.append({
            "program": program,
            "args": args,
            "stdin": stdin,
            "memory_size": memory_size,
            "exit_code": plain.returncode,
            "stdout": plain.stdout.decode(),
            "instructions": traced.instructions,
        })
        print(f"{program} {' '.join(args)}: exit {plain.returncode}, "
              f"{traced.instructions} instructions")
    path = os.path.join(qemurun.HERE, "expected.json")
    with open(path, "w") as f:
        json.dump(entries, f, indent=2)
        f.write("\n")
    print(f"wrote {path} ({len(entries)} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
