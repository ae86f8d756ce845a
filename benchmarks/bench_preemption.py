"""Preemption figures named by issue 5, on a local Ray cluster (1 CPU per node).

    python benchmarks/bench_preemption.py [--period 30] [--work 150] [--drains 5] [--part all|batch|drain] [--json]

- goodput under a scripted preemption schedule: a batch of jobs runs on a
  head and two worker nodes while, every ``--period`` seconds, a worker
  node is preempted, alternately with a notice (a Ray drain with a 5 s
  deadline, then the node is killed) and without one (killed at once);
  a fresh node joins after each. Goodput is the guest cycles that count
  toward results over all guest cycles executed (work redone after a loss
  counts only once); the completion times are compared with the same batch
  run undisturbed (target: goodput at least 0.95 with one preemption every 30 s);
- drain time: jobs with 64 MiB guests (48 MiB of it written) on every slot;
  one node gets a drain notice, and the time from the notice until that
  node holds no job is measured (target: at most 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Optional

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402
from ray.core.generated import autoscaler_pb2  # noqa: E402

from rvdist.executor import Executor  # noqa: E402

GUESTS = Path(__file__).resolve().parent.parent / "tests" / "guests" / "c"
STORE = 256 << 20
PREEMPTION = autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION")


def start_cluster() -> Cluster:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": STORE,
        "_system_config": {"health_check_period_ms": 500, "health_check_timeout_ms": 500,
                           "health_check_failure_threshold": 3}})
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=STORE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    return cluster


def drain(node_id: str, deadline_s: float) -> None:
    gcs = ray._private.worker.global_worker.gcs_client
    accepted, why = gcs.drain_node(node_id, PREEMPTION, "benchmark preemption",
                                   int((time.time() + deadline_s) * 1000))
    if not accepted:
        raise SystemExit(f"Ray refused the drain: {why}")


def run_batch(cluster: Cluster, jobs: int, iters: int, period: Optional[float]) -> dict[str, Any]:
    """The batch, preempting a worker every ``period`` s (None: undisturbed)."""
    events = []
    with Executor(slice_cycles=10_000_000, watch_interval=0.1) as ex:
        t0 = time.monotonic()
        handles = [ex.submit(GUESTS / "intloop.elf", args=[str(iters)]) for _ in range(jobs)]
        next_at, notice = (t0 + period if period else None), True
        doomed: Optional[tuple[float, Any]] = None
        while not all(h.done() for h in handles):
            time.sleep(0.05)
            now = time.monotonic()
            if doomed and now >= doomed[0]:
                cluster.remove_node(doomed[1], allow_graceful=False)
                cluster.add_node(num_cpus=1, object_store_memory=STORE)
                doomed = None
            if next_at is not None and now >= next_at and doomed is None:
                node = cluster.worker_nodes and list(cluster.worker_nodes)[0]
                if notice:
                    drain(node.node_id, 5)
                    doomed = (now + 5, node)
                else:
                    cluster.remove_node(node, allow_graceful=False)
                    cluster.add_node(num_cpus=1, object_store_memory=STORE)
                events.append(("drain" if notice else "kill", round(now - t0, 1)))
                notice = not notice
                next_at = now + period
        results = [h.result() for h in handles]
        makespan = time.monotonic() - t0
        stats = ex.stats()
    ends = sorted(max(ev["time"] for ev in r.history) for r in results)
    starts = min(min(ev["time"] for ev in r.history) for r in results)
    useful = sum(r.cycles for r in results)
    if any(r.status != "done" or r.cycles != results[0].cycles for r in results):
        raise SystemExit("a job gave a wrong result")
    return {"makespan_s": makespan, "median_completion_s": statistics.median(e - starts for e in ends),
            "goodput": useful / (useful + stats["lost_cycles"]), "lost_cycles": stats["lost_cycles"],
            "preemptions": stats["preemptions"], "recoveries": stats["recoveries"],
            "events": events}


def drain_times(cluster: Cluster, rounds: int) -> list[float]:
    """Seconds from a drain notice until the node holds none of the 64 MiB jobs."""
    out = []
    for _ in range(rounds):
        with Executor(slice_cycles=10_000_000, watch_interval=0.05) as ex:
            slots = len(ex.nodes())
            jobs = [ex.submit(GUESTS / "memsort.elf", args=["48"], memory_size=64 << 20)
                    for _ in range(slots + 1)]
            # wait until every job has written its array (about 14 instructions a word)
            fill = 48 * (1 << 20) // 8 * 14
            while not all(j.progress()["cycles"] > fill for j in jobs):
                if any(j.done() for j in jobs):
                    raise SystemExit("a memsort job ended before the drain")
                time.sleep(0.01)
            victim = next(n for n in cluster.worker_nodes
                          if any(j.node == n.node_id for j in jobs))
            drain(victim.node_id, 30)
            while not ex.drains() or ex.drains()[0]["emptied_after"] is None:
                time.sleep(0.01)
            out.append(ex.drains()[0]["emptied_after"])
            for j in jobs:
                j.cancel()
        cluster.remove_node(victim, allow_graceful=False)
        cluster.add_node(num_cpus=1, object_store_memory=STORE)
        cluster.wait_for_nodes()
    return out


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--period", type=float, default=30.0, help="seconds between preemptions")
    ap.add_argument("--work", type=float, default=150.0,
                    help="about how many seconds the batch runs undisturbed")
    ap.add_argument("--drains", type=int, default=5, help="rounds of the drain-time measurement")
    ap.add_argument("--part", choices=("all", "batch", "drain"), default="all",
                    help="run only the preempted batch (with its undisturbed twin) or only the drain rounds")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)

    cluster = start_cluster()
    try:
        jobs = 12
        # intloop runs about 14.5 instructions an iteration; 2 cores give about 1.6 G/s
        iters = int(a.work * 1.6e9 / jobs / 14.5)
        base = run_batch(cluster, jobs, iters, None) if a.part != "drain" else None
        hit = run_batch(cluster, jobs, iters, a.period) if a.part != "drain" else None
        drains = drain_times(cluster, a.drains) if a.part != "batch" else None
    finally:
        ray.shutdown()
        cluster.shutdown()
    report: dict[str, Any] = {}
    if base is not None and hit is not None:
        report.update(undisturbed=base, preempted=hit,
                      completion_ratio=hit["makespan_s"] / base["makespan_s"])
    if drains:
        report["drain_to_empty_s"] = {"median": statistics.median(drains), "max": max(drains),
                                      "all": [round(d, 3) for d in drains]}
    if a.json:
        print(json.dumps(report, indent=2))
        return 0
    if base is not None and hit is not None:
        print_batch(report, base, hit, a.period)
    if drains:
        d = report["drain_to_empty_s"]
        print(f"drain notice to empty node, 64 MiB jobs: median {d['median']:.3f} s, max {d['max']:.3f} s "
              f"(all {d['all']})")
    return 0


def print_batch(report: dict[str, Any], base: dict[str, Any], hit: dict[str, Any], period: float) -> None:
    print(f"undisturbed: makespan {base['makespan_s']:.1f} s, median job completion "
          f"{base['median_completion_s']:.1f} s")
    print(f"one preemption every {period:.0f} s ({hit['events']}): makespan {hit['makespan_s']:.1f} s "
          f"({report['completion_ratio']:.3f}x), median job completion {hit['median_completion_s']:.1f} s, "
          f"goodput {hit['goodput']:.4f} ({hit['lost_cycles']:,} cycles redone, "
          f"{hit['preemptions']} preemptions, {hit['recoveries']} recoveries)")


if __name__ == "__main__":
    sys.exit(main())
