"""Executor figures named by issue 4, on a local 2-node Ray cluster (1 CPU each).

    python benchmarks/bench_executor.py [--repeat 5]

- per-slot throughput: intloop as one job in 10M-cycle slices, as a ratio to
  the same program in process (target at least 0.9);
- scaling: two such jobs at once on 2 slots, aggregate throughput as a ratio
  to one job alone (target at least 1.8);
- live migration between the two nodes with warm hosts, end to end (snapshot
  on the source, transfer, restore on the target), for a guest with 4 MiB of
  dirty memory (target median at most 25 ms) and a 64 MiB guest of which 10%
  is dirty (target at most 150 ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402
from rvdist.hosts import HostActor  # noqa: E402

GUESTS = Path(__file__).resolve().parent.parent / "tests" / "guests" / "c"
INTLOOP_ITERS = "100000000"     # 1.45e9 instructions: about 1.6 s, so start-up costs little


def in_process_gips() -> float:
    m = rvdist.Machine(GUESTS / "intloop.elf", args=[INTLOOP_ITERS])
    t = time.perf_counter()
    m.run()
    return m.cycles / (time.perf_counter() - t) / 1e9


def executor_gips(ex: Executor, jobs: int) -> float:
    t = time.perf_counter()
    handles = [ex.submit(GUESTS / "intloop.elf", args=[INTLOOP_ITERS]) for _ in range(jobs)]
    total = sum(h.result(timeout=600).cycles for h in handles)
    return total / (time.perf_counter() - t) / 1e9


def migration_ms(nodes: list[str], memory: int, sort_mib: str, repeat: int) -> float:
    """Median time of take-on-one-host + put-on-the-other, for a memsort job whose
    array (sort_mib) has been written, bouncing between two warm hosts."""
    hosts = [HostActor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False)).remote()
             for n in nodes[:2]]
    ray.get([h.warm_up.remote() for h in hosts])
    prog = rvdist.Program.from_file(GUESTS / "memsort.elf")
    ref = [ray.put((prog.data, prog.name))]
    # Run long enough that the whole array has been filled (about 12 instructions a word).
    budget = int(float(sort_mib.rstrip("k")) * (1024 if sort_mib.endswith("k") else 1 << 20) / 8 * 14)
    out = ray.get(hosts[0].run_slice.remote("job", budget, digest=prog.digest, program=ref,
                                            config={"args": [sort_mib], "memory_size": memory}))
    assert out["state"] == "budget", out
    times = []
    src, dst = 0, 1
    for i in range(repeat + 1):
        t = time.perf_counter()
        ray.get(hosts[dst].put.remote("job", prog.digest, ref, hosts[src].take.remote("job")))
        if i:
            times.append((time.perf_counter() - t) * 1e3)
        src, dst = dst, src
    for h in hosts:
        ray.kill(h)
    return statistics.median(times)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args(argv)

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                             "object_store_memory": 512 << 20})
    cluster.add_node(num_cpus=1, object_store_memory=512 << 20)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        m4 = migration_ms(nodes, 16 << 20, "4", a.repeat * 4)
        m64 = migration_ms(nodes, 64 << 20, "6400k", a.repeat * 2)
        with Executor(slice_cycles=10_000_000) as ex:
            executor_gips(ex, 1)    # warm the hosts
            ratio_slot, ratio_scale = [], []
            for _ in range(a.repeat):
                base = in_process_gips()
                one = executor_gips(ex, 1)
                two = executor_gips(ex, 2)
                ratio_slot.append(one / base)
                ratio_scale.append(two / one)
        print(f"per-slot throughput vs in-process: {statistics.median(ratio_slot):.3f} "
              f"(median of {a.repeat}; all {[round(x, 3) for x in ratio_slot]})")
        print(f"2 slots vs 1 slot: {statistics.median(ratio_scale):.3f} "
              f"(median of {a.repeat}; all {[round(x, 3) for x in ratio_scale]})")
        print(f"live migration, 4 MiB dirty: {m4:.1f} ms median; "
              f"64 MiB guest with 6.4 MiB dirty: {m64:.1f} ms median")
    finally:
        ray.shutdown()
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
