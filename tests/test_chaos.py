"""Chaos: many jobs while nodes are drained, killed and added at random.

Slow (its own bounded step in .ci/run): ``pytest -m chaos``.
``RVDIST_CHAOS_SEED`` picks the schedule, ``RVDIST_CHAOS_JOBS`` the number of jobs.
Only nodes this test adds are disturbed; the session's head and nodes stay.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402
from support.cluster import OBJECT_STORE  # noqa: E402

GUESTS = Path(__file__).resolve().parent / "guests"

pytestmark = [pytest.mark.slow, pytest.mark.chaos]


def workload(rng: random.Random, n: int) -> list[dict]:
    """Jobs of different kinds and lengths (from a few ms to a few seconds of guest time)."""
    kinds = [
        lambda: {"program": "c/intloop.elf", "args": [str(rng.randrange(2_000_000, 80_000_000))]},
        lambda: {"program": "c/memsort.elf", "args": [rng.choice(["64k", "1", "2"])],
                 "memory_size": 8 << 20},
        lambda: {"program": "c/primes.elf", "args": [str(rng.randrange(10_000, 400_000))]},
        lambda: {"program": "c/lrsc_counter.elf", "args": [str(rng.randrange(10_000, 300_000))]},
        lambda: {"program": "c/rewrite_pages.elf", "args": []},
        lambda: {"program": "c/brkgrow.elf", "args": []},
        lambda: {"program": "c/upper.elf", "args": [], "stdin": rng.randbytes(3000)},
    ]
    return [rng.choice(kinds)() for _ in range(n)]


def uninterrupted(spec: dict) -> rvdist.Machine:
    m = rvdist.Machine(GUESTS / spec["program"], args=spec["args"], stdin=spec.get("stdin", b""),
                       memory_size=spec.get("memory_size", 4 << 20))
    m.run()
    return m


def test_every_job_yields_one_correct_result_through_chaos(cluster):
    from ray.core.generated import autoscaler_pb2

    seed = int(os.environ.get("RVDIST_CHAOS_SEED", "7"))
    rng = random.Random(seed)
    specs = workload(rng, int(os.environ.get("RVDIST_CHAOS_JOBS", "36")))
    extra = [cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE) for _ in range(2)]
    cluster.wait_for_nodes()
    gcs = ray._private.worker.global_worker.gcs_client
    preempt = autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION")
    doomed: list[tuple[float, object]] = []     # drained nodes and when their deadline passes
    actions: list[str] = []
    first = ["drain", "kill", "add"]
    rng.shuffle(first)
    try:
        with Executor(slice_cycles=1_000_000, checkpoint_cycles=5_000_000,
                      watch_interval=0.1) as ex:
            jobs = [ex.submit(GUESTS / s["program"], args=s["args"], stdin=s.get("stdin", b""),
                              memory_size=s.get("memory_size", 4 << 20), name=f"j{i}")
                    for i, s in enumerate(specs)]
            deadline = time.monotonic() + 600
            while not all(j.done() for j in jobs):
                assert time.monotonic() < deadline, "the chaos run did not finish in 600 s"
                time.sleep(rng.uniform(0.3, 1.2))
                now = time.monotonic()
                for when, node in [d for d in doomed if d[0] <= now]:
                    doomed.remove((when, node))
                    cluster.remove_node(node, allow_graceful=False)     # the deadline passed
                live = [n for n in extra if n in cluster.worker_nodes and
                        all(node is not n for _, node in doomed)]
                # disturb a node that holds work, when there is one
                holding = {j.node for j in jobs if not j.done()}
                live = [n for n in live if n.node_id in holding] or live
                # every kind of disturbance early on, then at random
                action = first.pop() if first else rng.choice(["drain", "kill", "add"])
                if action != "add" and not live:
                    first.append(action)
                    action = "add"
                if action == "add":
                    extra.append(cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE))
                    actions.append("add")
                elif action == "drain":
                    node = rng.choice(live)
                    accepted, _ = gcs.drain_node(node.node_id, preempt, "chaos",
                                                 int((time.time() + 2) * 1000))
                    if accepted:
                        doomed.append((now + 2, node))
                        actions.append("drain")
                else:
                    cluster.remove_node(rng.choice(live), allow_graceful=False)
                    actions.append("kill")
            results = [j.result(timeout=60) for j in jobs]
            stats = ex.stats()
    finally:
        for node in extra:
            if node in cluster.worker_nodes:
                cluster.remove_node(node, allow_graceful=False)

    assert {"drain", "kill"} <= set(actions), f"the schedule disturbed too little: {actions}"
    assert len({r.job_id for r in results}) == len(specs)
    for spec, r in zip(specs, results):
        m = uninterrupted(spec)
        assert (r.status, r.exit_code, r.stdout, r.stderr, r.cycles) == \
            ("done", m.exit_code, m.stdout, m.stderr, m.cycles), (spec, r.history[-5:])
        assert r.count("finish") == 1
    useful = sum(r.cycles for r in results)
    goodput = useful / (useful + stats["lost_cycles"])
    print(f"chaos seed {seed}: {len(specs)} jobs, actions {actions}, "
          f"{stats['recoveries']} recoveries, {stats['preemptions']} preemptions, "
          f"{stats['migrations']} migrations, goodput {goodput:.3f}")
    assert stats["recoveries"] + stats["preemptions"] >= 1
