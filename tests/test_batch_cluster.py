"""``rvdist batch`` as a user runs it against a real cluster: stdout kept for
results while a node dies, clean stops on SIGTERM and SIGINT, resuming from
another directory, progress counters that agree with the results, and a
bounded wait for a cluster that is not there."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytest.importorskip("ray")

import rvdist  # noqa: E402
from support.cluster import OBJECT_STORE  # noqa: E402
from support.guests import GUESTS  # noqa: E402

INTLOOP = GUESTS / "c/intloop.elf"


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rvdist.cli", *args]


def write_manifest(path: Path, program: str, iters: list[int]) -> list[str]:
    names = [f"loop{n}" for n in iters]
    path.write_text("".join(json.dumps({"program": program, "args": [str(n)], "name": name}) + "\n"
                            for n, name in zip(iters, names)))
    return names


def wait_for(cond, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the batch ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def reference(iters: int) -> rvdist.Machine:
    m = rvdist.Machine(INTLOOP, args=[str(iters)])
    m.run()
    return m


def last_progress(stderr: str) -> dict[str, float]:
    """The counters of the progress line as last drawn."""
    lines = re.findall(r"\] (\d+)/(\d+) jobs  (\d+) failed  (\d+) exited non-zero  ([\d,]+) M instr/s  "
                       r"(\d+) migrations  (\d+) preemptions  (\d+) recoveries", stderr)
    assert lines, f"no progress line in {stderr[-2000:]!r}"
    done, total, failed, nonzero, rate, mig, pre, rec = lines[-1]
    return {"done": int(done), "total": int(total), "failed": int(failed), "nonzero": int(nonzero),
            "rate": float(rate.replace(",", "")), "migrations": int(mig),
            "preemptions": int(pre), "recoveries": int(rec)}


def test_a_node_lost_during_a_batch_leaves_stdout_all_json(cluster, tmp_path):
    iters = [60_000_000 + i for i in range(8)]
    manifest, events = tmp_path / "jobs.jsonl", tmp_path / "events.jsonl"
    names = write_manifest(manifest, str(INTLOOP), iters)
    node = cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    cluster.wait_for_nodes()
    proc = None
    try:
        proc = subprocess.Popen(cli("batch", str(manifest), "--address", cluster.address,
                                    "--slice-cycles", "2M", "--checkpoint-cycles", "50M",
                                    "--events", str(events)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

        def on_node() -> bool:      # the events file is written live: follow it
            return any(f'"node": "{node.node_id}"' in ln and '"event": "slice"' in ln
                       for ln in read_lines(events))
        wait_for(on_node, 120, "a slice on the extra node", proc)
        cluster.remove_node(node, allow_graceful=False)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if node in cluster.worker_nodes:
            cluster.remove_node(node)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    results = [json.loads(line) for line in out.decode().splitlines()]   # every line is JSON
    assert sorted(r["name"] for r in results) == sorted(names), "every job exactly once"
    for r in results:
        m = reference(int(r["name"][4:]))
        assert (r["status"], r["exit_code"], r["stdout"], r["cycles"]) == \
            ("done", 0, m.stdout.decode(), m.cycles)
    assert sum(r["recoveries"] for r in results) >= 1, "no job was on the killed node"
    assert b"Traceback" not in err


@pytest.mark.parametrize("signum,move", [(signal.SIGTERM, True), (signal.SIGINT, False)],
                         ids=["SIGTERM-moved", "SIGINT"])
def test_a_stopped_batch_ends_cleanly_and_resume_finishes_every_job_once(cluster, tmp_path,
                                                                         signum, move):
    iters = [30_000_000 + i for i in range(8)]
    here = tmp_path / "here"
    here.mkdir()
    shutil.copy(INTLOOP, here / "intloop.elf")
    names = write_manifest(here / "jobs.jsonl", "intloop.elf", iters)    # relative program path
    ckpt, events = tmp_path / "ckpt", tmp_path / "events.jsonl"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"

    def batch(where: Path, *extra: str) -> list[str]:
        return cli("batch", str(where / "jobs.jsonl"), "--address", cluster.address,
                   "--checkpoint-dir", str(ckpt), "--slice-cycles", "1M",
                   "--checkpoint-cycles", "20M", "--events", str(events), *extra)

    proc = subprocess.Popen(batch(here, "--out", str(first)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(read_lines(first)) >= 2 and any(ckpt.glob("*.snap")), 180,
                 "two results and a checkpoint", proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    text = err.decode(errors="replace")
    assert proc.returncode == 128 + signum, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    stops = [ln for ln in text.split("\n") if "stopped by" in ln]
    assert len(stops) == 1 and stops[0].startswith(f"rvdist: stopped by {signal.Signals(signum).name}"), \
        f"the stop must be one line of its own, after the progress line ended: {text[-1500:]!r}"
    assert str(ckpt) in stops[0] and "--resume" in stops[0]
    assert out == b"", "results went to --out; stdout must stay empty"
    before = {json.loads(ln)["name"]: json.loads(ln) for ln in read_lines(first)}
    assert len(before) < len(names), "the batch finished before it was stopped"
    kept = {p.name.split(".")[0] for p in ckpt.iterdir() if p.suffix in (".snap",) or
            p.name.endswith(".result.json")}
    assert any(p.suffix == ".snap" for p in ckpt.iterdir()), "no checkpoint was kept"

    where = here
    if move:        # same content, another directory: nothing may start over because of it
        where = tmp_path / "elsewhere"
        shutil.move(str(here), str(where))
    resumed = subprocess.run(batch(where, "--resume", "--out", str(second)), capture_output=True,
                             timeout=300)
    rtext = resumed.stderr.decode(errors="replace")
    assert resumed.returncode == 0, rtext[-3000:]
    after = [json.loads(ln) for ln in read_lines(second)]
    assert sorted(r["name"] for r in after) == sorted(names), "every job exactly once"
    again = re.findall(r"job (\S+) runs again from the start: (.*)", rtext)
    for name, why in again:     # only jobs that had left nothing to go on from
        assert why == "it had not reached its first checkpoint", (name, why)
    for r in after:
        m = reference(int(r["name"][4:]))
        assert (r["status"], r["exit_code"], r["stdout"], r["cycles"]) == \
            ("done", 0, m.stdout.decode(), m.cycles), r["name"]
        if r["name"] in before:
            assert r == before[r["name"]], "a recorded result must be reported, not re-run"
        elif r["job_id"] in kept:
            assert r["history"][0]["event"] == "resume", f"{r['name']} did not go on from its checkpoint"
        else:
            assert r["name"] in {n for n, _ in again}, f"{r['name']} started over without a word"
    # The events file was appended to, not rewritten: one finish per job over both runs.
    finishes = [json.loads(ln)["job"] for ln in read_lines(events) if '"event": "finish"' in ln]
    assert sorted(finishes) == sorted(names), "a job ran to its end twice, or its events were lost"
    progress = last_progress(rtext)
    assert (progress["done"], progress["migrations"], progress["preemptions"],
            progress["recoveries"]) == (len(names), sum(r["migrations"] for r in after),
                                        sum(r["preemptions"] for r in after),
                                        sum(r["recoveries"] for r in after))


def test_resuming_a_finished_batch_from_another_directory_reruns_nothing(cluster, tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    for name in ("intloop.elf", "primes.elf"):
        shutil.copy(GUESTS / "c" / name, here / name)
    (here / "jobs.yaml").write_text(
        "- {program: intloop.elf, args: [2000000], name: a}\n"
        "- {program: primes.elf, args: [20000], priority: 2}\n"
        "- {program: primes.elf, args: [20000], priority: 2}\n"      # the same job twice, unnamed
        "- {program: intloop.elf, args: [3000000], memory: 8MiB}\n")
    ckpt, out1, out2 = tmp_path / "ckpt", tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    common = ["--address", cluster.address, "--checkpoint-dir", str(ckpt), "--slice-cycles", "500k"]
    one = subprocess.run(cli("batch", str(here / "jobs.yaml"), "--out", str(out1), *common),
                         capture_output=True, timeout=300)
    assert one.returncode == 0, one.stderr.decode(errors="replace")[-3000:]
    first = [json.loads(ln) for ln in read_lines(out1)]
    assert len(first) == 4 and len({r["job_id"] for r in first}) == 4
    progress = last_progress(one.stderr.decode())
    assert (progress["migrations"], progress["preemptions"], progress["recoveries"]) == \
        tuple(sum(r[k] for r in first) for k in ("migrations", "preemptions", "recoveries"))

    shutil.move(str(here), str(tmp_path / "moved"))
    two = subprocess.run(cli("batch", str(tmp_path / "moved" / "jobs.yaml"), "--resume",
                             "--out", str(out2), *common), capture_output=True, timeout=300)
    text = two.stderr.decode(errors="replace")
    assert two.returncode == 0, text[-3000:]
    assert "runs again" not in text and "left alone" not in text, text
    second = [json.loads(ln) for ln in read_lines(out2)]
    key = lambda r: r["job_id"]     # noqa: E731
    assert sorted(second, key=key) == sorted(first, key=key), "nothing may run again"
    progress = last_progress(text)
    assert progress["rate"] == 0, "no instruction ran in the resumed batch"
    assert (progress["done"], progress["migrations"], progress["preemptions"]) == \
        (4, sum(r["migrations"] for r in first), sum(r["preemptions"] for r in first))

    # An edited entry is a new job: it runs, and the old files are named and kept.
    moved = tmp_path / "moved" / "jobs.yaml"
    moved.write_text(moved.read_text().replace("args: [2000000], name: a", "args: [2100000], name: a"))
    old_files = sorted(p.name for p in ckpt.iterdir())
    three = subprocess.run(cli("batch", str(moved), "--resume", "--out", str(tmp_path / "3.jsonl"),
                               *common), capture_output=True, timeout=300)
    text = three.stderr.decode(errors="replace")
    assert three.returncode == 0, text[-3000:]
    assert re.search(r"job a runs again from the start: its entry changed since the earlier "
                     r"run \(args\)", text), text
    assert re.search(r"file\(s\) in .* belong to no job of this manifest and are left alone", text)
    assert set(old_files) <= {p.name for p in ckpt.iterdir()}, "an orphan file was deleted"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["batch", "run"])
def test_an_address_where_no_cluster_listens_fails_within_the_bound(tmp_path, command):
    manifest = tmp_path / "jobs.jsonl"
    write_manifest(manifest, str(INTLOOP), [1000])
    target = str(manifest) if command == "batch" else str(INTLOOP)
    t0 = time.monotonic()
    proc = subprocess.run(cli(command, "--address", f"127.0.0.1:{closed_port()}",
                              "--connect-timeout", "3", target), capture_output=True, timeout=120)
    took = time.monotonic() - t0
    text = proc.stderr.decode(errors="replace")
    assert proc.returncode == 69, text
    assert took < 20, f"took {took:.1f} s with --connect-timeout 3"
    assert "Traceback" not in text and text.count("\n") == 1, text
    assert "no Ray cluster answered" in text and "--connect-timeout" in text, text
    assert proc.stdout == b""
