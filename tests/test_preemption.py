"""Preemption and fault tolerance on a real local Ray: drained nodes, lost
nodes, nodes that join, higher-priority work, and checkpoint directories.

Each test that changes the cluster adds its own node and removes it; the
session's head and two nodes stay as they are.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402
from support.cluster import OBJECT_STORE, wait_for  # noqa: E402
from support.guests import GUESTS, reference  # noqa: E402

SLICE = 50_000


@pytest.fixture
def extra_node(cluster):
    """A fourth node (1 CPU) for this test only."""
    node = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    yield node
    if node in cluster.worker_nodes:
        cluster.remove_node(node)


def same_as_reference(r, m) -> bool:
    return (r.status, r.exit_code, r.stdout, r.stderr, r.cycles) == \
        ("done", m.exit_code, m.stdout, m.stderr, m.cycles)


def on_node(job, node_id: str) -> bool:
    return any(ev.get("node") == node_id and ev["event"] in ("start", "slice", "restore")
               for ev in job.events())


# Events that put a job's machine on the event's node.
_ARRIVALS = ("start", "slice", "restore", "migrate")


def left_on_notice(history, node_id: str) -> bool:
    """Whether a job, if it was ever on ``node_id``, was last taken off it by a
    move that says why (the drain, or a balance before it): an eviction there or
    a migration away, with nothing after on that node. (A move is recorded when
    the job lands, which may be after the node emptied.)"""
    stays = [i for i, ev in enumerate(history) if ev["node"] == node_id and ev["event"] in _ARRIVALS]
    if not stays:
        return True
    return any(ev.get("reason") in ("drain", "balance") and
               ((ev["event"] == "evict" and ev["node"] == node_id)
                or (ev["event"] == "migrate" and ev.get("source") == node_id))
               for ev in history[stays[-1] + 1:])


def test_a_node_that_joins_takes_work(cluster):
    # Short jobs (checked against an in-process run) and long "ballast" jobs
    # that never end on their own: however slowly the node joins on a loaded
    # machine, the cluster still has more runnable jobs than slots when its
    # agent comes up, so the node must take some of them. The ballast is
    # cancelled once that is seen.
    with Executor(slice_cycles=2_000_000) as ex:
        jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["20000000"]) for _ in range(8)]
        ballast = [ex.submit(GUESTS / "c/intloop.elf", args=["2000000000"]) for _ in range(6)]
        wait_for(lambda: sum(bool(j.progress()["slices"]) for j in jobs + ballast) >= 3, 60,
                 "the first jobs to start")
        node = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        try:
            wait_for(lambda: node.node_id in ex.nodes(), 30, "hosts on the new node")
            wait_for(lambda: any(on_node(j, node.node_id) for j in jobs + ballast), 60,
                     "a job on the new node")
            for j in ballast:
                j.cancel()
            results = [j.result(timeout=180) for j in jobs]
            ended = [j.result(timeout=60) for j in ballast]
        finally:
            ex.shutdown()
            cluster.remove_node(node)
    m = reference("c/intloop.elf", ["20000000"])
    assert all(same_as_reference(r, m) for r in results)
    assert all(r.status == "cancelled" for r in ended)
    everything = results + ended
    assert any(node.node_id in r.nodes for r in everything), "no work went to the new node"
    assert any(ev["event"] == "migrate" and ev["node"] == node.node_id
               for r in everything for ev in r.history), "no job moved onto the new node"


def test_preempt_node_moves_every_job_off_before_the_deadline(cluster, extra_node):
    with Executor(slice_cycles=SLICE) as ex:
        # long enough (about 60M cycles each) that the node still holds work
        # when it is preempted, even on a busy machine
        jobs = [ex.submit(GUESTS / "c/memsort.elf", args=["2"], memory_size=8 << 20)
                for _ in range(6)]
        wait_for(lambda: any(on_node(j, extra_node.node_id) for j in jobs), 60,
                 "a job on the extra node")
        # Returns once the node holds no job (TimeoutError past the deadline); how
        # fast is a figure of benchmarks/bench_preemption.py, not of this test.
        ex.preempt_node(extra_node.node_id, deadline_s=30)
        seen = {j.id: j.progress()["events"] for j in jobs}   # the events up to the node's emptying
        assert extra_node.node_id not in ex.nodes()
        results = [j.result(timeout=180) for j in jobs]
    m = reference("c/memsort.elf", ["2"], memory_size=8 << 20)
    assert all(same_as_reference(r, m) for r in results)
    for r in results:
        assert r.count("start") == 1 and r.recoveries == 0 and r.lost_cycles == 0, r.history
        assert left_on_notice(r.history, extra_node.node_id), r.history
        late = [ev for ev in r.history[seen[r.job_id]:] if ev["node"] == extra_node.node_id]
        assert not late, f"a drained node got work after it emptied: {late}"
    assert sum(r.preemptions + r.migrations for r in results) >= 1


def test_restore_node_returns_a_preempted_node_to_service(cluster, extra_node):
    nid = extra_node.node_id
    with Executor(slice_cycles=SLICE) as ex:
        with pytest.raises(rvdist.errors.ConfigError):
            ex.restore_node(nid)            # it was never preempted
        ex.preempt_node(nid, deadline_s=10)
        assert nid not in ex.nodes()
        # once empty, its hosts are let go of: the node's CPU is free again
        wait_for(lambda: ray.available_resources().get("CPU", 0) >= 1, 10,
                 "the preempted node's hosts to be released")
        ex.restore_node(nid)
        wait_for(lambda: nid in ex.nodes(), 30, "the node to take work again")
        jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["200000"]) for _ in range(6)]
        results = [j.result(timeout=180) for j in jobs]
    m = reference("c/intloop.elf", ["200000"])
    assert all(same_as_reference(r, m) for r in results)
    assert any(nid in r.nodes for r in results), "the restored node got no work"


def test_a_ray_drain_notice_empties_the_node(cluster, extra_node):
    from ray.core.generated import autoscaler_pb2

    with Executor(slice_cycles=SLICE, watch_interval=0.1) as ex:
        jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["5000000"]) for _ in range(6)]
        wait_for(lambda: any(on_node(j, extra_node.node_id) for j in jobs), 60,
                 "a job on the extra node")
        gcs = ray._private.worker.global_worker.gcs_client
        accepted, why = gcs.drain_node(
            extra_node.node_id, autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),
            "spot preemption (test)", int((time.time() + 10) * 1000))
        assert accepted, why
        wait_for(lambda: any(d["emptied_after"] is not None for d in ex.drains()), 10,
                 "the drained node to empty")
        seen = {j.id: j.progress()["events"] for j in jobs}   # the events up to the node's emptying
        (drain,) = ex.drains()
        assert drain["node"] == extra_node.node_id and extra_node.node_id not in ex.nodes()
        results = [j.result(timeout=180) for j in jobs]
    m = reference("c/intloop.elf", ["5000000"])
    assert all(same_as_reference(r, m) for r in results), [r.to_dict() for r in results
                                                          if not same_as_reference(r, m)][:1]
    assert all(r.count("start") == 1 and r.lost_cycles == 0 for r in results)
    for r in results:
        assert left_on_notice(r.history, extra_node.node_id), r.history
        assert not [ev for ev in r.history[seen[r.job_id]:] if ev["node"] == extra_node.node_id]
    assert any(ev["node"] == extra_node.node_id for r in results for ev in r.history)


def test_a_node_killed_without_warning_loses_at_most_a_checkpoint_interval(cluster, extra_node):
    # Jobs of a few seconds: a killed node's workers linger up to a second and
    # Ray reports the node dead about 2 s after the kill.
    slice_cycles, checkpoint = 2_000_000, 20_000_000
    with Executor(slice_cycles=slice_cycles, checkpoint_cycles=checkpoint) as ex:
        jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["25000000"]) for _ in range(6)]
        wait_for(lambda: any(j.node == extra_node.node_id and j.progress()["checkpoint_cycles"] is not None for j in jobs), 60,
                 "a checkpointed job on the extra node")
        cluster.remove_node(extra_node, allow_graceful=False)
        results = [j.result(timeout=180) for j in jobs]
        wait_for(lambda: extra_node.node_id not in ex.nodes(), 10, "the loss to be noticed")
    m = reference("c/intloop.elf", ["25000000"])
    assert all(same_as_reference(r, m) for r in results), [r.history[-3:] for r in results]
    lost = [ev for r in results for ev in r.history if ev["event"] == "lost"]
    assert lost, "no job was on the killed node"
    # the work lost is what the driver saw done since the last checkpoint: at most an interval
    assert all(ev["cycles_lost"] <= checkpoint + slice_cycles for ev in lost), lost
    assert all(r.lost_cycles == sum(ev["cycles_lost"] for ev in r.history if ev["event"] == "lost")
               for r in results)


def test_higher_priority_work_preempts_the_lowest(cluster):
    with Executor(slice_cycles=SLICE) as ex:
        slots = len(ex.nodes())
        # long enough that they still run when the agents' first reports arrive
        low = [ex.submit(GUESTS / "c/intloop.elf", args=["40000000"], priority=0, name=f"low{i}")
               for i in range(slots)]
        wait_for(lambda: all(j.progress()["slices"] >= 2 for j in low), 60, "the low-priority jobs to run")
        high = ex.submit(GUESTS / "c/primes.elf", args=["20000"], priority=5, name="high")
        hr = high.result(timeout=120)
        still_running = [j for j in low if not j.done()]
        lows = [j.result(timeout=180) for j in low]
        stats = ex.stats()
    assert stats["preemptions"] == sum(r.preemptions for r in lows + [hr]), \
        "the executor's counters must agree with the results"
    assert hr.status == "done" and hr.stdout == reference("c/primes.elf", ["20000"]).stdout
    assert still_running, "the low-priority jobs finished before the urgent one"
    preempts = [ev for r in lows for ev in r.history if ev["event"] == "preempt"]
    assert preempts and all(ev["by"] == "high" for ev in preempts), preempts
    m = reference("c/intloop.elf", ["40000000"])
    assert all(same_as_reference(r, m) for r in lows)


def test_a_checkpoint_directory_keeps_results_and_resumes_jobs(cluster, tmp_path):
    m = reference("c/primes.elf", ["30000"])
    # a checkpoint written by an earlier driver that died half way
    half = rvdist.Machine(GUESTS / "c/primes.elf", args=["30000"])
    half.run(m.cycles // 2)
    half.snapshot().save(tmp_path / "job-b.snap")
    with Executor(slice_cycles=SLICE, checkpoint_dir=tmp_path, checkpoint_cycles=100_000) as ex:
        a = ex.submit(GUESTS / "c/primes.elf", args=["30000"], job_id="job-a").result(timeout=120)
        b = ex.submit(GUESTS / "c/primes.elf", args=["30000"], job_id="job-b").result(timeout=120)
    assert same_as_reference(a, m) and same_as_reference(b, m)
    assert b.history[0]["event"] == "resume" and b.history[0]["cycles"] == m.cycles // 2
    assert b.slices <= (m.cycles - m.cycles // 2) // SLICE + 1
    assert (tmp_path / "job-a.result.json").exists() and not (tmp_path / "job-a.snap").exists()
    with Executor(slice_cycles=SLICE, checkpoint_dir=tmp_path) as ex:
        again = ex.submit(GUESTS / "c/primes.elf", args=["30000"], job_id="job-a")
        assert again.done(), "a recorded result ran again"
        assert again.result() == a
        with pytest.raises(rvdist.errors.ConfigError):
            ex.submit(GUESTS / "c/primes.elf", job_id="../escape")
        (tmp_path / "job-c.snap").write_bytes((tmp_path / "job-a.result.json").read_bytes())
        with pytest.raises(rvdist.errors.SnapshotError):
            ex.submit(GUESTS / "c/primes.elf", job_id="job-c")


def test_sigterm_to_a_ray_start_worker_moves_its_jobs(cluster, tmp_path):
    """A real spot-style preemption: `ray start --block` gets SIGTERM, Ray drains it,
    and the drain ends gracefully: rvdist lets go of its hosts there once the
    node is empty, so Ray need not wait out its deadline and abort."""
    ray_exe = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    drain_timeout = 20
    env = dict(os.environ, RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S=str(drain_timeout),
               RAY_USAGE_STATS_ENABLED="0")
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([ray_exe, "start", "--address", cluster.address, "--num-cpus", "1",
                               "--object-store-memory", str(OBJECT_STORE), "--block"],
                              env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        before = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
        wait_for(lambda: {n["NodeID"] for n in ray.nodes() if n["Alive"]} - before, 60,
                 "the new worker to join")
        (new,) = {n["NodeID"] for n in ray.nodes() if n["Alive"]} - before
        with Executor(slice_cycles=1_000_000, watch_interval=0.1) as ex:
            assert new in ex.nodes()
            jobs = [ex.submit(GUESTS / "c/intloop.elf", args=["20000000"]) for _ in range(6)]
            wait_for(lambda: any(j.node == new for j in jobs), 60, "a job on the new worker")
            worker.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            wait_for(lambda: any(d["node"] == new and d["emptied_after"] is not None
                                 for d in ex.drains()), 15, "the worker to be drained")
            worker.wait(timeout=drain_timeout + 30)
            drained_in = time.monotonic() - signalled
            results = [j.result(timeout=180) for j in jobs]
        m = reference("c/intloop.elf", ["20000000"])
        assert all(same_as_reference(r, m) for r in results)
        assert all(r.count("start") == 1 and r.lost_cycles == 0 for r in results)
        assert any(ev["event"] in ("evict", "migrate") and ev.get("source", ev["node"]) == new
                   for r in results for ev in r.history)
        output = (tmp_path / "worker.log").read_text(errors="replace")
        assert "ungracefully" not in output, output[-2000:]
        assert drained_in < drain_timeout - 5, f"the drain took {drained_in:.1f} s: {output[-2000:]}"
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        log.close()


def test_a_killed_batch_driver_resumes_with_every_result_exactly_once(cluster, tmp_path):
    iters = [4_000_000, 9_000_000, 2_000_000, 7_000_000, 5_000_000, 8_000_000, 3_000_000, 6_000_000]
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("".join(json.dumps({"program": str(GUESTS / "c/intloop.elf"),
                                            "args": [str(n)], "name": f"loop{n}"}) + "\n"
                                for n in iters))
    ckpt, first, second = tmp_path / "ckpt", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    events = tmp_path / "events.jsonl"
    common = [sys.executable, "-m", "rvdist.cli", "batch", str(manifest), "--address",
              cluster.address, "--checkpoint-dir", str(ckpt), "--slice-cycles", "1M",
              "--checkpoint-cycles", "10M", "--quiet", "--events", str(events)]
    driver = subprocess.Popen(common + ["--out", str(first)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        wait_for(lambda: first.exists() and first.read_text().count("\n") >= 2, 120,
                 "the first results")
    finally:
        driver.kill()
        driver.wait(timeout=30)
    before = {json.loads(line)["name"]: json.loads(line) for line in first.read_text().splitlines()}
    assert len(before) < len(iters), "the driver finished before it was killed"
    assert list(ckpt.glob("*.snap")), "no checkpoint of an unfinished job was left"
    # events are written as they happen: those of unfinished jobs survive the kill
    logged = [json.loads(line) for line in events.read_text().splitlines()]
    unfinished = {f"loop{n}" for n in iters} - set(before)
    assert any(e["job"] in unfinished and e["event"] == "checkpoint" for e in logged), \
        "the events of jobs still running were lost with the driver"

    again = subprocess.run(common + ["--out", str(second)], capture_output=True, timeout=300)
    assert again.returncode == 2 and b"--resume" in again.stderr     # refuses to start over
    resumed = subprocess.run(common + ["--resume", "--out", str(second)], capture_output=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    after = [json.loads(line) for line in second.read_text().splitlines()]
    assert sorted(r["name"] for r in after) == sorted(f"loop{n}" for n in iters)
    for r in after:
        m = reference("c/intloop.elf", [r["name"][4:]])
        assert (r["status"], r["exit_code"], r["stdout"], r["cycles"]) == \
            ("done", 0, m.stdout.decode(), m.cycles), r["name"]
        if r["name"] in before:     # finished before the kill: reported, not run again
            assert r == before[r["name"]]
        else:
            assert sum(ev["event"] == "finish" for ev in r["history"]) == 1
    assert any(r["history"][0]["event"] == "resume" for r in after), "no job went on from a checkpoint"
