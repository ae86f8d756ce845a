"""``rvdist batch``: many jobs from a manifest, on the executor, with a live progress line.

A manifest is JSON lines (one object per line) or YAML (a list of objects).
Each job has ``program`` (a path, relative to the manifest's folder), and
optionally ``args``, ``stdin`` (text), ``stdin_file``, ``max_cycles``,
``memory`` (bytes or e.g. ``"64MiB"``), ``cost_model``, ``priority``,
``name``, and the Linux job spec (docs/linux-abi.md): ``files`` (guest path
-> host path, relative to the manifest's folder), ``env`` (an object, or
``NAME=VALUE`` strings), ``seed``, ``cwd``, ``start_time`` and
``file_limit``. With ``out_dir``, the files each job created are written
under ``out_dir/<job name>/``.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Optional, TextIO

from rvdist.errors import ConfigError, RvError

_KEYS = {"program", "args", "stdin", "stdin_file", "max_cycles", "memory", "cost_model",
         "priority", "name", "files", "env", "seed", "cwd", "start_time", "file_limit"}


def load_manifest(path: Path) -> list[dict[str, Any]]:
    """Parse and check a manifest; ConfigError names the entry that is wrong."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read manifest {path}: {e.strerror}") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml
        try:
            entries = yaml.safe_load(text) or []
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from None
    else:
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip() and not line.lstrip().startswith("#"):
                try:
                    entries.append(json.loads(line))
                except ValueError as e:
                    raise ConfigError(f"{path}:{n}: invalid JSON: {e}") from None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: a manifest is a list of jobs")
    for i, e in enumerate(entries, 1):
        if not isinstance(e, dict) or "program" not in e:
            raise ConfigError(f"{path}: job {i} must be an object with a 'program'")
        unknown = set(e) - _KEYS
        if unknown:
            raise ConfigError(f"{path}: job {i} has unknown keys {', '.join(sorted(unknown))}")
        e["program"] = str((path.parent / e["program"]).resolve())
        if "stdin_file" in e:
            e["stdin_file"] = str((path.parent / e["stdin_file"]).resolve())
        if "files" in e:
            if not isinstance(e["files"], dict) or not all(isinstance(v, str) for v in e["files"].values()):
                raise ConfigError(f"{path}: job {i}: files must map guest paths to host paths")
            e["files"] = {g: str((path.parent / h).resolve()) for g, h in e["files"].items()}
    return entries


def _submit(ex: Any, e: dict[str, Any], job_id: Optional[str]) -> Any:
    stdin = e.get("stdin", "").encode()
    if "stdin_file" in e:
        try:
            stdin = Path(e["stdin_file"]).read_bytes()
        except OSError as err:
            raise ConfigError(f"cannot read {e['stdin_file']}: {err.strerror}") from None
    kwargs = {"args": [str(a) for a in e.get("args", [])], "stdin": stdin,
              "max_cycles": e.get("max_cycles"), "priority": int(e.get("priority", 0)),
              "name": e.get("name"), "cost_model": e.get("cost_model", "unit")}
    if "memory" in e:
        kwargs["memory_size"] = e["memory"]
    for key in ("files", "env", "seed", "cwd", "start_time", "file_limit"):
        if key in e:
            kwargs[key] = e[key]
    return ex.submit(e["program"], job_id=job_id, **kwargs)


def _write_files(out_dir: Path, r: Any) -> None:
    from rvdist.cli import write_out_dir
    folder = re.sub(r"[^A-Za-z0-9._-]", "_", r.name).lstrip(".") or r.job_id
    try:
        write_out_dir(out_dir / folder, r.files)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def job_ids(entries: list[dict[str, Any]]) -> list[str]:
    """Stable ids for a manifest's jobs: position plus a digest of the entry,
    so a re-run of the same manifest finds its checkpoints, and an edited
    entry does not pick up another job's."""
    out = []
    for i, e in enumerate(entries):
        digest = hashlib.sha256(json.dumps(e, sort_keys=True).encode()).hexdigest()[:12]
        out.append(f"job{i:05d}-{digest}")
    return out


def _check_checkpoint_dir(path: Path, resume: bool) -> None:
    if resume:
        if not path.is_dir():
            raise ConfigError(f"--resume: checkpoint directory {path} does not exist")
        return
    if path.is_dir() and any(p.suffix in (".snap", ".json") for p in path.iterdir()):
        raise ConfigError(f"checkpoint directory {path} already holds a batch's checkpoints: "
                          f"pass --resume to continue that batch, or use an empty directory")


class _Progress:
    """One status line on a terminal (stderr): jobs done, speed and disruptions."""

    def __init__(self, total: int, stream: TextIO, quiet: bool) -> None:
        self.total, self.stream, self.quiet = total, stream, quiet
        self.started = time.monotonic()
        self.last = 0.0

    def show(self, stats: dict[str, int], failed: int, force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not force and now - self.last < 0.2):
            return
        self.last = now
        width = 30
        done = stats["done"]
        filled = width * done // max(1, self.total)
        rate = stats["cycles"] / max(now - self.started, 1e-9) / 1e6
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} jobs  "
                          f"{failed} failed  {rate:,.0f} M instr/s  {stats['migrations']} migrations  "
                          f"{stats['preemptions']} preemptions  {stats['recoveries']} recoveries")
        self.stream.flush()

    def close(self) -> None:
        if not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def run_batch(manifest: Path, out: Optional[Path] = None, address: Optional[str] = None,
              slice_cycles: int = 10_000_000, quiet: bool = False, stream: TextIO = sys.stderr,
              checkpoint_dir: Optional[Path] = None, resume: bool = False,
              checkpoint_cycles: Optional[int] = None, events: Optional[Path] = None,
              out_dir: Optional[Path] = None) -> int:
    """Run a manifest's jobs; one JSON result per job to ``out`` (or stdout).

    With ``checkpoint_dir``, every job's checkpoints and result are kept
    there, and a batch killed at any point continues with ``resume``:
    recorded results are reported again without running, the other jobs go
    on from their last checkpoint. With ``out_dir``, each job's created files
    go under ``out_dir/<job name>/``. Returns 1 if any job failed or exited
    non-zero, else 0.
    """
    from rvdist.executor import DEFAULT_CHECKPOINT_CYCLES, Executor

    entries = load_manifest(manifest)
    if resume and checkpoint_dir is None:
        raise ConfigError("--resume needs --checkpoint-dir")
    if checkpoint_dir is not None:
        _check_checkpoint_dir(checkpoint_dir, resume)
    ids = job_ids(entries)
    failed = 0
    sink = open(out, "w") if out else None
    event_sink = open(events, "w") if events else None
    progress = _Progress(len(entries), stream, quiet)
    try:
        with Executor(address=address, slice_cycles=slice_cycles, checkpoint_dir=checkpoint_dir,
                      checkpoint_cycles=checkpoint_cycles or DEFAULT_CHECKPOINT_CYCLES) as ex:
            jobs = []
            for e, job_id in zip(entries, ids):
                try:
                    jobs.append(_submit(ex, e, job_id if checkpoint_dir is not None else None))
                except RvError as err:
                    raise ConfigError(f"job {e.get('name') or e['program']}: {err}") from None
            pending = list(jobs)
            while pending:
                try:
                    for job in ex.as_completed(pending, timeout=0.25):
                        pending.remove(job)
                        r = job.result()
                        failed += r.status != "done" or r.exit_code != 0
                        if out_dir is not None and r.files:
                            _write_files(out_dir, r)
                        line = json.dumps(r.to_dict()) + "\n"
                        (sink or sys.stdout).write(line)
                        (sink or sys.stdout).flush()
                        if event_sink:
                            for ev in r.history:
                                event_sink.write(json.dumps({"job": r.name, "job_id": r.job_id, **ev}) + "\n")
                            event_sink.flush()
                        progress.show(ex.stats(), failed)
                except TimeoutError:
                    pass
                progress.show(ex.stats(), failed)
            progress.show(ex.stats(), failed, force=True)
            progress.close()
    finally:
        for f in (sink, event_sink):
            if f:
                f.close()
    return 1 if failed else 0
