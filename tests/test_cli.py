"""The ``rvdist`` command line, run as a real subprocess."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rvdist
from support.guests import GUESTS, guest_paths, symbols


HELLO = str(GUESTS / "c/hello.elf")
MSG = b"spam spam spam spam\n"


def rvdist_cli(*args: str, stdin: bytes = b"", cwd: Path | None = None,
               local: bool = True) -> subprocess.CompletedProcess:
    """Run the CLI. ``rvdist run`` gets --local unless ``local=False``: starting
    an embedded Ray per call would cost seconds each; the Ray path has its own tests."""
    if local and args[:1] == ("run",):
        args = ("run", "--local", *args[1:])
    return subprocess.run([sys.executable, "-m", "rvdist.cli", *args], input=stdin,
                          capture_output=True, timeout=120, cwd=cwd)


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")


def json_result(proc: subprocess.CompletedProcess) -> dict:
    """The one JSON object --json must print, and nothing else on stdout."""
    no_traceback(proc)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got {proc.stdout[:500]!r}"
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


# --- help and entry points -------------------------------------------------------


def test_help() -> None:
    top = rvdist_cli("--help")
    assert top.returncode == 0 and b"run" in top.stdout
    run = rvdist_cli("run", "--help")
    assert run.returncode == 0
    for option in (b"--json", b"--max-cycles", b"--slice-cycles", b"--memory", b"--stdin",
                   b"--cost-model", b"--output-limit", b"124", b"125", b"69", b"--connect-timeout",
                   b"--verbose", b"--file", b"--out-dir", b"--env", b"--seed", b"--cwd"):
        assert option in run.stdout, f"{option!r} missing from `rvdist run --help`"
    text = b" ".join(run.stdout.split())
    assert b"Prefer --local for short programs" in text, "say when --local is the better choice"
    no_traceback(top)
    no_traceback(run)


def test_console_script() -> None:
    """The `rvdist` command that `pip install` makes (pyproject's [project.scripts])."""
    exe = shutil.which("rvdist")
    assert exe is not None, "the rvdist console script is not on PATH: install the package " \
                            "(pip install -e .) before running the tests"
    proc = subprocess.run([exe, "run", "--local", HELLO, "x"], capture_output=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (2, b"hello from rvdist\nx\n")
    assert subprocess.run([exe, "--help"], capture_output=True, timeout=120).returncode == 0


def test_no_command_is_a_usage_error() -> None:
    proc = rvdist_cli()
    assert proc.returncode == 2
    no_traceback(proc)


# --- running ----------------------------------------------------------------------


def test_run_passes_output_and_exit_code() -> None:
    proc = rvdist_cli("run", HELLO, "a", "b")
    assert proc.stdout == b"hello from rvdist\na\nb\n"
    assert proc.returncode == 3, "rvdist exits with the guest's exit code (argc)"
    assert proc.stderr == b""


def test_guest_args_that_look_like_options() -> None:
    proc = rvdist_cli("run", HELLO, "--", "--json", "-x")
    assert (proc.returncode, proc.stdout) == (3, b"hello from rvdist\n--json\n-x\n")


def test_exit_code_is_taken_mod_256() -> None:
    args = [str(i) for i in range(299)]  # argc = 300
    proc = rvdist_cli("run", HELLO, "--", *args)
    assert proc.returncode == 300 % 256
    assert proc.stdout.count(b"\n") == 300


def test_json_result() -> None:
    proc = rvdist_cli("run", "--json", "--slice-cycles", "50", HELLO, "a", "b")
    obj = json_result(proc)
    assert proc.returncode == 3
    assert obj["status"] == "done" and obj["exit_code"] == 3
    assert obj["stdout"] == "hello from rvdist\na\nb\n" and obj["stderr"] == ""
    assert obj["error"] is None
    assert obj["cost_model"] == "unit"
    assert isinstance(obj["cycles"], int) and obj["cycles"] > 100
    assert obj["slices"] == -(-obj["cycles"] // 50) > 1, obj
    one = json_result(rvdist_cli("run", "--json", HELLO, "a", "b"))
    assert one["slices"] == 1 and one["cycles"] == obj["cycles"]
    assert proc.stderr == b""


def test_json_binary_output() -> None:
    data = b"\xff\xfe bytes \x80"
    proc = rvdist_cli("run", "--json", "--stdin", "-", str(GUESTS / "c/upper.elf"), stdin=data)
    obj = json_result(proc)
    assert base64.b64decode(obj["stdout_base64"]) == b"\xff\xfe BYTES \x80"
    assert proc.returncode == 0


def test_stdin_from_file_and_pipe(tmp_path: Path) -> None:
    upper = str(GUESTS / "c/upper.elf")
    text = b"from a file, " * 50 + b"end\n"
    f = tmp_path / "in.txt"
    f.write_bytes(text)
    proc = rvdist_cli("run", "--stdin", str(f), upper)
    assert (proc.returncode, proc.stdout) == (0, text.upper())
    proc = rvdist_cli("run", "--stdin", "-", upper, stdin=b"piped in\n")
    assert (proc.returncode, proc.stdout) == (0, b"PIPED IN\n")
    proc = rvdist_cli("run", upper, stdin=b"ignored without --stdin")
    assert (proc.returncode, proc.stdout) == (0, b"")


def test_memory_option() -> None:
    obj = json_result(rvdist_cli("run", "--json", "--memory", "64MiB", str(GUESTS / "c/memsort.elf"), "4k"))
    assert (obj["status"], obj["exit_code"]) == ("done", 0)
    assert obj["stdout"].startswith("elements=512\n") and "sorted=yes\n" in obj["stdout"]
    small = json_result(rvdist_cli("run", "--json", "--memory", "64KiB", str(GUESTS / "c/memsort.elf"), "4k"))
    assert small["error"]["kind"] == "program", "the program does not fit 64 KiB"


def test_cost_model_option(tmp_path: Path) -> None:
    muldiv = str(GUESTS / "isa/muldiv.elf")
    unit = json_result(rvdist_cli("run", "--json", muldiv))
    ckb = json_result(rvdist_cli("run", "--json", "--cost-model", "ckb", muldiv))
    table = tmp_path / "costs.json"
    table.write_text(json.dumps({"div": 7}))
    custom = json_result(rvdist_cli("run", "--json", "--cost-model", str(table), muldiv))
    assert unit["exit_code"] == ckb["exit_code"] == custom["exit_code"] == 0
    assert (unit["cost_model"], ckb["cost_model"], custom["cost_model"]) == ("unit", "ckb", "custom")
    assert ckb["cycles"] > unit["cycles"] and custom["cycles"] > unit["cycles"]
    assert custom["cycles"] != ckb["cycles"]


# --- guest errors -------------------------------------------------------------------


def test_guest_fault_json() -> None:
    relpath = "faults/store_text.elf"
    syms = symbols(relpath)
    proc = rvdist_cli("run", "--json", str(GUESTS / relpath))
    obj = json_result(proc)
    assert proc.returncode == 125
    assert obj["status"] == "failed" and obj["exit_code"] is None
    err = obj["error"]
    assert err["kind"] == "write_exec"
    assert (err["pc"], err["address"]) == (syms["fault_here"], syms["fault_addr"])
    assert f"{syms['fault_here']:#x}" in err["message"]


FAULT_OPTIONS = {"infinite_loop": ["--max-cycles", "1000"], "write_forever": ["--output-limit", "100"]}


FAULT_PARAMS = [pytest.param(p, id=Path(p).stem) for p in guest_paths("faults/*.elf")]


@pytest.mark.parametrize("relpath", FAULT_PARAMS)
def test_every_fault_json(relpath: str) -> None:
    name = Path(relpath).stem
    proc = rvdist_cli("run", "--json", *FAULT_OPTIONS.get(name, []), str(GUESTS / relpath))
    obj = json_result(proc)
    assert proc.returncode == (124 if name == "infinite_loop" else 125), proc.returncode
    assert obj["status"] == "failed"
    assert obj["error"] is not None, "a guest error must be described"
    assert {"kind", "pc", "address", "message"} <= obj["error"].keys()
    assert obj["error"]["pc"] == symbols(relpath)["fault_here"]


@pytest.mark.parametrize("relpath", FAULT_PARAMS)
def test_every_fault_plain(relpath: str) -> None:
    name = Path(relpath).stem
    proc = rvdist_cli("run", *FAULT_OPTIONS.get(name, []), str(GUESTS / relpath))
    no_traceback(proc)
    assert proc.returncode == (124 if name == "infinite_loop" else 125), proc.returncode
    assert b"rvdist: guest error" in proc.stderr, proc.stderr


def test_max_cycles_exit_124() -> None:
    proc = rvdist_cli("run", "--json", "--max-cycles", "1000", str(GUESTS / "faults/infinite_loop.elf"))
    obj = json_result(proc)
    assert proc.returncode == 124
    assert obj["error"]["kind"] == "cycles_exceeded" and obj["cycles"] == 1000
    proc = rvdist_cli("run", "--max-cycles", "50", HELLO)
    assert proc.returncode == 124 and b"max_cycles" in proc.stderr


def test_output_limit_passthrough() -> None:
    proc = rvdist_cli("run", "--output-limit", "1000", "--slice-cycles", "77",
                      str(GUESTS / "faults/write_forever.elf"))
    assert proc.returncode == 125
    assert proc.stdout == MSG * 50, "output up to the limit must all get through"
    assert b"output limit" in proc.stderr


# --- bad input ------------------------------------------------------------------------


BAD_INPUTS = {
    "not-elf": lambda d: [str(GUESTS / "README.md")],
    "empty-file": lambda d: [str(d / "empty.elf")],
    "missing-file": lambda d: [str(d / "no-such.elf")],
    "directory": lambda d: [str(d)],
    "memory-parsecs": lambda d: ["--memory", "12parsecs", HELLO],
    "memory-not-page": lambda d: ["--memory", "4097", HELLO],
    "memory-zero": lambda d: ["--memory", "0", HELLO],
    "memory-too-big": lambda d: ["--memory", "8GiB", HELLO],
    "memory-too-small": lambda d: ["--memory", "64KiB", HELLO],
    "cost-model": lambda d: ["--cost-model", "nope", HELLO],
    "cost-file": lambda d: ["--cost-model", str(d / "bad.json"), HELLO],
    "slice-zero": lambda d: ["--slice-cycles", "0", HELLO],
    "max-cycles-negative": lambda d: ["--max-cycles", "-5", HELLO],
    "stdin-missing": lambda d: ["--stdin", str(d / "no-such.txt"), HELLO],
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "plain"])
def test_bad_input_exits_2(case: str, json_mode: bool, tmp_path: Path) -> None:
    (tmp_path / "empty.elf").write_bytes(b"")
    (tmp_path / "bad.json").write_text('{"div": 0}')
    args = BAD_INPUTS[case](tmp_path)
    proc = rvdist_cli("run", *(["--json"] if json_mode else []), *args)
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    no_traceback(proc)
    if json_mode:
        obj = json_result(proc)
        assert obj["status"] == "failed" and obj["exit_code"] is None
        assert {"kind", "message"} <= obj["error"].keys() and obj["error"]["message"]
    else:
        assert proc.stdout == b""
        assert b"error" in proc.stderr


def test_demo_runs_end_to_end_on_an_embedded_ray() -> None:
    """The README's first command: every bundled program, in process and on Ray."""
    proc = rvdist_cli("demo", "--json")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    report = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert report["ok"] is True
    assert all(j["ok"] for j in report["jobs"])
    ray_part = report["ray"]
    assert ray_part["ok"] and ray_part["jobs"] == 12 and ray_part["migrations"] >= 1
    assert ray_part["slices"] > ray_part["jobs"], "long jobs ran in several slices"


def test_the_demo_programs_are_the_test_guests() -> None:
    """rvdist/programs/ ships what `rvdist demo` runs; in this tree each is a link to
    the guest that `make -C tests/guests` builds (a wheel holds the files)."""
    from rvdist.demo import JOBS, _program

    bundled = Path(rvdist.__file__).parent / "programs"
    assert sorted(p.name for p in bundled.glob("*.elf")) == sorted({j.program for j in JOBS})
    for job in JOBS:
        link = bundled / job.program
        assert link.is_symlink(), f"{job.program} is a copy, not a link"
        # stats.elf is a stock glibc program (tests/guests/linux/); the others are in c/.
        source = link.resolve()
        assert source.name == job.program and source.parent in (GUESTS / "c", GUESTS / "linux"), source
        assert _program(job.program).data == source.read_bytes()


def test_batch_runs_a_manifest_end_to_end(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        f"- {{program: {GUESTS / 'c/primes.elf'}, args: [3000], name: primes}}\n"
        f"- {{program: {GUESTS / 'c/upper.elf'}, stdin: 'batch me', priority: 3}}\n"
        f"- {{program: {GUESTS / 'c/intloop.elf'}, args: [100000], memory: 8MiB}}\n")
    out, events = tmp_path / "results.jsonl", tmp_path / "events.jsonl"
    proc = rvdist_cli("batch", str(manifest), "--out", str(out), "--slice-cycles", "100k",
                      "--events", str(events))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    results = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert len(results) == 3 and all(r["status"] == "done" and r["exit_code"] == 0 for r in results.values())
    ref = rvdist.Machine(GUESTS / "c/primes.elf", args=["3000"])
    ref.run()
    assert results["primes"]["stdout"] == ref.stdout.decode() and results["primes"]["cycles"] == ref.cycles
    assert b"3/3 jobs" in proc.stderr and b"preemptions" in proc.stderr
    evs = [json.loads(line) for line in events.read_text().splitlines()]
    primes = [e for e in evs if e["job"] == "primes"]
    assert [e["event"] for e in primes][0] == "start" and primes[-1]["event"] == "finish"
    # a slice event is a run of slices on one node
    assert sum(e["slices"] for e in primes if e["event"] == "slice") == results["primes"]["slices"]
    assert all(e["node"] and e["time"] for e in primes)


def test_batch_fails_on_a_failing_job_and_on_a_bad_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"program": str(GUESTS / "faults/csr.elf")}) + "\n")
    proc = rvdist_cli("batch", str(manifest), "--quiet")
    no_traceback(proc)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error"]["kind"] == "illegal_instruction"
    # a guest that exits non-zero is done (it ran to its end), not failed;
    # the progress line counts the two apart and the batch exits 1 for either
    manifest.write_text(json.dumps({"program": str(HELLO), "args": ["a", "b"]}) + "\n"
                        + json.dumps({"program": str(GUESTS / "faults/csr.elf")}) + "\n"
                        + json.dumps({"program": str(GUESTS / "c/primes.elf"), "args": ["100"]}) + "\n")
    proc = rvdist_cli("batch", str(manifest))
    no_traceback(proc)
    assert proc.returncode == 1
    assert sorted((r["status"], r["exit_code"]) for r in map(json.loads, proc.stdout.splitlines())) \
        == [("done", 0), ("done", 3), ("failed", None)]
    assert b"3/3 jobs  1 failed  1 exited non-zero  " in proc.stderr, proc.stderr[-500:]
    manifest.write_text('{"program": "x.elf", "colour": "red"}\n')
    proc = rvdist_cli("batch", str(manifest))
    no_traceback(proc)
    assert proc.returncode == 2 and b"colour" in proc.stderr


def test_run_goes_through_the_executor_by_default(cluster) -> None:
    memsort = str(GUESTS / "c/memsort.elf")
    local = json_result(rvdist_cli("run", "--json", "--memory", "8MiB", memsort, "64k"))
    obj = json_result(rvdist_cli("run", "--json", "--address", cluster.address, "--memory", "8MiB",
                                 "--slice-cycles", "100k", memsort, "64k", local=False))
    assert obj["nodes"], "the job ran on no Ray node"
    assert obj["slices"] >= local["cycles"] // 100_000
    for key in ("status", "exit_code", "cycles", "stdout", "stderr", "error"):
        assert obj[key] == local[key], key
    proc = rvdist_cli("run", "--address", cluster.address, HELLO, "a", local=False)
    assert (proc.returncode, proc.stdout) == (2, b"hello from rvdist\na\n")
    proc = rvdist_cli("run", "--address", cluster.address, "--max-cycles", "50", HELLO, local=False)
    assert proc.returncode == 124 and b"cycles" in proc.stderr


def test_suspend_resume_and_snapshot_info_share_the_status_vocabulary(tmp_path: Path) -> None:
    primes, snap = str(GUESTS / "c/primes.elf"), tmp_path / "a.snap"
    whole = json_result(rvdist_cli("run", "--json", primes, "3000"))
    part = rvdist_cli("run", "--json", "--max-cycles", "20000", "--suspend-to", str(snap), primes, "3000")
    obj = json_result(part)
    assert (part.returncode, obj["status"], obj["cycles"]) == (75, "suspended", 20000)
    info = json_result(rvdist_cli("snapshot", "info", "--json", str(snap)))
    assert info["cycles"] == 20000
    rest = rvdist_cli("resume", "--json", str(snap), primes)
    done = json_result(rest)
    assert (rest.returncode, done["status"], done["cycles"], done["stdout"]) == \
        (0, "done", whole["cycles"], whole["stdout"])
    assert whole["status"] == "done"
    (tmp_path / "bad.snap").write_bytes(b"junk")
    for cmd in (("snapshot", "info", "--json", str(tmp_path / "bad.snap")),
                ("resume", "--json", str(tmp_path / "bad.snap"), primes)):
        proc = rvdist_cli(*cmd)
        bad = json_result(proc)
        assert (proc.returncode, bad["status"], bad["error"]["kind"]) == (2, "failed", "snapshot"), cmd


# --- the Linux job spec: files, env, seed, cwd, out-dir --------------------------------

LINUX = GUESTS / "linux"
DATA_FILES = ("--file", f"data/words.txt={LINUX / 'data/words.txt'}",
              "--file", f"/data/numbers.bin={LINUX / 'data/numbers.bin'}")


def test_run_declares_files_and_writes_what_the_guest_created(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = rvdist_cli("run", "--memory", "64MiB", *DATA_FILES, "--out-dir", str(out),
                      str(LINUX / "files.elf"))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert b"words.txt: 120 lines" in proc.stdout
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["out/log.txt", "out/report.txt"]
    assert (out / "out/log.txt").read_bytes() == b"first\nsecond\n"
    obj = json_result(rvdist_cli("run", "--json", "--memory", "64MiB", *DATA_FILES, str(LINUX / "files.elf")))
    assert obj["files"] == ["/out/log.txt", "/out/report.txt"]


def test_run_passes_env_seed_and_cwd(tmp_path: Path) -> None:
    proc = rvdist_cli("run", "--env", "WHO=the cli", "--env", "X=1", str(LINUX / "hello.elf"))
    assert proc.returncode == 41 and b"WHO=the cli\n" in proc.stdout      # exits argc + 40
    probe = [str(LINUX / "probe.elf"), "words.txt"]
    proc = rvdist_cli("run", "--cwd", "/d", "--file", f"/d/words.txt={LINUX / 'data/words.txt'}", *probe)
    assert b"words.txt: opened" in proc.stdout
    seeds = [rvdist_cli("run", "--json", "--seed", s, str(LINUX / "random.elf")) for s in ("1", "1", "2")]
    assert json_result(seeds[0])["stdout"] == json_result(seeds[1])["stdout"]
    bad = rvdist_cli("run", "--file", "nohostpath", HELLO)
    assert bad.returncode == 2 and b"GUEST_PATH=HOST_PATH" in bad.stderr
    missing = rvdist_cli("run", "--file", "/x=/no/such/file", HELLO)
    assert missing.returncode == 2 and b"cannot read" in missing.stderr


def test_resume_gets_the_files_again(tmp_path: Path) -> None:
    snap, out = tmp_path / "files.snap", tmp_path / "out"
    proc = rvdist_cli("run", "--memory", "64MiB", *DATA_FILES, "--max-cycles", "60000",
                      "--suspend-to", str(snap), str(LINUX / "files.elf"))
    assert proc.returncode == 75, proc.stderr
    proc = rvdist_cli("resume", str(snap), str(LINUX / "files.elf"))
    no_traceback(proc)
    assert proc.returncode == 2 and b"needs a declared file" in proc.stderr
    proc = rvdist_cli("resume", str(snap), str(LINUX / "files.elf"), *DATA_FILES, "--out-dir", str(out))
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert (out / "out/report.txt").is_file() and b"in out, log.txt readable: yes" in proc.stdout


def test_run_and_batch_on_ray_carry_files(cluster, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = rvdist_cli("run", "--address", cluster.address, "--memory", "64MiB", "--slice-cycles", "20k",
                      *DATA_FILES, "--out-dir", str(out), str(LINUX / "files.elf"), local=False)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert (out / "out/log.txt").read_bytes() == b"first\nsecond\n"
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        f"- {{program: {LINUX / 'stats.elf'}, args: [in.txt, /res/r.txt], name: stats, memory: 16MiB,\n"
        f"   files: {{in.txt: {LINUX / 'data/samples.txt'}}}, cwd: work}}\n"  # relative: from /
        f"- {{program: {LINUX / 'hello.elf'}, name: hi, env: {{WHO: batch}}, seed: 7}}\n")
    results = tmp_path / "results.jsonl"
    proc = rvdist_cli("batch", str(manifest), "--address", cluster.address, "--out", str(results),
                      "--out-dir", str(tmp_path / "files"), "--quiet")
    no_traceback(proc)
    by_name = {r["name"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert by_name["stats"]["status"] == "done" and by_name["stats"]["exit_code"] == 0
    assert b"WHO=batch" in by_name["hi"]["stdout"].encode()
    assert (tmp_path / "files/stats/res/r.txt").read_bytes() == \
        base64.b64decode(by_name["stats"]["files"]["/res/r.txt"])
    assert proc.returncode == 1     # hello exits 43: a job that exits non-zero fails the batch
