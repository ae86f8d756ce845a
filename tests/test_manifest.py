"""Batch manifests: checked whole before any job runs, and stable job ids."""

from __future__ import annotations

import hashlib
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
    # the Linux job spec
    "declared file missing": (GOOD, {"program": HELLO, "files": {"/in.txt": "no/such.txt"}},
                              "cannot read"),
    "files not a mapping": (GOOD, {"program": HELLO, "files": ["in.txt"]}, "'files'"),
    "file in /dev": (GOOD, {"program": HELLO, "files": {"/dev/x": HELLO}}, "cannot declare guest file /dev/x"),
    "env not a mapping or list": (GOOD, {"program": HELLO, "env": "X=1"}, "'env'"),
    "env entry without a value": (GOOD, {"program": HELLO, "env": ["X"]}, "NAME=VALUE"),
    "seed not an integer": (GOOD, {"program": HELLO, "seed": "lucky"}, "'seed'"),
    "seed too big": (GOOD, {"program": HELLO, "seed": 1 << 64}, "seed"),
    "cwd not a string": (GOOD, {"program": HELLO, "cwd": 5}, "'cwd'"),
    "start_time not a number": (GOOD, {"program": HELLO, "start_time": "noon"}, "'start_time'"),
    "bad file_limit": (GOOD, {"program": HELLO, "file_limit": "lots"}, "file_limit"),
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


def test_job_ids_count_declared_files_by_content_and_the_linux_spec(tmp_path):
    """Files count by guest path and content digest, never by host path; each
    setting of the Linux job spec counts, spelling out a default does not."""
    def job_id(folder: str, entry: dict, files: tuple[tuple[str, bytes], ...] = (("in.txt", b"1 2 3\n"),)) -> str:
        directory = tmp_path / folder
        for name, data in files:
            (directory / "data").mkdir(parents=True, exist_ok=True)
            (directory / "data" / name).write_bytes(data)
        return entries_in(directory, [{"program": "hello.elf", **entry}])[0].job_id

    base = {"files": {"/in.txt": "data/in.txt"}}
    first = job_id("a", base)
    assert job_id("b", {"files": {"/in.txt": "data/other.txt"}}, (("other.txt", b"1 2 3\n"),)) == first
    assert job_id("c", base, (("in.txt", b"1 2 4\n"),)) != first, "another content"
    assert job_id("d", {"files": {"/data/in.txt": "data/in.txt"}}) != first, "another guest path"
    assert job_id("e", {**base, "cwd": "/", "seed": 0, "env": []}) == first, "the defaults spelled out"
    assert job_id("f", {**base, "env": {"A": "1"}}) == job_id("g", {**base, "env": ["A=1"]})
    for change in ({"env": ["A=1"]}, {"seed": 7}, {"cwd": "/work"}, {"start_time": 0},
                   {"file_limit": "1MiB"}):
        assert job_id("h", {**base, **change}) != first, change
    # a relative guest path is taken from cwd: the same file as an absolute one there
    assert job_id("i", {"files": {"in.txt": "data/in.txt"}, "cwd": "/w"}) == \
        job_id("j", {"files": {"/w/in.txt": "data/in.txt"}, "cwd": "/w"}) == \
        job_id("k", {"files": {"in.txt": "data/in.txt"}, "cwd": "w"}), "a relative cwd is taken from /"
    entry = entries_in(tmp_path / "a", [{"program": "hello.elf", **base, "seed": 3, "env": {"A": 1}}])[0]
    kwargs = entry.submit_kwargs()
    assert kwargs["files"].paths == {"/in.txt": hashlib.sha256(b"1 2 3\n").hexdigest()}
    assert (kwargs["seed"], kwargs["env"], kwargs["cwd"]) == (3, ["A=1"], "/")


def test_out_dir_folders_are_names_or_ids_and_never_shared(tmp_path):
    from rvdist.batch import out_folders

    entries = entries_in(tmp_path, [{"program": "hello.elf", "name": "a/b"},
                                    {"program": "hello.elf"}])
    assert out_folders(entries) == {entries[0].job_id: "a_b", entries[1].job_id: entries[1].job_id}
    clash = entries_in(tmp_path, [{"program": "hello.elf", "name": "a/b"},
                                  {"program": "hello.elf", "name": "a_b"}])
    with pytest.raises(ConfigError, match="lines 1 and 2 would both write to a_b/"):
        out_folders(clash)
