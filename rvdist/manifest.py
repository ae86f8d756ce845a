"""Batch manifests: parsed, checked in full, and given stable job ids.

A manifest is JSON lines (one object per line; blank lines and lines that
start with ``#`` are skipped) or YAML (a list of objects). Each job has
``program`` (a path, relative to the manifest's folder) and optionally
``args`` (a list), ``stdin`` (text), ``stdin_file`` (a path, relative to the
manifest's folder), ``max_cycles`` (a count such as ``10M``), ``memory``
(bytes, or a size such as ``64MiB``), ``cost_model`` (``unit``, ``ckb`` or a
mapping of cost classes to cycles), ``priority`` (an integer) and ``name``
(unique in the manifest), and the rest of the Linux job spec
(docs/linux-abi.md): ``files`` (guest path -> host path, relative to the
manifest's folder), ``env`` (an object, or ``NAME=VALUE`` strings), ``seed``
(an integer), ``cwd`` (the guest's working directory), ``start_time``
(seconds since the epoch) and ``file_limit`` (a size).

:func:`load` checks every entry before any job runs: unknown keys, values
of the wrong type, bad sizes and counts, programs that are missing or not
valid ELF, declared files that cannot be read, settings a machine would
refuse, and duplicate names all raise a
:class:`~rvdist.errors.ConfigError` that names the manifest line.

A job's id depends only on what decides its result, never on paths: its
name (or its program's file name), and a digest of the program's content,
its arguments, its stdin, its declared files (guest path and content
digest) and its other settings (priority only orders work, so it is left
out; the Linux settings count only where they differ from their defaults,
so that spelling out a default changes nothing). The same manifest run from
another directory, on another machine, or inside ``ray job submit``'s copy
of the working directory finds the checkpoints of an earlier run; an edited
entry gets a new id, so it can never pick up a checkpoint of something
else.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from rvdist import cost as _cost
from rvdist import process as _process
from rvdist.errors import ConfigError, RvError
from rvdist.machine import DEFAULT_MEMORY_SIZE, Machine
from rvdist.program import Program
from rvdist.units import parse_count, parse_size

KEYS = ("program", "args", "stdin", "stdin_file", "max_cycles", "memory", "cost_model",
        "priority", "name", "files", "env", "seed", "cwd", "start_time", "file_limit")

#: The Linux job spec's defaults, as a job's identity records them.
_LINUX_DEFAULTS = {"files": {}, "env": [], "seed": 0, "cwd": "/",
                   "start_time": _process.DEFAULT_START_TIME, "file_limit": None}


@dataclass(frozen=True)
class Entry:
    """One checked job of a manifest."""

    line: int                   #: where the entry starts in the manifest (1-based)
    job_id: str                 #: stable id: names its files in a checkpoint directory
    name: Optional[str]
    program: Program
    args: tuple[str, ...]
    stdin: bytes
    max_cycles: Optional[int]
    memory: int
    cost_model: Any
    priority: int
    #: what the id digests: program digest, args, stdin digest and settings
    spec: dict[str, Any] = field(compare=False)
    #: the Linux job spec: files (checked, by digest), env, seed, cwd, start_time, file_limit
    linux: dict[str, Any] = field(compare=False, default_factory=dict)

    def submit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`rvdist.Executor.submit`."""
        return {"args": list(self.args), "stdin": self.stdin, "max_cycles": self.max_cycles,
                "memory_size": self.memory, "cost_model": self.cost_model,
                "priority": self.priority, "name": self.name, **self.linux}


def load(path: Path) -> list[Entry]:
    """Parse and check a whole manifest; ConfigError names the line that is wrong."""
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read manifest {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: a manifest is UTF-8 text") from None
    raw = _parse_yaml(path, text) if path.suffix in (".yaml", ".yml") else _parse_jsonl(path, text)
    programs: dict[Path, Program] = {}
    contents: dict[Path, bytes] = {}        # declared files read so far: one copy each
    entries: list[Entry] = []
    names: dict[str, int] = {}
    seen: dict[str, int] = {}
    for line, obj in raw:
        try:
            entry = _check(path.parent, line, obj, programs, contents)
        except (RvError, ValueError, TypeError) as e:
            raise ConfigError(f"{path}:{line}: {e}") from None
        if entry.name is not None:
            if entry.name in names:
                raise ConfigError(f"{path}:{line}: the name {entry.name!r} is already used "
                                  f"on line {names[entry.name]}")
            names[entry.name] = line
        # identical unnamed entries are distinct jobs: number the repeats
        seen[entry.job_id] = seen.get(entry.job_id, 0) + 1
        if seen[entry.job_id] > 1:
            entry = replace(entry, job_id=f"{entry.job_id}.{seen[entry.job_id]}")
        entries.append(entry)
    return entries


def _parse_jsonl(path: Path, text: str) -> list[tuple[int, Any]]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                out.append((n, json.loads(line)))
            except ValueError as e:
                raise ConfigError(f"{path}:{n}: invalid JSON: {e}") from None
    return out


def _parse_yaml(path: Path, text: str) -> list[tuple[int, Any]]:
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return []
        if not isinstance(root, yaml.SequenceNode):
            raise ConfigError(f"{path}:{root.start_mark.line + 1}: a manifest is a list of jobs")
        return [(node.start_mark.line + 1, loader.construct_object(node, deep=True))
                for node in root.value]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: invalid YAML: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()


def _check(base: Path, line: int, obj: Any, programs: dict[Path, Program],
           contents: dict[Path, bytes]) -> Entry:
    if not isinstance(obj, dict):
        raise ConfigError("a job must be an object with a 'program'")
    unknown = sorted(set(obj) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))} (known: {', '.join(KEYS)})")
    if "program" not in obj:
        raise ConfigError("a job must have a 'program'")
    program = _program(base, _text(obj, "program"), programs)
    args = obj.get("args", [])
    if not isinstance(args, list) or not all(map(_scalar, args)):
        raise ConfigError(f"'args' must be a list of strings or numbers, got {args!r}")
    args = tuple(str(a) for a in args)
    if "stdin" in obj and "stdin_file" in obj:
        raise ConfigError("give 'stdin' or 'stdin_file', not both")
    stdin = _text(obj, "stdin").encode() if "stdin" in obj else b""
    if "stdin_file" in obj:
        stdin_path = base / _text(obj, "stdin_file")
        try:
            stdin = stdin_path.read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read stdin_file {stdin_path}: {e.strerror}") from None
    max_cycles = _number(obj, "max_cycles", parse_count)
    memory = _number(obj, "memory", parse_size)
    memory = DEFAULT_MEMORY_SIZE if memory is None else memory
    cost_model = obj.get("cost_model", "unit")
    if not isinstance(cost_model, (str, dict)):
        raise ConfigError(f"'cost_model' must be a name or a mapping, got {cost_model!r}")
    priority = obj.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(f"'priority' must be an integer, got {priority!r}")
    name = obj.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ConfigError(f"'name' must be a non-empty string, got {name!r}")
    linux = _linux_spec(base, obj, contents)
    # What a host would refuse, refused now: memory limits, a program that
    # does not fit, arguments that overflow the stack, bad cost tables, files
    # and a working directory that do not fit the guest's file system.
    Machine(program, args=args, stdin=stdin, memory_size=memory, cost_model=cost_model,
            max_cycles=max_cycles, **linux)
    spec = {"program": program.digest, "args": list(args),
            "stdin": hashlib.sha256(stdin).hexdigest(), "max_cycles": max_cycles,
            "memory": memory, "costs": list(_cost.resolve(cost_model)[1])}
    identity = {**linux, "files": dict(sorted(linux["files"].paths.items())),
                "cwd": _process.guest_path(linux["cwd"])}
    spec.update((k, v) for k, v in identity.items() if v != _LINUX_DEFAULTS[k])
    digest = hashlib.sha256(json.dumps({"name": name, **spec}, sort_keys=True).encode())
    label = _slug(name if name is not None else Path(program.name).stem)
    return Entry(line, f"{label}-{digest.hexdigest()[:16]}", name, program, args, stdin,
                 max_cycles, memory, cost_model, priority, spec, linux)


def _linux_spec(base: Path, obj: dict[str, Any], contents: dict[Path, bytes]) -> dict[str, Any]:
    """The Linux job spec of an entry, checked: keyword arguments for Machine
    and Executor.submit, with the declared files read (host paths relative to
    ``base``; ``contents`` holds those read already) and known by digest."""
    cwd = _text(obj, "cwd") if "cwd" in obj else "/"
    files = obj.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(g, str) and isinstance(h, str)
                                              for g, h in files.items()):
        raise ConfigError(f"'files' must map guest paths to host paths, got {files!r}")
    declared = {}
    for guest, host in files.items():
        path = base / host
        if path not in contents:
            try:
                contents[path] = path.read_bytes()
            except OSError as e:
                raise ConfigError(f"cannot read {path} for guest file {guest}: {e.strerror or e}") from None
        declared[guest] = contents[path]
    env = obj.get("env", [])
    if isinstance(env, dict) and all(isinstance(k, str) and _scalar(v) for k, v in env.items()):
        env = [f"{k}={v}" for k, v in env.items()]
    elif not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise ConfigError(f"'env' must be an object of names to values or a list of NAME=VALUE "
                          f"strings, got {env!r}")
    seed = obj.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"'seed' must be an integer, got {seed!r}")
    start_time = obj.get("start_time", _process.DEFAULT_START_TIME)
    if not isinstance(start_time, (int, float)) or isinstance(start_time, bool):
        raise ConfigError(f"'start_time' must be seconds since the epoch, got {start_time!r}")
    if isinstance(start_time, float) and start_time.is_integer():
        start_time = int(start_time)
    return {"files": _process.normalize_files(declared, cwd), "env": env, "seed": seed,
            "cwd": cwd, "start_time": start_time, "file_limit": _number(obj, "file_limit", parse_size)}


def _program(base: Path, relpath: str, programs: dict[Path, Program]) -> Program:
    path = base / relpath
    prog = programs.get(path)
    if prog is None:
        if not path.is_file():
            raise ConfigError(f"program {path} does not exist" if not path.exists()
                              else f"program {path} is not a file")
        try:
            prog = programs[path] = Program.from_file(path)
        except RvError as e:
            raise ConfigError(f"program {path}: {e}") from None
    return prog


def _scalar(value: Any) -> bool:
    """A string or a number: what an argument or environment value may be written as."""
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise ConfigError(f"{key!r} must be a string, got {value!r}")
    return value


def _number(obj: dict[str, Any], key: str, parse: Any) -> Optional[int]:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(f"{key!r} must be a number or a string such as '64MiB', got {value!r}")
    try:
        n = parse(value)
    except ValueError as e:
        raise ConfigError(f"{key!r}: {e}") from None
    if n < 0:
        raise ConfigError(f"{key!r} must not be negative, got {value!r}")
    return n


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")[:40].rstrip("-._")
    return slug or "job"

