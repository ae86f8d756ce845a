"""The examples in examples/ run as a user would run them, and say what is true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rvdist

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WORDCOUNT = EXAMPLES / "wordcount"


def run(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}    # its own Ray
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return proc


def test_snapshot_resume(tmp_path):
    out = run(str(EXAMPLES / "snapshot_resume.py"), cwd=tmp_path).stdout.decode()
    assert "identical to the uninterrupted run" in out, out


def test_the_wordcount_manifest_runs_as_a_batch(tmp_path):
    results = tmp_path / "results.jsonl"
    run("-m", "rvdist.cli", "batch", str(WORDCOUNT / "jobs.yaml"), "--quiet", "--out",
        str(results), "--out-dir", str(tmp_path / "files"), cwd=tmp_path)
    got = {r["name"]: r for r in map(json.loads, results.read_text().splitlines())}
    texts = sorted((WORDCOUNT / "texts").glob("*.txt"))
    assert set(got) == {t.stem for t in texts} | {"all-top10"}
    for name, args, env in [(t.stem, [t], {}) for t in texts] + [("all-top10", texts, {"TOP": "10"})]:
        rel = [f"texts/{t.name}" for t in args]
        m = rvdist.Machine(EXAMPLES / "guests/wordcount.elf", args=rel, env=env,
                           files={r: t for r, t in zip(rel, args)})
        m.run()
        assert (got[name]["status"], got[name]["exit_code"], got[name]["stdout"]) == \
            ("done", 0, m.stdout.decode()), name
        assert (tmp_path / "files" / name / "out/top.txt").read_bytes() == m.files()["/out/top.txt"]
    assert (tmp_path / "files/all-top10/out/top.txt").read_text().count("\n") == 10


def test_orchestrate_renders_the_image(tmp_path):
    out = run(str(EXAMPLES / "orchestrate.py"), "--out", "m.pgm", cwd=tmp_path).stdout.decode()
    assert "preview done" in out and "matches a run in this process: True" in out, out
    image = (tmp_path / "m.pgm").read_bytes()
    header = b"P5\n1280 800\n255\n"
    assert image.startswith(header) and len(image) == len(header) + 1280 * 800


@pytest.mark.slow
def test_the_spot_drill(tmp_path):
    out = run(str(EXAMPLES / "spot_drill.py"), cwd=tmp_path, timeout=900).stdout.decode()
    lines = out.splitlines()
    assert [line[:3] for line in lines[:3]] == ["1. ", "2. ", "3. "], out
    assert lines[-1] == "every job ended once, identical to an uninterrupted run", out
