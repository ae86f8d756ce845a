"""The Ray executor on a real local Ray cluster: a head and 2 nodes, 1 CPU each."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")

import rvdist  # noqa: E402
from rvdist.executor import Executor  # noqa: E402

GUESTS = Path(__file__).resolve().parent / "guests"


@pytest.fixture
def executor(cluster):
    ex = Executor(slice_cycles=50_000)
    yield ex
    ex.shutdown()


def local(relpath: str, args=(), stdin=b"", **kw) -> rvdist.Machine:
    m = rvdist.Machine(GUESTS / relpath, args=args, stdin=stdin, **kw)
    m.run()
    return m


CASES = [
    ("c/hello.elf", ["a", "b"], b""),
    ("c/upper.elf", [], b"resident machines between slices\n" * 50),
    ("c/primes.elf", ["5000"], b""),
    ("c/intloop.elf", ["30000"], b""),
    ("c/memsort.elf", ["64k"], b""),
]


def test_every_example_matches_the_in_process_run(executor):
    jobs = [executor.submit(GUESTS / p, args=a, stdin=s) for p, a, s in CASES]
    for (p, a, s), job in zip(CASES, jobs):
        r = job.result(timeout=120)
        m = local(p, a, s)
        assert (r.status, r.exit_code, r.stdout, r.stderr, r.cycles) == \
            ("done", m.exit_code, m.stdout, m.stderr, m.cycles), p
        assert job.status() == "done"


def test_more_jobs_than_slots_take_turns(executor):
    assert len(executor.nodes()) == 3
    jobs = [executor.submit(GUESTS / "c/intloop.elf", args=["40000"], name=f"j{i}") for i in range(9)]
    results = [j.result(timeout=180) for j in jobs]
    m = local("c/intloop.elf", ["40000"])
    assert all((r.status, r.stdout, r.cycles) == ("done", m.stdout, m.cycles) for r in results)
    # 580k instructions in 50k-cycle slices: every job needs many slices, and with
    # 9 jobs on 3 slots none can have run to the end alone.
    assert all(r.slices >= m.cycles // 50_000 for r in results)
    assert len({n for r in results for n in r.nodes}) == 3, "work went to every node"


def test_a_job_migrated_several_times_gives_the_same_result(executor):
    m = local("c/memsort.elf", ["1"], memory_size=8 << 20)
    job = executor.submit(GUESTS / "c/memsort.elf", args=["1"], memory_size=8 << 20)
    nodes = executor.nodes()
    deadline = time.monotonic() + 60
    moved = 0
    while moved < 3 and not job.done() and time.monotonic() < deadline:
        history = job.events()
        here = history[-1]["node"] if history else None
        if here is None:
            time.sleep(0.005)
            continue
        executor.migrate(job, next(n for n in nodes if n != here))
        # wait until this move is recorded before asking for the next one
        while len([e for e in job.events() if e["event"] == "migrate"]) <= moved and not job.done():
            time.sleep(0.002)
        moved += 1
    r = job.result(timeout=180)
    assert (r.status, r.exit_code, r.stdout, r.cycles) == ("done", 0, m.stdout, m.cycles)
    assert r.migrations >= 3, r.history
    assert len(set(r.nodes)) >= 2


def test_cancel_stops_a_job_and_frees_its_slot(executor):
    forever = executor.submit(GUESTS / "faults/infinite_loop.elf")
    deadline = time.monotonic() + 30
    while forever.status() == "pending" and time.monotonic() < deadline:
        time.sleep(0.02)
    forever.cancel()
    r = forever.result(timeout=30)
    assert r.status == "cancelled" and forever.status() == "cancelled"
    after = executor.submit(GUESTS / "c/hello.elf", args=["x"])
    assert after.result(timeout=60).exit_code == 2


def test_guest_errors_fail_the_job_with_a_typed_error(executor):
    r = executor.submit(GUESTS / "faults/csr.elf").result(timeout=60)
    assert r.status == "failed" and r.error["kind"] == "illegal_instruction"
    r = executor.submit(GUESTS / "faults/infinite_loop.elf", max_cycles=200_000).result(timeout=60)
    assert r.status == "failed" and r.error["kind"] == "cycles_exceeded" and r.cycles == 200_000


def test_map_and_as_completed(executor):
    results = executor.map(GUESTS / "c/hello.elf", [["1"], ["1", "2"], []])
    assert [r.exit_code for r in results] == [2, 3, 1]
    jobs = [executor.submit(GUESTS / "c/primes.elf", args=[str(n)]) for n in (100, 2000, 500)]
    seen = list(executor.as_completed(jobs, timeout=120))
    assert sorted(j.id for j in seen) == sorted(j.id for j in jobs)
