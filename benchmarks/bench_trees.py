"""Side by side: the same guests under two or more builds of rvdist.

    python benchmarks/bench_trees.py /work/base /work/wt-mine [--repeat 9]
    python benchmarks/bench_trees.py OLD NEW --program nbody

Each TREE is a directory with a built rvdist package (what PYTHONPATH would
name). Every run is a fresh Python process with PYTHONPATH=TREE that loads
the program, builds the machine and runs it to the end; the figure is the
CPU time of that (process_time, Python's start-up excluded). Runs go round
the trees in turn, --repeat times, so that the machine's drift hits every
tree alike; medians are printed with each tree's ratio to the first (above
1: faster than the first). The guests are this checkout's ELFs, the same for
every tree.

Programs (default: intloop and memsort, the integer figures of
bench_core.py, at its sizes):
- intloop, memsort: tests/guests/c, freestanding integer code;
- nbody: tests/guests/linux/nbody.elf, 1M steps;
- fpmix: benchmarks/guests/fpmix.elf, scale 4.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "tests" / "guests"

# name: (ELF, arguments, guest memory)
PROGRAMS = {
    "intloop": (GUESTS / "c" / "intloop.elf", ["100000000"], "4MiB"),
    "memsort": (GUESTS / "c" / "memsort.elf", ["8"], "32MiB"),
    "nbody": (GUESTS / "linux" / "nbody.elf", ["1000000"], "64MiB"),
    "fpmix": (ROOT / "benchmarks" / "guests" / "fpmix.elf", ["4"], "64MiB"),
}

# Run in the child: prints CPU seconds and cycles of one run.
CHILD = r"""
import sys, time
import rvdist
program = rvdist.Program.from_file(sys.argv[1])
c0 = time.process_time()
m = rvdist.Machine(program, args=sys.argv[3:], memory_size=sys.argv[2])
r = m.run()
cpu = time.process_time() - c0
if r.state != "exited" or r.exit_code != 0:
    raise SystemExit(f"did not exit cleanly: {r}")
print(cpu, m.cycles, rvdist.__file__)
"""


def run_once(tree: str, elf: Path, args: list[str], memory: str) -> tuple[float, int]:
    """CPU seconds and cycles of one run of elf under the rvdist in tree."""
    env = {**os.environ, "PYTHONPATH": tree}
    # -P: without it, `python -c` puts the working directory ahead of
    # PYTHONPATH, and a checkout run from would shadow every tree.
    out = subprocess.run([sys.executable, "-P", "-c", CHILD, str(elf), memory, *args], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{tree}: {elf.name}: {out.stderr.strip()[-500:]}")
    cpu, cycles, module = out.stdout.split()
    if not Path(module).resolve().is_relative_to(Path(tree).resolve()):
        raise SystemExit(f"{tree}: imported rvdist from {module}, not from the tree")
    return float(cpu), int(cycles)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", help="directories holding a built rvdist package")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--program", action="append", choices=sorted(PROGRAMS),
                    help="repeatable; default intloop and memsort")
    a = ap.parse_args(argv)
    if len(a.trees) < 2:
        ap.error("name at least two trees")
    for tree in a.trees:
        if not (Path(tree) / "rvdist").is_dir():
            ap.error(f"{tree} holds no rvdist package")
    names = a.program or ["intloop", "memsort"]
    print(f"load average at start {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"medians of {a.repeat} runs, trees in turn")
    for name in names:
        elf, args, memory = PROGRAMS[name]
        times: dict[str, list[float]] = {t: [] for t in a.trees}
        cycles = {}
        for _ in range(a.repeat):
            for tree in a.trees:
                cpu, cycles[tree] = run_once(tree, elf, args, memory)
                times[tree].append(cpu)
        first = statistics.median(times[a.trees[0]])
        for tree in a.trees:
            med = statistics.median(times[tree])
            print(f"{name:<8} {tree:<34} {med:.3f} s  {first / med:.3f}x  "
                  f"({cycles[tree]:,} cycles; all {[round(t, 3) for t in times[tree]]})")
    print(f"load average at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
