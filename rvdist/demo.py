"""``rvdist demo``: run the bundled example programs and check every result.

First, in process, each program runs twice: once without interruption and
once cut into slices of random sizes; the two must agree exactly (exit code,
output, cycles, registers, memory, files written), the property migration
rests on. Then every program runs twice more as jobs on an embedded local
Ray, in slices on resident host actors, moving between hosts as slots free
up; each result must equal the in-process one.

One of them, stats.elf, is a stock C program built with Debian's
riscv64-linux-gnu-gcc -O2 -static (glibc; tests/guests/linux/stats.c): it
reads a file the job declares, uses malloc, qsort and libm, prints with
printf, and writes a report file that comes back with the result.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Optional, TextIO

from rvdist.machine import Machine
from rvdist.program import Program


@dataclass(frozen=True)
class DemoJob:
    program: str
    args: tuple[str, ...]
    stdin: bytes
    memory: int
    expect_stdout: Optional[str]
    expect_exit: int
    files: tuple[tuple[str, bytes], ...] = ()
    expect_files: tuple[str, ...] = ()


def _samples() -> bytes:
    """The stats job's input: 3000 numbers from a fixed integer sequence."""
    x, out = 12345, []
    for _ in range(3000):
        x = (x * 1103515245 + 12345) % 2**31
        out.append(f"{(x >> 8) % 100000 / 1000:.3f}")
    return ("\n".join(out) + "\n").encode()


JOBS = (
    DemoJob("hello.elf", ("from", "the", "demo"), b"", 4 << 20,
            "hello from rvdist\nfrom\nthe\ndemo\n", 4),
    DemoJob("upper.elf", (), b"slices are invisible to the guest\n", 4 << 20,
            "SLICES ARE INVISIBLE TO THE GUEST\n", 0),
    DemoJob("primes.elf", ("20000",), b"", 4 << 20, None, 0),
    DemoJob("intloop.elf", ("2000000",), b"", 4 << 20, None, 0),
    DemoJob("memsort.elf", ("1",), b"", 8 << 20, None, 0),
    DemoJob("stats.elf", ("/data/samples.txt", "/out/report.txt"), b"", 16 << 20,
            "3000 samples: mean 50.025790, sd 28.954616, median 49.495500, min 0.005, max 99.99\n"
            "report written to /out/report.txt\n", 0,
            files=(("/data/samples.txt", _samples()),), expect_files=("/out/report.txt",)),
)


def _program(name: str) -> Program:
    data = resources.files("rvdist").joinpath("programs", name).read_bytes()
    return Program(data, name=name)


def _fingerprint(m: Machine) -> tuple:
    memory = hashlib.sha256(m.read_memory(0, m.memory_size)).hexdigest()
    return (m.exit_code, m.stdout, m.stderr, m.cycles, m.pc, list(m.registers), memory, m.files())


def _machine(job: DemoJob) -> Machine:
    return Machine(_program(job.program), args=job.args, stdin=job.stdin, memory_size=job.memory,
                   files=dict(job.files))


def run_job(job: DemoJob, rng: random.Random) -> dict:
    whole = _machine(job)
    t0 = time.perf_counter()
    result = whole.run()
    elapsed = time.perf_counter() - t0

    sliced = _machine(job)
    slices = 0
    while not sliced.run(rng.choice((1, 7, 1000, 12_345, 250_000))).done:
        slices += 1

    problems = []
    if result.state != "exited":
        problems.append(f"did not exit: {result.error}")
    if result.exit_code != job.expect_exit:
        problems.append(f"exit code {result.exit_code}, expected {job.expect_exit}")
    if job.expect_stdout is not None and whole.stdout.decode(errors="replace") != job.expect_stdout:
        problems.append("unexpected output")
    if sorted(whole.files()) != sorted(job.expect_files):
        problems.append(f"wrote files {sorted(whole.files())}, expected {list(job.expect_files)}")
    if _fingerprint(whole) != _fingerprint(sliced):
        problems.append("the sliced run differs from the uninterrupted run")
    return {"program": job.program, "args": list(job.args), "exit_code": result.exit_code,
            "cycles": whole.cycles, "slices": slices + 1, "seconds": elapsed,
            "stdout": whole.stdout.decode(errors="replace"), "ok": not problems,
            "problems": problems}


def run_on_ray(rng: random.Random, json_output: bool, out: TextIO = sys.stdout,
               executor_options: Optional[dict[str, Any]] = None) -> dict:
    """Every demo job twice on an embedded local Ray, in 1M-cycle slices on
    resident host actors, checked against the in-process results."""
    from rvdist.executor import Executor

    refs = {}
    for job in JOBS:
        m = _machine(job)
        m.run()
        refs[job.program] = (m.exit_code, m.stdout, m.cycles, m.files())
    t0 = time.perf_counter()
    with Executor(slice_cycles=1_000_000, **(executor_options or {})) as ex:
        submitted = []
        for round_ in range(2):
            for job in JOBS:
                submitted.append((job, ex.submit(_program(job.program), args=job.args, stdin=job.stdin,
                                                 memory_size=job.memory, files=dict(job.files),
                                                 name=f"{job.program}#{round_}")))
        handles = [h for _, h in submitted]
        # Show a requested live move too: the longest job goes to another host.
        longest = max(submitted, key=lambda p: refs[p[0].program][2])[1]
        while longest.status() == "pending":
            time.sleep(0.001)
        ex.migrate(longest)
        problems, migrations, slices = [], 0, 0
        for done in ex.as_completed(handles, timeout=600):
            r = done.result()
            job = next(j for j, h in submitted if h is done)
            migrations += r.migrations
            slices += r.slices
            same = (r.exit_code, r.stdout, r.cycles, r.files) == refs[job.program]
            if not same:
                problems.append(f"{r.name}: differs from the in-process run")
            if not json_output:
                print(f"{'ok  ' if same else 'FAIL'} "
                      f"ray {r.name:<14} {r.slices:>4} slices  {r.migrations} migrations  "
                      f"nodes {len(r.nodes)}", file=out, flush=True)
        slots = len(ex._slots)
    if migrations == 0:
        problems.append("no job migrated between hosts")
    return {"ok": not problems, "problems": problems, "jobs": len(handles), "slots": slots,
            "slices": slices, "migrations": migrations, "seconds": time.perf_counter() - t0}


def main(json_output: bool = False, seed: int = 2026, ray: bool = True,
         out: TextIO = sys.stdout, executor_options: Optional[dict[str, Any]] = None) -> int:
    """Run the demo, report to ``out``; 0 if every result was right, else 1."""
    rng = random.Random(seed)
    reports = []
    for job in JOBS:
        rep = run_job(job, rng)
        reports.append(rep)
        if not json_output:
            mark = "ok  " if rep["ok"] else "FAIL"
            speed = rep["cycles"] / rep["seconds"] / 1e6 if rep["seconds"] else 0.0
            print(f"{mark} {rep['program']:<12} exit {rep['exit_code']:<3} "
                  f"{rep['cycles']:>12,} cycles  {speed:8.1f} M instr/s  "
                  f"{rep['slices']:>7,} slices agree with one run"
                  + ("" if rep["ok"] else "  -> " + "; ".join(rep["problems"])), file=out,
                  flush=True)
    failed = [r for r in reports if not r["ok"]]
    on_ray = run_on_ray(rng, json_output, out, executor_options) if ray else None
    ok = not failed and (on_ray is None or on_ray["ok"])
    if json_output:
        print(json.dumps({"ok": ok, "jobs": reports, "ray": on_ray}), file=out, flush=True)
    else:
        print(f"{len(reports) - len(failed)}/{len(reports)} programs correct in process; "
              "sliced runs were bit-identical to uninterrupted ones", file=out)
        if on_ray is not None:
            print(f"ray: {on_ray['jobs']} jobs on {on_ray['slots']} resident hosts, "
                  f"{on_ray['slices']} slices, {on_ray['migrations']} live migrations, "
                  f"{on_ray['seconds']:.1f} s: "
                  + ("every result matched" if on_ray["ok"] else "; ".join(on_ray["problems"])),
                  file=out, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main("--json" in sys.argv))
