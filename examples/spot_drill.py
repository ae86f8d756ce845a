"""A spot-instance drill on a local multi-node Ray: notice, loss, new node.

Starts a Ray cluster of three one-CPU nodes on this machine
(``ray.cluster_utils.Cluster``, the same processes as a real cluster) and
runs 12 image bands (examples/guests/mandel.elf) with a checkpoint every
50M cycles. While they run:

1. one worker gets a preemption notice (``Executor.preempt_node``, what a
   spot node's SIGTERM or Ray's drain does): its jobs are checkpointed and
   move on, and the node is empty within about a second;
2. the other worker is killed without notice: its jobs resume on the
   remaining nodes from their last checkpoints;
3. a fresh node joins and takes work.

Every job must end exactly once, with the bytes, stdout and cycle count of
a run in this process that nothing interrupted.

    python examples/spot_drill.py
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

import rvdist  # noqa: E402

MANDEL = Path(__file__).resolve().parent / "guests" / "mandel.elf"
BANDS = 12


def band_args(i: int) -> list[str]:
    rows = 600 // BANDS
    return ["960", "600", "4000", str(i * rows), str((i + 1) * rows)]


def wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    # Ray prints a killed node's last log lines to stdout: send them to stderr.
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        stats, fresh, results = drill(out)
    print(f"{len(results)} jobs: {stats['migrations']} migrations, {stats['recoveries']} "
          f"recoveries from checkpoints, {stats['lost_cycles']:,} cycles run again; "
          f"{sum(fresh.node_id in r.nodes for r in results)} ran on the new node")
    wrong = []
    for i, r in enumerate(results):
        m = rvdist.Machine(MANDEL, args=band_args(i), memory_size="32MiB")
        m.run()
        if (r.status, r.stdout, r.files, r.cycles) != ("done", m.stdout, m.files(), m.cycles):
            wrong.append(r.name)
    print("every job ended once, identical to an uninterrupted run" if not wrong
          else f"DIFFERENT from an uninterrupted run: {', '.join(wrong)}")
    if wrong:
        raise SystemExit(1)


def drill(out: TextIO) -> tuple[dict, Any, list[rvdist.JobResult]]:
    """Run the jobs through the three events; progress lines go to ``out``."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    spot, doomed = cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        with rvdist.Executor(slice_cycles=5_000_000, checkpoint_cycles=50_000_000) as ex:
            wait_until(lambda: len(ex.nodes()) == 3, 60, "an agent on every node")
            jobs = [ex.submit(MANDEL, args=band_args(i), name=f"band{i:02d}", memory_size="32MiB")
                    for i in range(BANDS)]
            on = lambda node: [j for j in jobs if j.node == node.node_id]  # noqa: E731
            wait_until(lambda: on(spot) and on(doomed) and all(
                j.progress()["checkpoint_cycles"] for j in on(doomed)), 120,
                "checkpointed jobs on both workers")

            took = ex.preempt_node(spot.node_id, deadline_s=10)
            print(f"1. notice to {spot.node_id[:8]}: empty after {took:.2f} s", file=out)

            cluster.remove_node(doomed, allow_graceful=False)
            print(f"2. killed {doomed.node_id[:8]} without notice", file=out)

            fresh = cluster.add_node(num_cpus=1)
            wait_until(lambda: fresh.node_id in ex.nodes(), 60, "the new node's agent")
            print(f"3. {fresh.node_id[:8]} joined", file=out)

            results = [j.result(timeout=1800) for j in jobs]
            stats = ex.stats()
    finally:
        ray.shutdown()
        cluster.shutdown()

    return stats, fresh, results


if __name__ == "__main__":
    main()
