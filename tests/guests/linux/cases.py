"""The runs of the stock-toolchain guests that rvdist must match qemu-riscv64 on.

Each case is a job spec: program, args, env, stdin, the declared files
(guest path relative to the working directory -> file under this folder)
and the working directory. record.py runs every case under qemu-riscv64
and writes what it gave (stdout, stderr, exit code, files written) to
expected.json; tests/test_linux.py runs them under rvdist and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATA = {"data/words.txt": "data/words.txt", "data/numbers.bin": "data/numbers.bin"}


@dataclass(frozen=True)
class Case:
    name: str
    program: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""
    files: dict[str, str] = field(default_factory=dict)
    cwd: str = "/"
    memory: str = "64MiB"


CASES = [
    Case("hello", "hello.elf", ("x", "two words", ""), env={"WHO": "world", "LANG": "C"}),
    Case("hello-noenv", "hello.elf"),
    Case("alloc", "alloc.elf"),
    Case("mm", "mm.elf"),
    Case("files", "files.elf", files=DATA),
    Case("files-in-cwd", "files.elf", files=DATA, cwd="/home/guest"),
    Case("fsops", "fsops.elf"),
    Case("stdin", "stdin.elf", stdin=b"the quick brown fox\njumps over\n  the lazy dog\n" * 40),
    Case("stdin-empty", "stdin.elf"),
    Case("timing", "timing.elf"),
    Case("random", "random.elf"),
    Case("sort", "sort.elf", ("200000",)),
    Case("fpfmt", "fpfmt.elf"),
    Case("nbody", "nbody.elf", ("2000",)),
    Case("pie", "pie.elf", ("arg",)),
    Case("abort", "abort.elf"),
    Case("wild", "wild.elf", stdin=b"stdin bytes the bad reads must not consume\n"),
    Case("stats", "stats.elf", ("data/samples.txt", "out/report.txt"),
         files={"data/samples.txt": "data/samples.txt"}),
    Case("probe", "probe.elf", ("missing.txt", "data/words.txt", "data", "nowhere/x"), files=DATA),
]

BY_NAME = {c.name: c for c in CASES}
