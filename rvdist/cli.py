"""The ``rvdist`` command line.

Exit status of ``rvdist run`` and ``rvdist resume``: the guest's own exit
code when it exits; 75 when it was suspended to a snapshot
(``--suspend-to``); 124 when it runs out of cycles (``--max-cycles``); 125
for any other guest error (fault, illegal instruction, unsupported syscall,
...); 2 for bad input (unreadable or invalid program or snapshot, bad
option values); 69 when no Ray cluster answers at ``--address`` or no host
can start on it; 130 or 143 when stopped by SIGINT (Ctrl-C) or SIGTERM.

Every command keeps stdout for its results (JSON lines, or the guest's own
output). Diagnostics go to stderr; Ray's own messages are dropped unless
``--verbose`` sends them to stderr too.

One status vocabulary everywhere (``run --json``, ``resume --json``, batch
results, :class:`rvdist.JobResult` and :meth:`rvdist.Job.status`):
``done`` (the guest exited: see ``exit_code``), ``failed`` (see ``error``),
``cancelled``, ``suspended`` (``--suspend-to``; or waiting for a slot), and
for a job not ended yet ``pending`` or ``running``.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, NoReturn, Optional, Sequence, TextIO

from rvdist import __version__
from rvdist.errors import ClusterUnavailable, ConfigError, CyclesExceeded, RvError
from rvdist.machine import Machine
from rvdist.outdir import write_out_dir
from rvdist.program import Program
from rvdist.snapshot import Snapshot
from rvdist.units import parse_count, parse_size

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_CYCLES = 124
EXIT_GUEST_ERROR = 125
EXIT_SUSPENDED = 75     # EX_TEMPFAIL: not finished, resumable
EXIT_UNAVAILABLE = 69   # EX_UNAVAILABLE: no cluster answered, or no host could start
DEFAULT_SLICE_CYCLES = 10_000_000
DEFAULT_CONNECT_TIMEOUT = 30.0      # rvdist.connect's; not imported, so --local never loads Ray


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: stop cleanly and exit 128 + ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Parser(argparse.ArgumentParser):
    """argparse that answers in JSON when the command line asked for --json."""

    def error(self, message: str) -> NoReturn:
        if "--json" in sys.argv[1:]:
            _emit_json({"status": "failed", "exit_code": None,
                        "error": {"kind": "usage", "message": message, "pc": None, "address": None}},
                       sys.stdout)
            raise SystemExit(EXIT_BAD_INPUT)
        super().error(message)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _count(text: str) -> int:
    try:
        return parse_count(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _positive_count(text: str) -> int:
    n = _count(text)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return n


EXIT_EPILOG = ("Exit status: the guest's exit code; 75 if suspended to a snapshot; 124 if it ran "
               "out of cycles; 125 on any other guest error; 2 on bad input; 69 if no Ray cluster "
               "answers or no host can start; 130 or 143 if stopped by SIGINT or SIGTERM.")


def _ray_options(parser: argparse.ArgumentParser, address: bool = True) -> None:
    """The options of every command that runs on Ray."""
    if address:
        parser.add_argument("--address", default=None, metavar="ADDR",
                            help="join this Ray cluster ('auto' for the one on this machine); by "
                            "default an embedded local Ray is started (inside 'ray job submit', "
                            "the job's cluster)")
        parser.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT,
                            metavar="SECONDS", help="give up when no cluster answers at --address "
                            f"within this many seconds (default {DEFAULT_CONNECT_TIMEOUT:g})")
    parser.add_argument("--verbose", action="store_true",
                        help="show Ray's own messages and rvdist's progress notes on stderr")


def _file_option(text: str) -> tuple[str, str]:
    guest, sep, host = text.partition("=")
    if not sep or not guest or not host:
        raise argparse.ArgumentTypeError(f"expected GUEST_PATH=HOST_PATH, got {text!r}")
    return guest, host


def _env_option(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return text


def _files_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", dest="files", action="append", type=_file_option, default=[],
                        metavar="GUEST_PATH=HOST_PATH",
                        help="declare a read-only file of the guest's file system with the bytes "
                        "of HOST_PATH (repeatable; a relative GUEST_PATH is taken from --cwd)")
    parser.add_argument("--out-dir", metavar="DIR", default=None,
                        help="write the files the guest created under DIR (DIR/<guest path>)")


def _job_options(parser: argparse.ArgumentParser) -> None:
    """The Linux job spec (docs/linux-abi.md)."""
    _files_options(parser)
    parser.add_argument("--env", action="append", type=_env_option, default=[], metavar="NAME=VALUE",
                        help="an environment variable of the guest (repeatable; none by default)")
    parser.add_argument("--seed", type=_count, default=0, metavar="N",
                        help="seed of the guest's random stream (AT_RANDOM, getrandom; default 0)")
    parser.add_argument("--cwd", default="/", metavar="DIR",
                        help="the guest's working directory (default /)")
    parser.add_argument("--start-time", type=float, default=None, metavar="SECONDS",
                        help="CLOCK_REALTIME at the start, in seconds since the epoch "
                        "(default 2024-01-01T00:00:00Z)")
    parser.add_argument("--file-limit", type=_size, default=None, metavar="SIZE",
                        help="most bytes the files the guest creates may hold (default: half the memory)")


def _job_spec(args: argparse.Namespace) -> dict[str, Any]:
    """Machine / Executor keyword arguments from the job options."""
    from rvdist.process import DEFAULT_START_TIME
    start = DEFAULT_START_TIME if args.start_time is None else args.start_time
    if isinstance(start, float) and start.is_integer():
        start = int(start)
    return {"files": dict(args.files), "env": list(args.env), "seed": args.seed, "cwd": args.cwd,
            "start_time": start, "file_limit": args.file_limit}


def _suspend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suspend-to", metavar="FILE", default=None,
                        help="when --max-cycles runs out, write a snapshot to FILE and exit 75 "
                        "instead of failing (resume with 'rvdist resume FILE PROGRAM')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rvdist", description="Run RISC-V programs as metered, "
                     "preemptible and migratable jobs.")
    parser.add_argument("--version", action="version", version=f"rvdist {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="run one RISC-V ELF program",
                         description="Run a RISC-V ELF program in cycle slices. Guest stdout "
                         "and stderr pass through; rvdist exits with the guest's exit code. By "
                         "default the program runs as a job on Ray: an embedded local Ray, which "
                         "takes some seconds to start and stop, or the cluster --address names. "
                         "Prefer --local for short programs and quick one-off runs: it starts in "
                         "a fraction of a second and streams output as the guest writes it. Ray "
                         "pays off on a cluster, or for long jobs that should survive the loss "
                         "of a node.",
                         epilog=EXIT_EPILOG)
    run.add_argument("program", metavar="PROGRAM", help="path of a RISC-V ELF executable")
    run.add_argument("args", metavar="ARGS", nargs="*",
                     help="arguments passed to the guest as argv[1:] (put -- before any that start with -)")
    run.add_argument("--memory", type=_size, default="4MiB", metavar="SIZE",
                     help="guest memory, bytes or with a unit such as 64MiB (default 4MiB)")
    run.add_argument("--max-cycles", type=_count, default=None, metavar="N",
                     help="stop with an error when the guest would exceed N cycles")
    run.add_argument("--slice-cycles", type=_positive_count, default=DEFAULT_SLICE_CYCLES,
                     metavar="N", help=f"cycles per slice (default {DEFAULT_SLICE_CYCLES:,})")
    run.add_argument("--cost-model", default="unit", metavar="NAME",
                     help="'unit' (1 cycle per instruction), 'ckb', or a JSON file mapping "
                     "cost classes to cycles")
    run.add_argument("--stdin", metavar="FILE", default=None,
                     help="file whose bytes the guest reads on fd 0 ('-' for this process's stdin)")
    run.add_argument("--output-limit", type=_size, default="16MiB", metavar="SIZE",
                     help="cap on captured stdout and on stderr, each (default 16MiB)")
    run.add_argument("--json", action="store_true",
                     help="print one JSON object with the result (guest output inside it)")
    run.add_argument("--local", action="store_true",
                     help="run in this process instead of as a job on Ray: no Ray start-up "
                     "(seconds), so prefer it for short programs; output streams as the guest "
                     "writes it (implied by --suspend-to)")
    _ray_options(run)
    _job_options(run)
    _suspend_options(run)
    run.set_defaults(func=cmd_run)

    resume = sub.add_parser("resume", help="continue a program from a snapshot",
                            description="Restore a snapshot written by --suspend-to onto its "
                            "program and run on. Output captured before the snapshot is not "
                            "printed again.", epilog=EXIT_EPILOG)
    resume.add_argument("snapshot", metavar="FILE", help="snapshot file")
    resume.add_argument("program", metavar="PROGRAM", help="the ELF the snapshot was taken of")
    resume.add_argument("--max-cycles", type=_count, default=None, metavar="N",
                        help="limit on the guest's total cycles (counted from its start)")
    resume.add_argument("--slice-cycles", type=_positive_count, default=DEFAULT_SLICE_CYCLES,
                        metavar="N", help=f"cycles per slice (default {DEFAULT_SLICE_CYCLES:,})")
    resume.add_argument("--json", action="store_true", help="print one JSON object with the result")
    _files_options(resume)
    _suspend_options(resume)
    resume.set_defaults(func=cmd_resume)

    snapshot = sub.add_parser("snapshot", help="inspect snapshot files")
    snap_sub = snapshot.add_subparsers(dest="snapshot_command", metavar="COMMAND", parser_class=_Parser)
    snap_sub.required = True
    info = snap_sub.add_parser("info", help="summarise a snapshot file",
                               description="Print a snapshot's ids, program, sizes, page counts "
                               "and compression ratio.")
    info.add_argument("snapshot", metavar="FILE", help="snapshot file")
    info.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    info.set_defaults(func=cmd_snapshot_info)

    batch = sub.add_parser("batch", help="run many jobs from a manifest on Ray",
                           description="Run every job of a JSON-lines or YAML manifest on the "
                           "executor (an embedded local Ray, or --address), with a progress line on "
                           "stderr. One JSON result per job goes to --out (or stdout). Exits 1 if "
                           "any job failed or exited non-zero, 2 on a bad manifest.")
    batch.add_argument("manifest", metavar="MANIFEST", help="jobs: .jsonl/.json lines or .yaml")
    batch.add_argument("--out", metavar="FILE", default=None, help="write the results here (JSON lines)")
    _ray_options(batch)
    batch.add_argument("--slice-cycles", type=_positive_count, default=DEFAULT_SLICE_CYCLES, metavar="N",
                       help=f"cycles per slice (default {DEFAULT_SLICE_CYCLES:,})")
    batch.add_argument("--quiet", action="store_true", help="no progress line")
    batch.add_argument("--checkpoint-dir", metavar="DIR", default=None,
                       help="keep every job's checkpoints and result in DIR, so that a killed "
                       "batch can continue with --resume")
    batch.add_argument("--resume", action="store_true",
                       help="continue the batch whose checkpoints are in --checkpoint-dir: recorded "
                       "results are reported without running again, other jobs go on from their "
                       "last checkpoint; each job that starts over is named on stderr, with the "
                       "reason, and files of no job of the manifest are listed and left alone")
    batch.add_argument("--checkpoint-cycles", type=_positive_count, default=None, metavar="N",
                       help="checkpoint each job every N cycles (default 1G)")
    batch.add_argument("--events", metavar="FILE", default=None,
                       help="write every job's events (slices, checkpoints, migrations, "
                       "preemptions, recoveries) to FILE as JSON lines, as they happen "
                       "(appended to the file with --resume)")
    batch.add_argument("--out-dir", metavar="DIR", default=None,
                       help="write the files each job created under DIR/<job name>/ (DIR/<job id>/ "
                       "for a job without a name)")
    batch.set_defaults(func=cmd_batch, json=False)

    demo = sub.add_parser("demo", help="run the bundled example programs and check every result",
                          description="Run the bundled example programs, each once uninterrupted "
                          "and once in random cycle slices, then as jobs on an embedded local Ray "
                          "with live migration between hosts, and check every result.")
    demo.add_argument("--json", action="store_true", help="print one JSON object with all results")
    demo.add_argument("--seed", type=int, default=2026, help="seed of the random slice sizes")
    demo.add_argument("--no-ray", action="store_true", help="skip the part on the embedded local Ray")
    _ray_options(demo, address=False)
    demo.set_defaults(func=cmd_demo)
    return parser


def _in_ray_job_working_dir() -> bool:
    """Whether this process is a ``ray job submit`` driver run in a copy of a working dir."""
    try:
        config = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
        return bool((config.get("runtime_env") or {}).get("working_dir"))
    except (ValueError, AttributeError):
        return False


def cmd_batch(args: argparse.Namespace) -> int:
    from rvdist.batch import run_batch
    if _in_ray_job_working_dir():
        for option in ("out", "events", "checkpoint_dir", "out_dir"):
            value = getattr(args, option)
            if value and not Path(value).is_absolute():
                print(f"rvdist: warning: --{option.replace('_', '-')} {value} is relative, and "
                      f"this Ray job runs in a temporary copy of its working directory, which "
                      f"Ray deletes: give an absolute path to keep it", file=sys.stderr, flush=True)
    return run_batch(Path(args.manifest), Path(args.out) if args.out else None, args.address,
                     args.slice_cycles, args.quiet,
                     checkpoint_dir=Path(args.checkpoint_dir) if args.checkpoint_dir else None,
                     resume=args.resume, checkpoint_cycles=args.checkpoint_cycles,
                     events=Path(args.events) if args.events else None,
                     out_dir=Path(args.out_dir) if args.out_dir else None,
                     results=args.results, executor_options=_executor_options(args))


def cmd_demo(args: argparse.Namespace) -> int:
    from rvdist import demo
    return demo.main(json_output=args.json, seed=args.seed, ray=not args.no_ray,
                     out=args.results, executor_options=_executor_options(args))


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """Executor options from the Ray options of the command line."""
    from rvdist import connect

    def hang(message: str) -> None:     # ray.init is stuck where it cannot be interrupted
        print(f"rvdist: error: {message}", file=sys.stderr, flush=True)
        os._exit(EXIT_UNAVAILABLE)

    connect.set_hang_handler(hang)
    opts: dict[str, Any] = {"connect_timeout": getattr(args, "connect_timeout",
                                                       DEFAULT_CONNECT_TIMEOUT)}
    if args.verbose:
        opts["ray_init"] = {"log_to_driver": True, "logging_level": logging.INFO}
    return opts


def _emit_json(obj: dict[str, Any], out: TextIO) -> None:
    out.write(json.dumps(obj) + "\n")
    out.flush()


def _text_fields(name: str, data: bytes) -> dict[str, Any]:
    """Guest output for JSON: text, plus base64 when it is not valid UTF-8."""
    try:
        return {name: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {name: data.decode("utf-8", errors="replace"),
                f"{name}_base64": base64.b64encode(data).decode("ascii")}


def _bad_input(args: argparse.Namespace, err: Exception, code: int = EXIT_BAD_INPUT) -> int:
    """Report an error that stopped the command, in one line (or one JSON object)."""
    if getattr(args, "json", False):
        info = err.to_dict() if isinstance(err, RvError) else \
            {"kind": "input", "message": str(err), "pc": None, "address": None}
        _emit_json({"status": "failed", "exit_code": None, "error": info}, args.results)
    else:
        print(f"rvdist: error: {err}", file=sys.stderr, flush=True)
    return code


def _cost_model(spec: str) -> Any:
    if spec.endswith(".json") or Path(spec).is_file():
        try:
            table = json.loads(Path(spec).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read cost model file {spec}: {e}") from None
        if not isinstance(table, dict):
            raise ValueError(f"cost model file {spec} must hold a JSON object of class: cycles")
        return table
    return spec


def cmd_run(args: argparse.Namespace) -> int:
    try:
        program = Program.from_file(args.program)
        if args.stdin is None:
            stdin = b""
        elif args.stdin == "-":
            stdin = sys.stdin.buffer.read()
        else:
            try:
                stdin = Path(args.stdin).read_bytes()
            except OSError as e:
                raise ValueError(f"cannot read stdin file {args.stdin}: {e.strerror}") from None
        if not (args.local or args.suspend_to):
            return _run_on_ray(args, program, stdin)
        # With --suspend-to the cycle limit suspends instead of failing, so
        # the machine itself gets no limit and the loop below enforces it.
        machine = Machine(program, args=args.args, stdin=stdin, memory_size=args.memory,
                          cost_model=_cost_model(args.cost_model),
                          max_cycles=None if args.suspend_to else args.max_cycles,
                          output_limit=args.output_limit, **_job_spec(args))
    except ClusterUnavailable:
        raise
    except (RvError, ValueError) as e:
        return _bad_input(args, e)
    return _drive(args, machine)


def _run_on_ray(args: argparse.Namespace, program: Program, stdin: bytes) -> int:
    """``rvdist run`` as one job on the executor; output is printed when it ends
    (before Ray shuts down, which takes another second or so)."""
    from rvdist.executor import Executor

    started = time.perf_counter()
    options = _executor_options(args)
    if args.address is None and not os.environ.get("RAY_ADDRESS"):
        # An embedded Ray for one job: one CPU, so Ray prestarts one worker
        # process instead of one per core, and the one host takes it.
        options["ray_init"] = {"num_cpus": 1, **options.get("ray_init", {})}
    # One job needs one host per node (more only to survive a node's loss).
    with Executor(address=args.address, slice_cycles=args.slice_cycles, slots_per_node=1,
                  **options) as ex:
        r = ex.submit(program, args=args.args, stdin=stdin, memory_size=args.memory,
                      cost_model=_cost_model(args.cost_model), max_cycles=args.max_cycles,
                      output_limit=args.output_limit, **_job_spec(args)).result()
        return _report_job(args, program, r, time.perf_counter() - started)


def _report_job(args: argparse.Namespace, program: Program, r: Any, elapsed: float) -> int:
    """Print a job's result as ``rvdist run`` does, and return its exit status."""
    if r.status != "done" and r.error and r.error.get("kind") in ("config", "program"):
        return _bad_input(args, ValueError(r.error["message"]))
    if args.out_dir and r.files:
        try:
            write_out_dir(args.out_dir, r.files)
        except ConfigError as e:
            return _bad_input(args, e)
    if args.json:
        _emit_json({"status": r.status, "exit_code": r.exit_code, "cycles": r.cycles,
                    "slices": r.slices, "program": {"name": program.name, "digest": program.digest},
                    "cost_model": args.cost_model, "wall_seconds": round(elapsed, 6),
                    "nodes": r.nodes, "migrations": r.migrations,
                    **_text_fields("stdout", r.stdout), **_text_fields("stderr", r.stderr),
                    "files": sorted(r.files), "error": r.error}, args.results)
    else:
        _write_bytes(args.results, r.stdout)
        _write_bytes(sys.stderr, r.stderr)
        if r.error is not None:
            print(f"rvdist: guest error: {r.error['message']}", file=sys.stderr)
    if r.status == "done":
        return (r.exit_code or 0) & 0xFF
    return EXIT_CYCLES if r.error and r.error.get("kind") == "cycles_exceeded" else EXIT_GUEST_ERROR


def cmd_resume(args: argparse.Namespace) -> int:
    try:
        program = Program.from_file(args.program)
        snap = Snapshot.load(args.snapshot)
        machine = Machine.restore(program, snap,
                                  max_cycles=None if args.suspend_to else args.max_cycles,
                                  files=dict(args.files))
    except (RvError, ValueError) as e:
        return _bad_input(args, e)
    return _drive(args, machine)


def _drive(args: argparse.Namespace, machine: Machine) -> int:
    """Run a machine in slices to the end (or to --max-cycles with --suspend-to)."""
    passthrough = not args.json
    sent = [machine.output_length(1), machine.output_length(2)]   # a resumed run printed these
    streams = (args.results, sys.stderr)
    limit = args.max_cycles if args.suspend_to else None
    slices = 0
    suspended = False
    started = time.perf_counter()
    while True:
        remaining = None if limit is None else max(0, limit - machine.cycles)
        capped = remaining is not None and remaining <= args.slice_cycles
        result = machine.run(remaining if capped else args.slice_cycles)
        slices += 1
        if passthrough:
            _pass_output(machine, sent, streams)
        if result.done or result.state == "host_call":
            break
        if capped:      # the next instruction would pass --max-cycles
            suspended = True
            break
    elapsed = time.perf_counter() - started

    snapshot_info = None
    if suspended:
        try:
            snap = machine.snapshot()
            snap.save(args.suspend_to)
        except RvError as e:
            return _bad_input(args, e)
        snapshot_info = {"path": str(args.suspend_to), "id": snap.id,
                         "bytes": snap.info()["encoded_bytes"]}

    status = "suspended" if suspended else ("done" if result.state == "exited" else "failed")
    created = machine.files()
    if args.out_dir and created and not suspended:
        try:
            write_out_dir(args.out_dir, created)
        except ConfigError as e:
            return _bad_input(args, e)
    if args.json:
        obj: dict[str, Any] = {
            "status": status,
            "exit_code": result.exit_code,
            "cycles": machine.cycles,
            "slices": slices,
            "program": {"name": machine.program.name, "digest": machine.program.digest},
            "cost_model": machine.cost_model,
            "wall_seconds": round(elapsed, 6),
            **_text_fields("stdout", machine.stdout),
            **_text_fields("stderr", machine.stderr),
            "files": sorted(created),
            "error": result.error.to_dict() if result.error else None,
        }
        if snapshot_info:
            obj["snapshot"] = snapshot_info
        _emit_json(obj, args.results)
    elif suspended:
        print(f"rvdist: suspended at {machine.cycles} cycles; snapshot written to "
              f"{args.suspend_to}", file=sys.stderr)
    elif result.error is not None:
        print(f"rvdist: guest error: {result.error}", file=sys.stderr)

    if suspended:
        return EXIT_SUSPENDED
    if result.state == "exited":
        return (result.exit_code or 0) & 0xFF
    return EXIT_CYCLES if isinstance(result.error, CyclesExceeded) else EXIT_GUEST_ERROR


def cmd_snapshot_info(args: argparse.Namespace) -> int:
    try:
        info = Snapshot.load(args.snapshot).info()
    except RvError as e:
        return _bad_input(args, e)
    if args.json:
        _emit_json(info, args.results)
        return 0
    width = max(len(k) for k in info)
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items())
        print(f"{k:<{width}}  {v}", file=args.results)
    return 0


def _write_bytes(stream: TextIO, data: bytes) -> None:
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


def _pass_output(machine: Machine, sent: list[int], streams: tuple[TextIO, TextIO]) -> None:
    """Forward what the guest wrote since the last slice."""
    for fd, stream in ((1, streams[0]), (2, streams[1])):
        if machine.output_length(fd) > sent[fd - 1]:
            data = machine.output_since(fd, sent[fd - 1])
            sent[fd - 1] += len(data)
            _write_bytes(stream, data)


@contextmanager
def _results_stdout(verbose: bool) -> Iterator[TextIO]:
    """Keep this process's stdout for results only, and yield the stream to write them to.

    fd 1 is pointed at /dev/null (at stderr with ``verbose``) for as long as
    the command runs, so that nothing else reaches it: neither what Ray
    prints to ``sys.stdout`` (its ``(raylet) ...`` error lines), nor what
    native code or child processes write to fd 1.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):     # no usable stdout: nothing to keep clean
        yield sys.stdout
        return
    results = os.fdopen(os.dup(saved), "w", encoding=sys.stdout.encoding or "utf-8",
                        errors=sys.stdout.errors or "strict")
    sink = os.dup(2) if verbose else os.open(os.devnull, os.O_WRONLY)
    os.dup2(sink, 1)
    os.close(sink)
    try:
        yield results
    finally:
        try:
            results.flush()
        except OSError:
            pass
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 1)
        os.close(saved)
        try:
            results.close()
        except OSError:
            pass


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`Interrupted` in the main thread, so a
    command can end cleanly: progress line ended, checkpoints kept, one line
    saying so."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    saved = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    with _stop_on_signals(), _results_stdout(verbose) as results:
        args.results = results
        try:
            return args.func(args)
        except KeyboardInterrupt as e:
            signum = getattr(e, "signum", signal.SIGINT)
            if not getattr(e, "reported", False):
                print(f"rvdist: stopped by {signal.Signals(signum).name}", file=sys.stderr,
                      flush=True)
            return 128 + signum
        except BrokenPipeError:     # the reader of our results went away (| head)
            return EXIT_FAILURE
        except ClusterUnavailable as e:
            return _bad_input(args, e, EXIT_UNAVAILABLE)
        except ConfigError as e:
            return _bad_input(args, e, EXIT_BAD_INPUT)
        except RvError as e:
            return _bad_input(args, e, EXIT_FAILURE)


if __name__ == "__main__":
    raise SystemExit(main())
