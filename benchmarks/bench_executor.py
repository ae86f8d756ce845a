"""Executor figures on one machine (issue 12), on the embedded local Ray that
``rvdist batch`` uses (``Executor()`` with no address), 10M-cycle slices.

    python benchmarks/bench_executor.py throughput [--repeat 3]
    python benchmarks/bench_executor.py batch [--repeat 3]
    python benchmarks/bench_executor.py rss
    python benchmarks/bench_executor.py contents
    python benchmarks/bench_executor.py beside [--repeat 3]
    python benchmarks/bench_executor.py many [--repeat 3]
    python benchmarks/bench_executor.py all

- ``throughput``: intloop (1.45e9 instructions a job) in process, then as
  1, 2 and 8 jobs at once on the machine's slots. Reports 1 job alone over
  in process (target >= 0.95), 8 jobs over 2 jobs (>= 0.95), 8 jobs over
  one in-process run (>= 1.75), and the driver process's CPU time over the
  guests' CPU time while the 8 jobs run (<= 1%). Guest CPU time is the
  cycles run over the in-process speed measured beside it.
- ``batch``: ``rvdist batch`` of 16 intloop jobs of 1.5e9 instructions,
  against total instructions / (2 x in-process speed) plus the start-up and
  shutdown of the same command with one trivial job (target <= 1.15x).
- ``rss``: the driver's peak RSS while 32 jobs with 64 MiB guests (memsort
  of 48 MiB, so 48 MiB written) run with a checkpoint every 1e9 cycles
  (about a second of guest time) (target <= 400 MiB); also the bytes of
  reports the driver received and the bytes the keeper stored.
- ``contents``: 96 short jobs, each declaring an 8 MiB input of its own
  (768 MiB in all), then the node agents' private RSS (a node keeps its jobs'
  inputs, and at most 256 MiB of inputs no job there uses any more) and
  the contents the driver still holds in Ray's object store (none).
- ``many``: ``rvdist batch`` of 20,000 short jobs (primes up to 100 to
  20,099, about 0.2 ms of guest work each), so that what each job costs
  the driver, the agent and the store, not the guest, sets the time: wall
  time and jobs per second.
- ``beside``: 4 intloop jobs of 2.9e8 instructions on the embedded Ray while
  one busy process per core runs beside it at normal priority, against one
  in-process run beside the same load. Ray starts its workers at niceness
  15 unless told otherwise; rvdist's private Ray runs them at 0 (set
  ``RAY_worker_niceness=15`` to see Ray's default).

Each figure is a median over ``--repeat`` runs; in-process runs sit beside
the runs they are compared with. Note the machine's load (``uptime``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402

GUESTS = Path(__file__).resolve().parent.parent / "tests" / "guests" / "c"
INTLOOP_ITERS = "100000000"     # 1.45e9 instructions
BATCH_ITERS = "103448276"       # 1.5e9 instructions


def in_process_ips(iters: str = INTLOOP_ITERS) -> float:
    m = rvdist.Machine(GUESTS / "intloop.elf", args=[iters])
    t = time.perf_counter()
    m.run()
    return m.cycles / (time.perf_counter() - t)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def executor_run(ex: Executor, jobs: int) -> tuple[float, float, int]:
    """Aggregate instructions/s of ``jobs`` intloop jobs at once, the driver's
    CPU seconds meanwhile, and the cycles run."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    handles = [ex.submit(GUESTS / "intloop.elf", args=[INTLOOP_ITERS]) for _ in range(jobs)]
    total = sum(h.result(timeout=900).cycles for h in handles)
    wall = time.perf_counter() - t0
    return total / wall, cpu_seconds() - c0, total


def throughput(repeat: int) -> dict[str, Any]:
    rows = []
    with Executor(slice_cycles=10_000_000) as ex:
        slots = ex.slots()
        executor_run(ex, 1)     # warm the agent
        for _ in range(repeat):
            base = in_process_ips()
            one, _, _ = executor_run(ex, 1)
            two, _, _ = executor_run(ex, slots)
            eight, cpu, cycles = executor_run(ex, 4 * slots)
            base2 = in_process_ips()
            speed = (base + base2) / 2
            rows.append({"in_process": speed, "one": one, "two": two, "eight": eight,
                         "driver_cpu_share": cpu / (cycles / speed)})
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    return {"slots": slots, "runs": rows,
            "one_vs_in_process": statistics.median(r["one"] / r["in_process"] for r in rows),
            "eight_vs_two": statistics.median(r["eight"] / r["two"] for r in rows),
            "eight_vs_in_process": statistics.median(r["eight"] / r["in_process"] for r in rows),
            "driver_cpu_share": med["driver_cpu_share"], "median_ips": med}


def _batch(entries: list[dict[str, Any]], tmp: Path) -> float:
    """Seconds an ``rvdist batch`` of ``entries`` (manifest lines) takes, start to exit."""
    manifest = tmp / f"m{len(entries)}.jsonl"
    manifest.write_text("".join(json.dumps(e) + "\n" for e in entries))
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "rvdist.cli", "batch", str(manifest), "--quiet",
                          "--out", str(tmp / "out.jsonl")], capture_output=True, timeout=3600)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"rvdist batch failed: {out.stderr.decode()[-2000:]}")
    return wall


def _intloops(entries: int, iters: str) -> list[dict[str, Any]]:
    return [{"program": str(GUESTS / "intloop.elf"), "args": [iters]}] * entries


def batch(repeat: int) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for _ in range(repeat):
            startup = _batch(_intloops(1, "10"), tmp)
            speed = in_process_ips(BATCH_ITERS)
            wall = _batch(_intloops(16, BATCH_ITERS), tmp)
            speed = (speed + in_process_ips(BATCH_ITERS)) / 2
            ideal = 16 * 1.5e9 / (2 * speed)
            rows.append({"wall_s": wall, "startup_s": startup, "ideal_s": ideal,
                         "ratio": (wall - startup) / ideal})
    return {"runs": rows, "ratio": statistics.median(r["ratio"] for r in rows),
            "wall_s": statistics.median(r["wall_s"] for r in rows)}


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss() -> dict[str, Any]:
    import ray
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.05)

    with Executor(slice_cycles=10_000_000, checkpoint_cycles=1_000_000_000) as ex:
        before = _rss_mib()
        threading.Thread(target=sample, daemon=True).start()
        t0 = time.perf_counter()
        jobs = [ex.submit(GUESTS / "memsort.elf", args=["48"], memory_size="64MiB")
                for _ in range(32)]
        results = [j.result(timeout=3600) for j in jobs]
        wall = time.perf_counter() - t0
        stop.set()
        keeper = ex.store_stats() or {}
        stats = ex.stats()
    if any(r.status != "done" or r.exit_code != 0 for r in results):
        raise SystemExit("a memsort job failed")
    return {"peak_rss_mib": peak[0], "rss_before_mib": before, "wall_s": wall,
            "checkpoints": stats["checkpoints"], "report_bytes": stats["report_bytes"],
            "keeper_bytes_written": keeper.get("bytes_written")}


def many(repeat: int, jobs: int = 20_000) -> dict[str, Any]:
    entries = [{"program": str(GUESTS / "primes.elf"), "args": [str(100 + i)]}
               for i in range(jobs)]
    with tempfile.TemporaryDirectory() as d:
        rows = [_batch(entries, Path(d)) for _ in range(repeat)]
    return {"jobs": jobs, "walls": rows, "wall_s": statistics.median(rows)}


def _agents_rss_mib() -> list[float]:
    """The private RSS (RssAnon: not the object store's shared pages it has
    mapped) of each rvdist node agent process on this machine."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"NodeAgent" not in f.read():
                    continue
            with open(f"/proc/{pid}/status") as f:
                out += [int(line.split()[1]) / 1024 for line in f if line.startswith("RssAnon:")]
        except OSError:
            continue
    return out


def contents(jobs: int = 96, size: int = 8 << 20) -> dict[str, Any]:
    with Executor(slice_cycles=10_000_000) as ex:
        before = _agents_rss_mib()
        handles = [ex.submit(GUESTS / "intloop.elf", args=["1000"],
                             files={"/data/input.bin": bytes([i]) * size}) for i in range(jobs)]
        results = [h.result(timeout=900) for h in handles]
        time.sleep(1)
        after = _agents_rss_mib()
        stats = ex.stats()
    if any(r.status != "done" for r in results):
        raise SystemExit("a job failed")
    return {"jobs": jobs, "input_mib": size / 2**20, "agents_rss_before_mib": before,
            "agents_rss_after_mib": after, "contents_held": stats.get("contents_held")}


def beside(repeat: int) -> dict[str, Any]:
    import multiprocessing

    def spin() -> None:
        while True:
            pass

    busy = [multiprocessing.Process(target=spin, daemon=True) for _ in range(os.cpu_count() or 1)]
    rows = []
    try:
        with Executor(slice_cycles=10_000_000) as ex:
            ex.submit(GUESTS / "intloop.elf", args=["1000"]).result(timeout=120)
            for p in busy:
                p.start()
            for _ in range(repeat):
                t = time.perf_counter()
                jobs = [ex.submit(GUESTS / "intloop.elf", args=["20000000"]) for _ in range(4)]
                cycles = sum(j.result(timeout=1800).cycles for j in jobs)
                rows.append({"executor": cycles / (time.perf_counter() - t),
                             "in_process": in_process_ips("20000000")})
    finally:
        for p in busy:
            p.kill()
    return {"niceness": os.environ.get("RAY_worker_niceness", "rvdist's 0"), "runs": rows,
            "executor": statistics.median(r["executor"] for r in rows),
            "in_process": statistics.median(r["in_process"] for r in rows)}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["throughput", "batch", "rss", "contents", "beside", "many",
                                       "all"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    report: dict[str, Any] = {"load": os.getloadavg()}
    if a.what in ("throughput", "all"):
        report["throughput"] = throughput(a.repeat)
    if a.what in ("batch", "all"):
        report["batch"] = batch(a.repeat)
    if a.what in ("rss", "all"):
        report["rss"] = rss()
    if a.what in ("contents", "all"):
        report["contents"] = contents()
    if a.what == "beside":
        report["beside"] = beside(a.repeat)
    if a.what == "many":
        report["many"] = many(a.repeat)
    report["load_after"] = os.getloadavg()
    if a.json:
        print(json.dumps(report))
        return 0
    if "throughput" in report:
        t = report["throughput"]
        print(f"1 job alone vs in process: {t['one_vs_in_process']:.3f} (target >= 0.95)")
        print(f"{4 * t['slots']} jobs vs {t['slots']} jobs on {t['slots']} slots: "
              f"{t['eight_vs_two']:.3f} (target >= 0.95)")
        print(f"{4 * t['slots']} jobs vs one in-process run: {t['eight_vs_in_process']:.3f} "
              f"(target >= 1.75)")
        print(f"driver CPU / guest CPU with {4 * t['slots']} jobs: "
              f"{100 * t['driver_cpu_share']:.2f} % (target <= 1 %)")
        print(f"  medians of {len(t['runs'])} runs, M instr/s: "
              + ", ".join(f"{k} {v / 1e6:.0f}" for k, v in t["median_ips"].items()
                          if k != "driver_cpu_share"))
    if "batch" in report:
        b = report["batch"]
        print(f"rvdist batch, 16 x 1.5e9: (wall - start-up) / ideal = {b['ratio']:.3f} "
              f"(target <= 1.15); runs " + ", ".join(
                  f"{r['wall_s']:.1f} s - {r['startup_s']:.1f} s vs {r['ideal_s']:.1f} s"
                  for r in b["runs"]))
    if "rss" in report:
        r = report["rss"]
        print(f"driver peak RSS, 32 x 64 MiB guests, checkpoint every 1e9 cycles: "
              f"{r['peak_rss_mib']:.0f} MiB (target <= 400; {r['rss_before_mib']:.0f} MiB before "
              f"submitting); {r['checkpoints']} checkpoints, keeper stored "
              f"{(r['keeper_bytes_written'] or 0) / 2**20:.0f} MiB, driver received "
              f"{r['report_bytes'] / 2**10:.0f} KiB of reports; {r['wall_s']:.0f} s")
    if "contents" in report:
        c = report["contents"]
        print(f"{c['jobs']} jobs with an own {c['input_mib']:.0f} MiB input each: node agents' private RSS "
              f"{', '.join(f'{v:.0f}' for v in c['agents_rss_before_mib'])} MiB before, "
              f"{', '.join(f'{v:.0f}' for v in c['agents_rss_after_mib'])} MiB after; contents "
              f"the driver still holds in the object store: {c['contents_held']}")
    if "many" in report:
        m = report["many"]
        print(f"rvdist batch of {m['jobs']:,} short jobs: {m['wall_s']:.1f} s "
              f"({m['jobs'] / m['wall_s']:,.0f} jobs/s; runs "
              + ", ".join(f"{w:.1f}" for w in m["walls"]) + " s)")
    if "beside" in report:
        b = report["beside"]
        print(f"4 jobs beside {os.cpu_count()} busy processes, worker niceness {b['niceness']}: "
              f"{b['executor'] / 1e6:.0f} M instr/s; one in-process run beside them: "
              f"{b['in_process'] / 1e6:.0f} M instr/s (medians of {len(b['runs'])})")
    print(f"load average before {report['load']}, after {report['load_after']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
