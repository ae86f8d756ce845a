"""Batch manifests: checked whole before any job runs, and stable job ids."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.guests import GUESTS
from rvdist import manifest
from rvdist.errors import ConfigError

HELLO = str(GUESTS / "c/hello.elf")
GOOD = {"program": HELLO, "args": ["a"]}

BAD = {
    "bad size": (GOOD, {"program": HELLO, "memory": "64XB"}, "memory"),
    "unknown key": (GOOD, {"program": HELLO, "colour": "red"}, "colour"),
    "missing program": (GOOD, {"program": "no/such.elf"}, "does not exist"),
    "duplicate name": ({"program": HELLO, "name": "x"}, {"program": HELLO, "name": "x"},
                       "already used on line 2"),
    "not an ELF": (GOOD, {"program": str(GUESTS / "README.md")}, "README.md"),
    "memory too small": (GOOD, {"program": HELLO, "memory": "64KiB"}, "does not fit"),
    "memory not in pages": (GOOD, {"program": HELLO, "memory": 4097}, "4097"),
    "bad max_cycles": (GOOD, {"program": HELLO, "max_cycles": "lots"}, "max_cycles"),
    "args not a list": (GOOD, {"program": HELLO, "args": "a b"}, "args"),
    "bad cost model": (GOOD, {"program": HELLO, "cost_model": "fast"}, "cost model"),
    "priority not int": (GOOD, {"program": HELLO, "priority": "high"}, "priority"),
    "no program": (GOOD, {"args": ["a"]}, "program"),
}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_manifest_exits_2_before_any_job_runs(case, tmp_path):
    first, bad, needle = BAD[case]
    path = tmp_path / "jobs.jsonl"
    path.write_text("# a comment line\n" + json.dumps(first) + "\n\n" + json.dumps(bad) + "\n")
    events = tmp_path / "events.jsonl"
    # No cluster listens at --address: had the batch tried to start a job, it
    # would have waited 30 s for one and exited 69, not 2.
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "rvdist.cli", "batch", str(path), "--address",
                           f"127.0.0.1:{closed_port()}", "--events", str(events)],
                          capture_output=True, timeout=60)
    text = proc.stderr.decode(errors="replace")
    assert proc.returncode == 2, text
    assert time.monotonic() - t0 < 20
    assert text.startswith(f"rvdist: error: {path}:4: "), text
    assert needle in text, text
    assert "Traceback" not in text and text.count("\n") == 1, text
    assert proc.stdout == b"" and not events.exists()


def test_yaml_errors_name_the_line(tmp_path):
    path = tmp_path / "jobs.yaml"
    path.write_text(f"- program: {HELLO}\n  args: [a]\n- program: {HELLO}\n  memory: 12parsecs\n")
    with pytest.raises(ConfigError, match=r"jobs.yaml:3: 'memory'"):
        manifest.load(path)
    path.write_text(f"- program: {HELLO}\n- [unclosed\n")
    with pytest.raises(ConfigError, match=r"jobs.yaml:\d+: invalid YAML"):
        manifest.load(path)
    path.write_text(f"program: {HELLO}\n")
    with pytest.raises(ConfigError, match="a list of jobs"):
        manifest.load(path)


def entries_in(directory: Path, lines: list[dict]) -> list[manifest.Entry]:
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(GUESTS / "c/hello.elf", directory / "hello.elf")
    path = directory / "jobs.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines))
    return manifest.load(path)


def test_job_ids_depend_on_content_not_paths(tmp_path):
    jobs = [{"program": "hello.elf", "args": ["a"], "name": "one"},
            {"program": "hello.elf", "args": ["a"]},
            {"program": "hello.elf", "args": ["a"]},            # the same job again
            {"program": "hello.elf", "args": ["b"], "stdin": "x", "memory": "8MiB"}]
    here = entries_in(tmp_path / "a", jobs)
    there = entries_in(tmp_path / "b" / "deeper", jobs)
    assert [e.job_id for e in here] == [e.job_id for e in there]
    assert len({e.job_id for e in here}) == 4, "identical entries are still distinct jobs"
    assert here[0].job_id.startswith("one-") and here[1].job_id.startswith("hello-")
    assert here[2].job_id == here[1].job_id + ".2"

    def one(**change) -> str:
        return entries_in(tmp_path / "c", [{**jobs[3], **change}])[0].job_id
    assert one(priority=7) == here[3].job_id, "priority only orders work"
    assert one(memory=8 << 20) == here[3].job_id, "the same size written another way"
    for change in ({"args": ["c"]}, {"stdin": "y"}, {"memory": "16MiB"}, {"max_cycles": 10**9},
                   {"cost_model": "ckb"}, {"name": "renamed"}):
        assert one(**change) != here[3].job_id, change
    # the program's content, not its name or place, is what counts
    (tmp_path / "c" / "hello.elf").write_bytes((GUESTS / "c/upper.elf").read_bytes())
    path = tmp_path / "c" / "jobs.jsonl"
    path.write_text(json.dumps(jobs[3]) + "\n")
    assert manifest.load(path)[0].job_id != here[3].job_id


def test_relative_outputs_inside_a_ray_job_are_warned_about(tmp_path):
    """Inside `ray job submit --working-dir`, the batch runs in a copy that Ray deletes."""
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps({"program": "missing.elf"}) + "\n")
    env = dict(os.environ, RAY_JOB_CONFIG_JSON_ENV_VAR=json.dumps(
        {"runtime_env": {"working_dir": "gcs://_ray_pkg_0123.zip"}}))
    proc = subprocess.run([sys.executable, "-m", "rvdist.cli", "batch", str(path), "--out",
                           "results.jsonl", "--events", str(tmp_path / "events.jsonl")],
                          capture_output=True, timeout=60, env=env)
    text = proc.stderr.decode()
    assert proc.returncode == 2, text
    warnings = [ln for ln in text.splitlines() if "warning" in ln]
    assert len(warnings) == 1 and "--out results.jsonl is relative" in warnings[0], text
