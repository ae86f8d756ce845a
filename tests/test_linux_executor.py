"""Stock glibc programs as jobs on the Ray executor: moved live between hosts,
with their declared files shipped by digest, they end exactly as one
in-process run (stdout, stderr, exit code, cycles, created files)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402

LINUX = Path(__file__).resolve().parent / "guests" / "linux"
sys.path.insert(0, str(LINUX))
from cases import BY_NAME  # noqa: E402

MOVED = ["files", "files-in-cwd", "fsops", "alloc", "mm", "timing", "random", "stdin", "fpfmt", "pie"]


def spec(case) -> dict:
    return {"args": list(case.args), "stdin": case.stdin, "memory_size": case.memory, "env": case.env,
            "files": {g: LINUX / h for g, h in case.files.items()}, "cwd": case.cwd}


def test_linux_jobs_migrate_and_match_one_run(cluster):
    ex = Executor(slice_cycles=20_000)
    try:
        jobs = {name: ex.submit(LINUX / BY_NAME[name].program, name=name, **spec(BY_NAME[name]))
                for name in MOVED}
        asked: set[str] = set()
        deadline = time.monotonic() + 120
        while len(asked) < len(jobs) and time.monotonic() < deadline:
            for name, job in jobs.items():
                if name not in asked and job.status() == "running" and job.node is not None:
                    try:
                        ex.migrate(job)
                        asked.add(name)
                    except rvdist.ConfigError:
                        pass
                elif name not in asked and job.done():
                    asked.add(name)
            time.sleep(0.002)
        for name, job in jobs.items():
            case = BY_NAME[name]
            r = job.result(timeout=300)
            m = rvdist.Machine(LINUX / case.program, **spec(case))
            m.run()
            assert (r.status, r.exit_code, r.stdout, r.stderr, r.cycles, r.files) == \
                ("done", m.exit_code, m.stdout, m.stderr, m.cycles, m.files()), name
        moved = [name for name, job in jobs.items() if job.result().migrations]
        assert len(moved) >= len(MOVED) // 2, f"only {moved} moved"
        # Equal declared files went into the object store once.
        assert ex.stats()["file_contents"] == 2
    finally:
        ex.shutdown()


def test_results_carry_created_files_through_json(cluster):
    ex = Executor(slice_cycles=1_000_000)
    try:
        r = ex.submit(LINUX / "files.elf", **spec(BY_NAME["files"])).result(timeout=120)
    finally:
        ex.shutdown()
    assert set(r.files) == {"/out/log.txt", "/out/report.txt"}
    again = rvdist.JobResult.from_dict(r.to_dict())
    assert again.files == r.files


def test_a_node_fetches_each_declared_content_once(cluster, tmp_path):
    """A second job on a node that declares contents the node already holds
    runs without fetching them: its references would fail if they were read."""
    import hashlib
    import pickle

    from rvdist.cluster.agent import NodeAgent
    from rvdist.cluster.jobs import JobSpec
    from rvdist.cluster.store import DirStore

    @ray.remote
    def unreadable() -> bytes:
        raise RuntimeError("a declared file was fetched a second time")

    case = BY_NAME["files"]
    program = rvdist.Program.from_file(LINUX / case.program)
    contents = {g: (LINUX / h).read_bytes() for g, h in case.files.items()}
    paths = {f"/{g}": hashlib.sha256(data).hexdigest() for g, data in contents.items()}
    config = {"args": list(case.args), "memory_size": case.memory}

    def job(job_id: str, blobs: dict) -> JobSpec:
        return JobSpec(job_id, job_id, program.digest, [ray.put((program.data, program.name))],
                       config, files=paths, blobs=blobs)

    m = rvdist.Machine(program, files=contents, **config)
    m.run()
    agent = NodeAgent("n", 1, DirStore(tmp_path), slice_cycles=1_000_000)
    try:
        fresh = {paths[f"/{g}"]: [ray.put(data)] for g, data in contents.items()}
        broken = {digest: [unreadable.remote()] for digest in paths.values()}
        for job_id, blobs in (("first", fresh), ("second", broken)):
            agent.command([("assign", job(job_id, blobs), 1, None)])
            events = []
            deadline = time.monotonic() + 60
            while not any(e[0] in ("finished", "crashed", "rejected") for e in events):
                assert time.monotonic() < deadline, events
                events += pickle.loads(agent.poll(0.05))["events"]
            end = events[-1]
            assert end[:2] == ("finished", job_id), end
            assert (end[3]["exit_code"], end[3]["stdout"], end[3]["cycles"], end[3]["files"]) == \
                (m.exit_code, m.stdout, m.cycles, m.files())
    finally:
        agent.stop()


def test_a_node_keeps_idle_contents_within_its_budget(cluster, tmp_path):
    """Jobs that each declare a content of their own: once a job has left,
    its content may go, so a long-lived node does not hold every input it
    ever saw; one its next job shares stays."""
    import hashlib
    import pickle

    from rvdist.cluster.agent import NodeAgent
    from rvdist.cluster.jobs import JobSpec
    from rvdist.cluster.store import DirStore

    case = BY_NAME["files"]
    program = rvdist.Program.from_file(LINUX / case.program)
    program_ref = ray.put((program.data, program.name))
    contents = {f"/{g}": (LINUX / h).read_bytes() for g, h in case.files.items()}
    config = {"args": list(case.args), "memory_size": case.memory}
    size = 1 << 20
    agent = NodeAgent("n", 1, DirStore(tmp_path), slice_cycles=1_000_000,
                      idle_content_bytes=3 * size)
    try:
        for i in range(8):
            own = bytes([i]) * size          # a content no other job declares
            files = dict(contents, **{"/data/own.bin": own})
            paths = {g: hashlib.sha256(d).hexdigest() for g, d in files.items()}
            blobs = {paths[g]: [ray.put(d)] for g, d in files.items()}
            agent.command([("assign", JobSpec(f"j{i}", f"j{i}", program.digest, [program_ref],
                                              config, files=paths, blobs=blobs), 1, None)])
            events = []
            deadline = time.monotonic() + 60
            while not any(e[0] in ("finished", "crashed", "rejected") for e in events):
                assert time.monotonic() < deadline, events
                events += pickle.loads(agent.poll(0.05))["events"]
            assert events[-1][:2] == ("finished", f"j{i}"), events[-1]
            held = agent.contents()
            assert held["idle_bytes"] <= 3 * size and held["bytes"] <= 3 * size, (i, held)
        # the program and the shared files were fetched once; each own content once
        assert held["fetches"] == 1 + len(set(contents.values())) + 8, held
    finally:
        agent.stop()


def test_an_executor_lets_go_of_the_contents_of_ended_jobs(cluster, tmp_path):
    case = BY_NAME["files"]
    with Executor(slice_cycles=1_000_000) as ex:
        jobs = [ex.submit(LINUX / case.program, **dict(spec(case), files=dict(
                    spec(case)["files"], **{"/data/own.bin": bytes([i]) * 4096})))
                for i in range(4)]
        results = [j.result(timeout=120) for j in jobs]
        stats = ex.stats()
    assert all(r.status == "done" for r in results), [r.error for r in results]
    shared = len(set(spec(case)["files"].values()))
    assert stats["file_contents"] == shared + 4
    assert stats["contents_held"] == 0, stats
    assert all(j.spec.program == [] and all(v == [] for v in j.spec.blobs.values()) for j in jobs)
