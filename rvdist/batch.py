"""``rvdist batch``: many jobs from a manifest, on the executor, with a live progress line.

The manifest is checked whole before any job starts (:mod:`rvdist.manifest`).
Results go out one JSON line per job as jobs end; events (``--events``) are
appended as they happen, one JSON line each, and flushed, so the file can
be followed live and keeps everything up to a crash. With a checkpoint
directory, a batch that was killed or stopped goes on with ``--resume``:
recorded results are reported again without running, the other jobs go on
from their last checkpoint, and each job that has to start over is named,
with the reason. Files in the directory that belong to no job of the
manifest are listed and left alone. With ``--out-dir DIR``, the files each
job's guest created go under ``DIR/<job name>/`` (``DIR/<job id>/`` for a
job without a name) as its result comes in.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional, TextIO

from rvdist import manifest as _manifest
from rvdist.errors import ConfigError, RvError
from rvdist.outdir import write_out_dir

#: The file a batch writes next to a job's checkpoint: what the job is, so
#: that a later --resume can say why a job starts over.
JOB_SUFFIX = ".job.json"


def _check_checkpoint_dir(path: Path, resume: bool) -> None:
    if resume:
        if not path.is_dir():
            raise ConfigError(f"--resume: checkpoint directory {path} does not exist")
        return
    if path.is_dir() and any(p.suffix in (".snap", ".json") for p in path.iterdir()):
        raise ConfigError(f"checkpoint directory {path} already holds a batch's checkpoints: "
                          f"pass --resume to continue that batch, or use an empty directory")


def _file_job_id(path: Path) -> Optional[str]:
    """The job id a checkpoint directory file belongs to (see Executor and JOB_SUFFIX)."""
    for suffix in (".result.json", JOB_SUFFIX, ".snap"):
        if path.name.endswith(suffix) and not path.name.startswith("."):
            return path.name[:-len(suffix)]
    return None


def resume_report(entries: list[_manifest.Entry], directory: Path) -> tuple[list[str], list[str]]:
    """What ``--resume`` will do, before it starts: one line for each job
    that runs again from the start (and why), and one listing the files of
    ``directory`` that belong to no job of this manifest (left alone)."""
    files: dict[str, list[Path]] = {}
    for p in sorted(directory.iterdir()):
        job_id = _file_job_id(p)
        if job_id is not None:
            files.setdefault(job_id, []).append(p)
    ours = {e.job_id for e in entries}
    orphans = {job_id: paths for job_id, paths in files.items() if job_id not in ours}
    orphan_names: dict[str, tuple[str, dict[str, Any]]] = {}
    for job_id, paths in orphans.items():
        about = _read_job_file(directory / f"{job_id}{JOB_SUFFIX}")
        if about and about.get("name") is not None:
            orphan_names[about["name"]] = (job_id, about.get("spec", {}))
    lines = []
    for e in entries:
        kinds = {p.name[len(e.job_id):] for p in files.get(e.job_id, [])}
        if ".result.json" in kinds or ".snap" in kinds:
            continue
        label = e.name or f"{e.program.name} (line {e.line})"
        if e.name is not None and e.name in orphan_names:
            old_id, old_spec = orphan_names[e.name]
            changed = [k for k in sorted(set(e.spec) | set(old_spec))
                       if old_spec.get(k) != e.spec.get(k)] or ["settings"]
            why = (f"its entry changed since the earlier run ({', '.join(changed)}); "
                   f"that run's files {old_id}.* are left alone")
        elif JOB_SUFFIX in kinds:
            why = "it had not reached its first checkpoint"
        else:
            why = "nothing of it is in the checkpoint directory (a new job)"
        lines.append(f"rvdist: resume: job {label} runs again from the start: {why}")
    orphan_lines = []
    if orphans:
        names = [p.name for paths in orphans.values() for p in paths]
        shown = ", ".join(names[:8]) + (f", and {len(names) - 8} more" if len(names) > 8 else "")
        orphan_lines.append(f"rvdist: resume: {len(names)} file(s) in {directory} belong to no job "
                            f"of this manifest and are left alone: {shown}")
    return lines, orphan_lines


def out_folders(entries: list[_manifest.Entry]) -> dict[str, str]:
    """Each job's folder under ``--out-dir``, by job id: its name made safe for
    a file name, or its id if it has no name. ConfigError if two would share one."""
    folders: dict[str, str] = {}
    taken: dict[str, _manifest.Entry] = {}
    for e in entries:
        folder = (re.sub(r"[^A-Za-z0-9._-]", "_", e.name).lstrip(".") if e.name else "") or e.job_id
        if folder in taken:
            raise ConfigError(f"--out-dir: the jobs on lines {taken[folder].line} and {e.line} "
                              f"would both write to {folder}/: give them names that differ in "
                              f"letters, digits, '.', '_' or '-'")
        taken[folder] = e
        folders[e.job_id] = folder
    return folders


def _read_job_file(path: Path) -> Optional[dict[str, Any]]:
    try:
        about = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return about if isinstance(about, dict) else None


def _write_job_file(directory: Path, e: _manifest.Entry) -> None:
    path = directory / f"{e.job_id}{JOB_SUFFIX}"
    if not path.exists():
        path.write_text(json.dumps({"job_id": e.job_id, "name": e.name, "program": e.program.name,
                                    "line": e.line, "spec": e.spec}) + "\n")


class _Tally:
    """Counters for the progress line, kept from the same events that make
    the results (so the two agree), and only this run's cycles for the rate."""

    def __init__(self) -> None:
        from rvdist.executor import is_preemption

        self._is_preemption = is_preemption
        self.done = self.failed = self.nonzero = 0     # failed: no exit; nonzero: exit != 0
        self.migrations = self.preemptions = self.recoveries = 0
        self.cycles_run = 0
        self._at: dict[str, int] = {}           # job id -> its cycle count so far

    def result(self, r: Any) -> None:
        self.done += 1
        self.failed += r.status != "done"
        self.nonzero += r.status == "done" and r.exit_code != 0
        if r.job_id not in self._at:
            # a result recorded by an earlier run: no event of it came in this
            # one, so count its events (its cycles ran then, not now)
            self.migrations += r.migrations
            self.preemptions += r.preemptions
            self.recoveries += r.recoveries

    def event(self, job_id: str, ev: dict[str, Any]) -> None:
        kind = ev["event"]
        self._at.setdefault(job_id, 0)
        if kind == "slice":
            self.cycles_run += max(0, ev["cycles"] - self._at.get(job_id, 0))
            self._at[job_id] = ev["cycles"]
        elif kind in ("resume", "restore"):
            self._at[job_id] = ev["cycles"]
        elif kind == "lost":
            self._at[job_id] = ev["restart_from"]
        self.migrations += kind == "migrate"
        self.recoveries += kind == "lost"
        self.preemptions += self._is_preemption(ev)


class _Progress:
    """One status line on a terminal (stderr): jobs done, speed and disruptions."""

    def __init__(self, total: int, stream: TextIO, quiet: bool) -> None:
        self.total, self.stream, self.quiet = total, stream, quiet
        self.started = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def show(self, t: _Tally, force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not force and now - self.last < 0.2):
            return
        self.last = now
        width = 30
        filled = width * t.done // max(1, self.total)
        rate = t.cycles_run / max(now - self.started, 1e-9) / 1e6
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {t.done}/{self.total} jobs  "
                          f"{t.failed} failed  {t.nonzero} exited non-zero  {rate:,.0f} M instr/s  "
                          f"{t.migrations} migrations  "
                          f"{t.preemptions} preemptions  {t.recoveries} recoveries")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """End the line (once), so whatever is printed next starts on its own."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False


class _EventLog:
    """Appends each event as one JSON line, flushed at once."""

    def __init__(self, path: Optional[Path], append: bool, tally: _Tally) -> None:
        self.file = _open(path, "a" if append else "w") if path else None
        self.tally = tally
        self.lock = threading.Lock()

    def __call__(self, job: Any, ev: dict[str, Any]) -> None:
        self.tally.event(job.id, ev)
        if self.file is not None:
            with self.lock:
                self.file.write(json.dumps({"job": job.name, "job_id": job.id, **ev}) + "\n")
                self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def run_batch(manifest: Path, out: Optional[Path] = None, address: Optional[str] = None,
              slice_cycles: int = 10_000_000, quiet: bool = False, stream: TextIO = sys.stderr,
              checkpoint_dir: Optional[Path] = None, resume: bool = False,
              checkpoint_cycles: Optional[int] = None, events: Optional[Path] = None,
              results: Optional[TextIO] = None, executor_options: Optional[dict[str, Any]] = None,
              out_dir: Optional[Path] = None) -> int:
    """Run a manifest's jobs; one JSON result per job to ``out`` (or ``results``,
    by default stdout). Progress and reports go to ``stream``.

    The whole manifest is checked first (ConfigError, before any job runs).
    With ``checkpoint_dir``, every job's checkpoints and result are kept
    there, and a batch stopped at any point continues with ``resume``. With
    ``out_dir``, the files each job created go under ``out_dir/<folder>/``
    (see :func:`out_folders`).
    Returns 1 if any job failed or exited non-zero, else 0. A SIGINT or
    SIGTERM (KeyboardInterrupt) ends the progress line, says what was kept,
    and propagates.
    """
    from rvdist.executor import DEFAULT_CHECKPOINT_CYCLES, Executor

    entries = _manifest.load(manifest)
    folders = out_folders(entries) if out_dir is not None else {}
    if resume and checkpoint_dir is None:
        raise ConfigError("--resume needs --checkpoint-dir")
    if checkpoint_dir is not None:
        _check_checkpoint_dir(checkpoint_dir, resume)
        if resume:
            redo, orphans = resume_report(entries, checkpoint_dir)
            for line in redo + orphans:
                print(line, file=stream, flush=True)
    tally = _Tally()
    progress = _Progress(len(entries), stream, quiet)
    sink = event_log = None
    try:
        sink = _open(out, "w") if out else None
        results = sink or results or sys.stdout
        event_log = _EventLog(events, resume, tally)
        with Executor(address=address, slice_cycles=slice_cycles, checkpoint_dir=checkpoint_dir,
                      checkpoint_cycles=checkpoint_cycles or DEFAULT_CHECKPOINT_CYCLES,
                      on_event=event_log, **(executor_options or {})) as ex:
            progress.started = time.monotonic()
            jobs = []
            for e in entries:
                if checkpoint_dir is not None:
                    _write_job_file(checkpoint_dir, e)
                try:
                    jobs.append(ex.submit(e.program, job_id=e.job_id, **e.submit_kwargs()))
                except RvError as err:
                    raise ConfigError(f"{manifest}:{e.line}: {err}") from None
            pending = {id(job): job for job in jobs}
            try:
                while pending:
                    try:
                        for job in ex.as_completed(pending.values(), timeout=0.25):
                            del pending[id(job)]
                            r = job.result()
                            tally.result(r)
                            if out_dir is not None and r.files:
                                write_out_dir(out_dir / folders[r.job_id], r.files)
                            results.write(json.dumps(r.to_dict()) + "\n")
                            results.flush()
                            progress.show(tally)
                    except TimeoutError:
                        pass
                    progress.show(tally)
                progress.show(tally, force=True)
            except KeyboardInterrupt as stop:
                progress.close()
                _report_stop(stop, stream, len(entries), tally.done, checkpoint_dir)
                raise
    finally:
        progress.close()
        for f in (sink, event_log):
            if f is not None:
                f.close()
    return 1 if tally.failed or tally.nonzero else 0


def _open(path: Path, mode: str) -> TextIO:
    try:
        return open(path, mode)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}") from None


def _report_stop(stop: BaseException, stream: TextIO, total: int, done: int,
                 checkpoint_dir: Optional[Path]) -> None:
    signum = getattr(stop, "signum", signal.SIGINT)
    kept = (f"the others' checkpoints are kept in {checkpoint_dir}: run the same command with "
            f"--resume to go on" if checkpoint_dir is not None else
            "without --checkpoint-dir the others start over if run again")
    print(f"rvdist: stopped by {signal.Signals(signum).name}: {done} of {total} jobs finished; "
          f"{kept}", file=stream, flush=True)
    stop.reported = True    # type: ignore[attr-defined]
