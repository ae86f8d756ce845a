"""The scale-out executor on a real local Ray (head and 2 nodes, 1 CPU each):
node-local slicing with more jobs than slots, priority across nodes, node
loss during local slicing, and checkpoints that stay out of the driver."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402
from support.cluster import OBJECT_STORE, wait_for  # noqa: E402
from support.guests import GUESTS, reference  # noqa: E402


def test_many_more_jobs_than_slots_all_correct_with_fair_turns(cluster):
    # Jobs long enough (about 0.6 s each) that the few milliseconds between
    # two submits, which under load can reach tens of slices, stay small
    # against a node's turn of four jobs.
    m = reference("c/intloop.elf", ["30000000"])
    with Executor(slice_cycles=2_000_000) as ex:
        slots = ex.slots()
        jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["30000000"], name=f"j{i}")
                for i in range(4 * slots)]
        wait_for(lambda: any(j.done() for j in jobs), 300, "a first job to finish")
        at_first_end = {j.id: j.progress()["cycles"] for j in jobs}
        first = next(j for j in jobs if j.done())
        results = [j.result(timeout=300) for j in jobs]
    assert all((r.status, r.exit_code, r.stdout, r.cycles) == ("done", 0, m.stdout, m.cycles)
               for r in results)
    # the jobs sharing a node take turns slice by slice: when the first one
    # ends, the others there have done most of their work too (reports lag a
    # little). Nodes share this machine's cores unevenly, so only jobs of one
    # node are compared; placement spreads jobs evenly over the nodes.
    home = first.result().nodes
    mates = [r.job_id for r in results if r.nodes == home]
    assert len(mates) == 4 and min(at_first_end[j] for j in mates) >= 0.5 * m.cycles, \
        (home, at_first_end)
    assert sorted(sum(1 for r in results if r.nodes[0] == n) for n in {r.nodes[0] for r in results}) \
        == [4] * slots
    assert len({n for r in results for n in r.nodes}) == slots, "every node took work"
    assert all(r.count("start") == 1 and r.slices >= m.cycles // 2_000_000 for r in results)


def test_a_high_priority_job_into_a_full_cluster_starts_at_the_next_slice(cluster):
    slice_cycles = 5_000_000
    with Executor(slice_cycles=slice_cycles) as ex:
        slots = ex.slots()
        low = [ex.submit(GUESTS / "faults/infinite_loop.elf", name=f"low{i}")
               for i in range(2 * slots)]
        wait_for(lambda: all(j.progress()["slices"] >= 1 for j in low), 120, "the low jobs to run")
        high = ex.submit(GUESTS / "c/primes.elf", args=["20000"], priority=9, name="high")
        hr = high.result(timeout=120)
        assert all(not j.done() for j in low)
        for j in low:
            j.cancel()
        lows = [j.result(timeout=60) for j in low]
    assert hr.status == "done" and hr.stdout == reference("c/primes.elf", ["20000"]).stdout
    start = next(ev for ev in hr.history if ev["event"] == "start")
    # placed at once; on its node (1 slot) at most the slice then running ended first
    assert start["waited_slices"] <= 1, start
    preempted = [ev for r in lows for ev in r.history if ev["event"] == "preempt"]
    assert preempted and all(ev["by"] == "high" and ev["node"] == start["node"]
                             for ev in preempted), preempted
    assert all(r.status == "cancelled" for r in lows)


def test_a_node_killed_during_local_slicing_loses_at_most_a_checkpoint_interval(cluster):
    slice_cycles, checkpoint = 2_000_000, 20_000_000
    node = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    try:
        with Executor(slice_cycles=slice_cycles, checkpoint_cycles=checkpoint) as ex:
            jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["25000000"]) for _ in range(8)]
            here = lambda: [j for j in jobs if j.node == node.node_id]   # noqa: E731
            wait_for(lambda: len(here()) >= 2 and all(
                j.progress()["checkpoint_cycles"] for j in here()), 120,
                "checkpointed jobs sharing the extra node")
            cluster.remove_node(node, allow_graceful=False)
            results = [j.result(timeout=300) for j in jobs]
    finally:
        if node in cluster.worker_nodes:
            cluster.remove_node(node)
    m = reference("c/intloop.elf", ["25000000"])
    assert all((r.status, r.stdout, r.cycles) == ("done", m.stdout, m.cycles) for r in results)
    lost = [ev for r in results for ev in r.history if ev["event"] == "lost"]
    assert len(lost) >= 2, "the killed node held fewer than two jobs"
    assert all(ev["cycles_lost"] <= checkpoint + slice_cycles for ev in lost), lost
    assert all(ev["restart_from"] > 0 for ev in lost)


def test_checkpoints_never_pass_through_the_driver(cluster, monkeypatch):
    decoded = []
    real = rvdist.Snapshot.from_bytes
    monkeypatch.setattr(rvdist.Snapshot, "from_bytes",
                        staticmethod(lambda data: decoded.append(len(data)) or real(data)))
    with Executor(slice_cycles=5_000_000, checkpoint_cycles=20_000_000) as ex:
        jobs = [ex.submit(GUESTS / "c/memsort.elf", args=["4"], memory_size=16 << 20)
                for _ in range(4)]
        results = [j.result(timeout=300) for j in jobs]
        keeper = ex.store_stats()
        report_bytes = ex.stats()["report_bytes"]
    m = reference("c/memsort.elf", ["4"], memory_size=16 << 20)
    assert all((r.status, r.stdout, r.cycles) == ("done", m.stdout, m.cycles) for r in results)
    written = sum(ev["bytes"] for r in results for ev in r.history if ev["event"] == "checkpoint")
    assert written > 4 << 20 and keeper["bytes_written"] >= written
    # the keeper lives on the driver's node (the head here), in another process
    assert keeper["node"] == ray.get_runtime_context().get_node_id()
    assert keeper["pid"] != os.getpid()
    # what reached the driver: reports, a small fraction of the checkpoints, none decoded
    assert report_bytes < written / 20, (report_bytes, written)
    assert decoded == []


def test_a_checkpoint_dir_url_holds_the_chains(cluster, tmp_path):
    import fsspec  # noqa: F401  (a test extra: missing is a failure, not a skip)
    with Executor(slice_cycles=5_000_000, checkpoint_cycles=20_000_000,
                  checkpoint_dir=f"file://{tmp_path}") as ex:
        job = ex.submit(GUESTS / "faults/infinite_loop.elf", job_id="loop")
        wait_for(lambda: job.progress()["checkpoints"] >= 3, 120, "three checkpoints")
        names = sorted(p.name for p in tmp_path.iterdir())
        job.cancel()
        assert job.result(timeout=60).status == "cancelled"
    assert "loop.snap" in names and any(n.startswith("loop.snap.") for n in names), names


def test_restore_node_puts_a_preempted_node_back_into_service(cluster):
    node = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    try:
        with Executor(slice_cycles=2_000_000) as ex:
            wait_for(lambda: node.node_id in ex.nodes(), 30, "an agent on the new node")
            ex.preempt_node(node.node_id, deadline_s=10)
            assert node.node_id not in ex.nodes()
            ex.restore_node(node.node_id)
            wait_for(lambda: node.node_id in ex.nodes(), 30, "the node back in service")
            jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["3000000"]) for _ in range(8)]
            results = [j.result(timeout=300) for j in jobs]
    finally:
        cluster.remove_node(node)
    assert any(node.node_id in r.nodes for r in results)
