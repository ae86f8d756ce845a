"""``rvdist batch``: many jobs from a manifest, on the executor, with a live progress line.

A manifest is JSON lines (one object per line) or YAML (a list of objects).
Each job has ``program`` (a path, relative to the manifest's folder), and
optionally ``args``, ``stdin`` (text), ``stdin_file``, ``max_cycles``,
``memory`` (bytes or e.g. ``"64MiB"``), ``cost_model``, ``priority`` and
``name``.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional, TextIO

from rvdist.errors import ConfigError, RvError

_KEYS = {"program", "args", "stdin", "stdin_file", "max_cycles", "memory", "cost_model",
         "priority", "name"}


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
    return entries


def _submit(ex: Any, e: dict[str, Any]) -> Any:
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
    return ex.submit(e["program"], **kwargs)


def _record(r: Any) -> dict[str, Any]:
    def text(b: bytes, key: str) -> dict[str, Any]:
        try:
            return {key: b.decode()}
        except UnicodeDecodeError:
            return {key: b.decode(errors="replace"), f"{key}_base64": base64.b64encode(b).decode()}
    return {"name": r.name, "job_id": r.job_id, "status": r.status, "exit_code": r.exit_code,
            "cycles": r.cycles, "slices": r.slices, "migrations": r.migrations, "nodes": r.nodes,
            **text(r.stdout, "stdout"), **text(r.stderr, "stderr"), "error": r.error,
            "history": list(r.history)}


def run_batch(manifest: Path, out: Optional[Path], address: Optional[str], slice_cycles: int,
              quiet: bool, stream: TextIO = sys.stderr) -> int:
    from rvdist.executor import Executor

    entries = load_manifest(manifest)
    started = time.monotonic()
    failed = done = cycles = migrations = 0
    sink = open(out, "w") if out else None
    try:
        with Executor(address=address, slice_cycles=slice_cycles) as ex:
            jobs = []
            for e in entries:
                try:
                    jobs.append(_submit(ex, e))
                except RvError as err:
                    raise ConfigError(f"job {e.get('name') or e['program']}: {err}") from None
            last = 0.0
            for job in ex.as_completed(jobs):
                r = job.result()
                done += 1
                failed += r.status != "done" or r.exit_code != 0
                cycles += r.cycles
                migrations += r.migrations
                rec = _record(r)
                if sink:
                    sink.write(json.dumps(rec) + "\n")
                    sink.flush()
                else:
                    print(json.dumps(rec), flush=True)
                now = time.monotonic()
                if not quiet and (now - last > 0.2 or done == len(jobs)):
                    last = now
                    width = 30
                    filled = width * done // max(1, len(jobs))
                    rate = cycles / max(now - started, 1e-9) / 1e6
                    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{len(jobs)} jobs  "
                                 f"{failed} failed  {rate:,.0f} M instr/s  {migrations} migrations")
                    stream.flush()
            if not quiet:
                stream.write("\n")
    finally:
        if sink:
            sink.close()
    return 1 if failed else 0
