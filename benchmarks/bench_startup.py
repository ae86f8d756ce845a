"""Start-up of ``rvdist run``: on the embedded Ray versus ``--local``.

Runs a short program (``hello.elf``, a few hundred cycles) as a user would,
``python -m rvdist.cli run [--local] hello.elf``, from a neutral working
directory, and reports the median wall time of each mode: until the
program's output arrived, and until the command exited. Give several
source trees (each built in place) to compare them side by side: the runs
alternate between trees and modes, so that the machine's load falls on all
of them alike::

    python benchmarks/bench_startup.py --runs 7 /work/base .

Prints one line per tree and mode, plus ``uptime``'s load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def once(tree: Path, local: bool, cwd: str) -> tuple[float, float]:
    """Seconds until the program's output arrived, and until the command exited."""
    env = dict(os.environ, PYTHONPATH=str(tree), RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "rvdist.cli", "run", *(["--local"] if local else []),
           str(tree / "tests/guests/c/hello.elf"), "x"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    output = time.perf_counter() - t0
    rest = proc.stdout.read()
    proc.wait(timeout=300)
    took = time.perf_counter() - t0
    if first + rest != b"hello from rvdist\nx\n":
        raise SystemExit(f"{tree}: unexpected output {first + rest!r}")
    return output, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trees", nargs="+", type=Path, help="rvdist source trees, built in place")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    trees = [t.resolve() for t in args.trees]
    times: dict[tuple[Path, bool], list[tuple[float, float]]] = \
        {(t, m): [] for t in trees for m in (False, True)}
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(args.runs):
            for key in times:
                times[key].append(once(key[0], key[1], cwd))
    for (tree, local), runs in times.items():
        out, ends = [r[0] for r in runs], [r[1] for r in runs]
        print(f"{str(tree):<32} {'--local' if local else 'embedded Ray':<13} "
              f"output after {statistics.median(out):5.2f} s, exit after "
              f"{statistics.median(ends):5.2f} s (medians of {len(runs)} runs; exit min "
              f"{min(ends):.2f}, max {max(ends):.2f})")
    print("load:", os.getloadavg())


if __name__ == "__main__":
    main()
