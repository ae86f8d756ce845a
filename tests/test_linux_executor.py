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
        assert len(ex._blobs) == 2
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
