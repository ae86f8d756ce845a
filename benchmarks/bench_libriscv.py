"""rvdist against libriscv's rvlinux on the same stock rv64gc static binaries.

    python benchmarks/bench_libriscv.py [--repeat 7] [--json]

The issue 14 target: rvdist runs stock-toolchain programs at least as fast
as libriscv's `rvlinux` (its interpreter; binary translation off). Both run
the very same ELF, one after the other in turn, --repeat times; each
figure is a median. Time is CPU time (user + system) of the run: for
rvdist, of this process around loading the program, building the machine
and running it to the end (Python's own start-up excluded); for rvlinux,
of its whole process (getrusage of children), which also loads the program.
The machine is shared and noisy: the load average is printed with the
figures. Ratio = rvlinux time / rvdist time (above 1: rvdist is faster).

Programs:
- nbody: tests/guests/linux/nbody.c (committed ELF), an FP kernel.
- fpmix: benchmarks/guests/fpmix.c (committed ELF): FP as ordinary C uses
  it (int/float conversions, compares, libm, single precision).
- coremark: EEMBC CoreMark, which may not be committed here. Build it
  outside the repo, once:

      git clone https://github.com/eembc/coremark /work/ext/coremark
      make -C /work/ext/coremark PORT_DIR=linux CC=riscv64-linux-gnu-gcc \\
           PORT_CFLAGS="-O2 -static" LFLAGS_END=-static compile

  and run with the 2K performance parameters (0x0 0x0 0x66 N 7 1 2000).

rvlinux: build libriscv's emulator outside the repo, interpreter only:

      git clone https://github.com/libriscv/libriscv /work/ext/libriscv
      cd /work/ext/libriscv/emulator && mkdir -p .build && cd .build && \\
      cmake .. -DCMAKE_BUILD_TYPE=Release -DRISCV_BINARY_TRANSLATION=OFF \\
            -DRISCV_LIBTCC=OFF -DRISCV_EXT_V=OFF -DRISCV_32I=OFF && make rvlinux

Paths can be given with RVDIST_RVLINUX and RVDIST_COREMARK. A program or
emulator that is not built is skipped with a message saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import rvdist

ROOT = Path(__file__).resolve().parent.parent
RVLINUX = Path(os.environ.get("RVDIST_RVLINUX", "/work/ext/libriscv/emulator/.build/rvlinux"))
COREMARK = Path(os.environ.get("RVDIST_COREMARK", "/work/ext/coremark/coremark.exe"))


def _rvdist_run(path: Path, args: list[str]) -> tuple[float, float, bytes, int]:
    """CPU and wall seconds of loading and running the program; its stdout and cycles."""
    c0, w0 = time.process_time(), time.perf_counter()
    m = rvdist.Machine(rvdist.Program.from_file(path), args=args, memory_size="64MiB")
    r = m.run()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    if r.state != "exited" or r.exit_code != 0:
        raise SystemExit(f"rvdist: {path.name} did not exit cleanly: {r}")
    return cpu, wall, m.stdout, m.cycles


def _rvlinux_run(path: Path, args: list[str]) -> tuple[float, float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    p = subprocess.run([str(RVLINUX), "-s", str(path), *args], capture_output=True)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(f"rvlinux: {path.name} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, p.stdout


def _same_result(name: str, ours: bytes, theirs: bytes) -> bool:
    """nbody prints the same energies; CoreMark the same checksums (its timing lines differ)."""
    if name == "coremark":
        pick = lambda out: [l for l in out.decode().splitlines() if "crc" in l or "Iterations  " in l]
        return pick(ours) == pick(theirs) and bool(pick(ours))
    return ours == theirs


def bench(name: str, path: Path, args: list[str], repeat: int) -> dict:
    ours_cpu, ours_wall, theirs_cpu, theirs_wall = [], [], [], []
    agree, cycles = True, 0
    for _ in range(repeat):
        c, w, out, cycles = _rvdist_run(path, args)
        ours_cpu.append(c)
        ours_wall.append(w)
        tc, tw, tout = _rvlinux_run(path, args)
        theirs_cpu.append(tc)
        theirs_wall.append(tw)
        agree &= _same_result(name, out, tout)
    med = statistics.median
    return {"name": name, "args": args, "instructions": cycles, "same_output": agree,
            "rvdist_cpu_s": med(ours_cpu), "rvlinux_cpu_s": med(theirs_cpu),
            "rvdist_wall_s": med(ours_wall), "rvlinux_wall_s": med(theirs_wall),
            "ratio_cpu": med(theirs_cpu) / med(ours_cpu), "ratio_wall": med(theirs_wall) / med(ours_wall),
            "rvdist_mips_cpu": cycles / med(ours_cpu) / 1e6,
            "rvdist_cpu_all": [round(x, 3) for x in ours_cpu],
            "rvlinux_cpu_all": [round(x, 3) for x in theirs_cpu]}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--nbody-steps", default="2000000")
    ap.add_argument("--fpmix-scale", default="8")
    ap.add_argument("--coremark-iterations", default="6000")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if not RVLINUX.is_file():
        print(f"skipped: libriscv's rvlinux is not built at {RVLINUX} (see this script's docstring, "
              f"or set RVDIST_RVLINUX)", file=sys.stderr)
        return 0
    runs = [("nbody", ROOT / "tests" / "guests" / "linux" / "nbody.elf", [a.nbody_steps]),
            ("fpmix", ROOT / "benchmarks" / "guests" / "fpmix.elf", [a.fpmix_scale])]
    if COREMARK.is_file():
        runs.append(("coremark", COREMARK, ["0x0", "0x0", "0x66", a.coremark_iterations, "7", "1", "2000"]))
    else:
        print(f"skipped coremark: not built at {COREMARK} (see this script's docstring, or set "
              f"RVDIST_COREMARK)", file=sys.stderr)
    results = []
    for name, path, args in runs:
        results.append(bench(name, path, args, a.repeat))
    load = os.getloadavg()
    if a.json:
        print(json.dumps({"load": load, "results": results}, indent=1))
        return 0
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; medians of {a.repeat} runs each")
    for r in results:
        print(f"{r['name']:<9} {r['instructions']:>13,} instr  rvdist {r['rvdist_cpu_s']:.3f} s "
              f"({r['rvdist_mips_cpu']:.0f} M instr/s)  rvlinux {r['rvlinux_cpu_s']:.3f} s  "
              f"ratio {r['ratio_cpu']:.2f}x cpu, {r['ratio_wall']:.2f}x wall  "
              f"same output: {'yes' if r['same_output'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
