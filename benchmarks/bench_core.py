"""Interpreter speed: the figures issue 2 names.

    python benchmarks/bench_core.py [--repeat 5] [--json]

- intloop: integer-heavy mixing loop (tests/guests/c/intloop.c), guest
  instructions per second with the "unit" cost model (cycles == instructions).
- memsort: quicksort over 8 MiB of uint64 in a 32 MiB guest (memsort.c).
- nbody: the five-body simulation in doubles (tests/guests/c/nbody.c, rv64gc
  hard-float): F/D add, mul, div and sqrt on the host-FPU fast path.
- slices: intloop driven from Python in 10k-cycle slices, as a ratio to one
  uninterrupted run (the issue allows at most 5% overhead).

Each figure is the median over --repeat runs. Times are CPU time of this
process (time.process_time), which is steadier than wall time on a shared
2-core machine; wall-clock medians are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import rvdist

GUESTS = Path(__file__).resolve().parent.parent / "tests" / "guests" / "c"


def _timed(fn: Callable[[], int]) -> tuple[float, float, int]:
    w0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    return time.process_time() - c0, time.perf_counter() - w0, n


def run_whole(program: rvdist.Program, args: list[str], memory: int, slice_cycles: Optional[int]):
    def go() -> int:
        m = rvdist.Machine(program, args=args, memory_size=memory)
        if slice_cycles is None:
            r = m.run()
        else:
            run = m.run
            while not (r := run(slice_cycles)).done:
                pass
        if r.state != "exited" or r.exit_code != 0:
            raise SystemExit(f"{program.name} did not exit cleanly: {r}")
        return m.cycles
    return go


def measure(name: str, fn: Callable[[], int], repeat: int) -> dict:
    cpu, wall, instr = [], [], 0
    for _ in range(repeat):
        c, w, instr = _timed(fn)
        cpu.append(instr / c)
        wall.append(instr / w)
    return {"name": name, "instructions": instr,
            "gips_cpu_median": statistics.median(cpu) / 1e9,
            "gips_wall_median": statistics.median(wall) / 1e9,
            "gips_cpu_all": [round(x / 1e9, 3) for x in cpu]}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--intloop-iters", default="100000000")
    ap.add_argument("--memsort-mib", default="8")
    ap.add_argument("--nbody-steps", default="3000000")
    ap.add_argument("--slice-pairs", type=int, default=21)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    intloop = rvdist.Program.from_file(GUESTS / "intloop.elf")
    memsort = rvdist.Program.from_file(GUESTS / "memsort.elf")
    nbody = rvdist.Program.from_file(GUESTS / "nbody.elf")
    results = [
        measure("intloop", run_whole(intloop, [a.intloop_iters], 4 << 20, None), a.repeat),
        measure("memsort", run_whole(memsort, [a.memsort_mib], 32 << 20, None), a.repeat),
        measure("nbody", run_whole(nbody, [a.nbody_steps], 4 << 20, None), a.repeat),
    ]
    # Interleave whole and sliced runs so drift on a noisy machine hits both
    # alike; shorter runs and more pairs make the median of a ~5% effect steady.
    whole, sliced = [], []
    for _ in range(a.slice_pairs):
        c, _, n = _timed(run_whole(intloop, ["20000000"], 4 << 20, None))
        whole.append(n / c)
        c, _, n = _timed(run_whole(intloop, ["20000000"], 4 << 20, 10_000))
        sliced.append(n / c)
    ratio = statistics.median(s / w for s, w in zip(sliced, whole))
    results.append({"name": "slices_10k", "pairs": a.slice_pairs, "sliced_over_whole_median": ratio,
                    "overhead_percent": (1 / ratio - 1) * 100})

    if a.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "gips_cpu_median" in r:
                print(f"{r['name']:<10} {r['gips_cpu_median']:.3f} G instr/s (CPU time median; "
                      f"wall {r['gips_wall_median']:.3f}) over {a.repeat} runs of "
                      f"{r['instructions']:,} instructions; all: {r['gips_cpu_all']}")
            else:
                print(f"{r['name']:<10} sliced/whole throughput {r['sliced_over_whole_median']:.3f} "
                      f"(overhead {r['overhead_percent']:.1f}%) median of {r['pairs']} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
