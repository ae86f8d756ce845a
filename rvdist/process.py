"""What a guest process starts with: its Linux job spec, made concrete.

A job's process is a function of its spec: the program, ``args``, ``env``,
``stdin``, ``files``, ``seed``, ``cwd`` and ``start_time``. This module
checks those values, declares the files to the core's virtual file system,
and lays out the initial stack (argc, argv, envp and the auxiliary vector
that glibc and musl read) the way Linux does. See docs/linux-abi.md.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

from rvdist._core import ffi, lib
from rvdist.errors import ConfigError

if TYPE_CHECKING:
    from rvdist.machine import Machine
    from rvdist.program import Program

__all__ = ["JobFiles", "DEFAULT_START_TIME", "normalize_env", "normalize_files", "guest_path",
           "null_guard", "start"]

#: CLOCK_REALTIME at cycle 0 unless a job says otherwise: 2024-01-01T00:00:00Z.
DEFAULT_START_TIME = 1704067200
#: Most bytes of argv and environment strings a process may start with.
MAX_ARGS_BYTES = 128 << 10
#: Syscall pointers below this (or below the program, if lower) get EFAULT.
NULL_GUARD = 0x10000
_U64 = (1 << 64) - 1

# Auxiliary vector keys (linux/auxvec.h) and the ISA bits of AT_HWCAP: one
# per single-letter extension, 'a' at bit 0 (rv64imafdc).
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 16, 17
AT_SECURE, AT_RANDOM, AT_HWCAP2, AT_EXECFN = 23, 25, 26, 31
HWCAP = sum(1 << (ord(c) - ord("a")) for c in "imafdc")
UID = GID = 1000
CLOCK_TICKS = 100

FileSource = Union[bytes, bytearray, memoryview, str, os.PathLike]


@dataclass(frozen=True)
class JobFiles:
    """A job's declared files: guest path -> sha256 digest, and digest -> bytes.

    Files travel by digest: equal contents are held (and shipped) once.
    """

    paths: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)

    def items(self) -> list[tuple[str, bytes]]:
        return [(p, self.blobs[d]) for p, d in sorted(self.paths.items())]


def guest_path(path: Union[str, bytes], cwd: str = "/") -> str:
    """``path`` as an absolute, normalised guest path (relative: against ``cwd``)."""
    if isinstance(path, bytes):
        path = path.decode("utf-8", errors="surrogateescape")
    if not isinstance(path, str) or not path or "\0" in path:
        raise ConfigError(f"a guest path must be a non-empty string without NUL bytes, got {path!r}")
    norm = posixpath.normpath(posixpath.join(cwd, path))
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    if len(norm.encode("utf-8", errors="surrogateescape")) >= lib.RV_OS_PATH_MAX:
        raise ConfigError(f"guest path {path!r} is too long")
    if any(len(part.encode("utf-8", errors="surrogateescape")) > 255 for part in norm.split("/")):
        raise ConfigError(f"guest path {path!r} has a component longer than 255 bytes")
    return norm


def normalize_files(files: Optional[Mapping[Any, FileSource]], cwd: str = "/") -> JobFiles:
    """Check a job's ``files`` (guest path -> bytes, or a host path to read);
    relative guest paths are taken from ``cwd`` (itself taken from ``/``)."""
    if not files:
        return JobFiles()
    if isinstance(files, JobFiles):
        return files
    cwd = guest_path(cwd)
    if not isinstance(files, Mapping):
        raise ConfigError(f"files must map guest paths to bytes or host paths, got {type(files).__name__}")
    out = JobFiles()
    for gpath, src in files.items():
        where = guest_path(gpath, cwd)
        if where in out.paths:
            raise ConfigError(f"guest path {where} is declared twice")
        if isinstance(src, (bytes, bytearray, memoryview)):
            data = bytes(src)
        elif isinstance(src, (str, os.PathLike)):
            try:
                data = Path(src).read_bytes()
            except OSError as e:
                raise ConfigError(f"cannot read {os.fspath(src)!r} for guest file {where}: "
                                  f"{e.strerror or e}") from None
        else:
            raise ConfigError(f"guest file {where}: expected bytes or a host path, got {type(src).__name__}")
        digest = hashlib.sha256(data).hexdigest()
        out.paths[where] = digest
        out.blobs.setdefault(digest, data)
    return out


def normalize_env(env: Union[None, Mapping[str, str], Sequence[str]]) -> list[bytes]:
    """The environment as ``NAME=VALUE`` byte strings, in the order given."""
    if env is None:
        return []
    items = [f"{k}={v}" for k, v in env.items()] if isinstance(env, Mapping) else list(env)
    out = []
    for item in items:
        b = item.encode() if isinstance(item, str) else bytes(item)
        if b"\0" in b or b"=" not in b or b.startswith(b"="):
            raise ConfigError(f"environment entries are NAME=VALUE without NUL bytes, got {item!r}")
        out.append(b)
    return out


def null_guard(program: "Program") -> int:
    """Where syscall pointers start to be valid: 64 KiB, or the program's first page if lower."""
    low = min(seg.vaddr for seg in program.segments) // lib.RV_PAGE_SIZE * lib.RV_PAGE_SIZE
    return min(NULL_GUARD, low)


def _check_u64(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U64:
        raise ConfigError(f"{name} must be an integer from 0 to 2**64-1, got {value!r}")
    return value


def _errno_message(code: int) -> str:
    return {2: "no such file", 17: "it exists already", 20: "a file is in the way",
            13: "not allowed there (e.g. under /dev)", 22: "not a valid path",
            36: "name too long", 28: "too many files", 12: "out of memory"}.get(-code, f"errno {-code}")


def start(machine: "Machine", argv: Sequence[Union[str, bytes]], env: Any = None,
          files: Any = None, seed: int = 0, cwd: str = "/", start_time: Union[int, float] = DEFAULT_START_TIME,
          stack_size: int = 0, file_limit: Optional[int] = None) -> None:
    """Set up a freshly loaded machine's process: identity, clock, random
    stream, files and working directory, and the initial stack and registers."""
    m = machine.core
    seed = _check_u64("seed", seed)
    if not isinstance(start_time, (int, float)) or isinstance(start_time, bool):
        raise ConfigError(f"start_time must be seconds since the epoch, got {start_time!r}")
    start_ns = round(start_time * 1_000_000_000)
    if not -(1 << 62) <= start_ns <= 1 << 62:
        raise ConfigError(f"start_time {start_time!r} is out of range")
    cwd = guest_path(cwd)
    program = machine.program
    exe = "/" + (program.name or "program").replace("/", "_")
    if lib.rv_os_config(m, seed, start_ns, stack_size, exe.encode()):
        raise ConfigError(f"program name {program.name!r} is too long")
    envp = normalize_env(env)
    jf = normalize_files(files, cwd)
    for path, digest in sorted(jf.paths.items()):
        data = jf.blobs[digest]
        raw = bytes.fromhex(digest)
        if lib.rv_fs_provide(m, raw, ffi.from_buffer(data), len(data)):
            raise ConfigError(f"cannot hold guest file {path} ({len(data)} bytes)")
        code = lib.rv_fs_declare(m, path.encode("utf-8", errors="surrogateescape"), raw)
        if code:
            raise ConfigError(f"cannot declare guest file {path}: {_errno_message(code)}")
    code = lib.rv_fs_set_cwd(m, cwd.encode("utf-8", errors="surrogateescape"))
    if code:
        raise ConfigError(f"cannot use {cwd} as the working directory: {_errno_message(code)}")
    if file_limit is None:
        file_limit = machine.memory_size // 2
    lib.rv_fs_set_limit(m, _check_u64("file_limit", file_limit))
    _build_stack(machine, argv, envp, exe.encode())


def _build_stack(machine: "Machine", argv: Sequence[Union[str, bytes]], envp: list[bytes],
                 execfn: bytes) -> None:
    """Lay out the Linux initial stack at the top of memory and point sp at it.

    Every other register starts at 0, as on Linux: glibc's _start takes a0
    as the dynamic loader's exit hook (rtld_fini), so it must be 0 for a
    static program."""
    program = machine.program
    args = [a.encode() if isinstance(a, str) else bytes(a) for a in argv]
    if any(b"\0" in a for a in args):
        raise ConfigError("arguments may not contain NUL bytes")
    blob_len = sum(len(s) + 1 for s in args + envp)
    if blob_len > MAX_ARGS_BYTES:
        raise ConfigError(f"arguments and environment take {blob_len} bytes; the limit is {MAX_ARGS_BYTES}")
    top = machine.memory_size
    # From the top down: the strings (argv's last), the 16 AT_RANDOM bytes,
    # maybe a copy of the program headers, then the pointer words.
    strings = [execfn, *envp, *args]
    blob = b"".join(s + b"\0" for s in strings)
    str_base = top - len(blob)
    addrs, at = [], str_base
    for s in strings:
        addrs.append(at)
        at += len(s) + 1
    execfn_at, env_at, arg_at = addrs[0], addrs[1:1 + len(envp)], addrs[1 + len(envp):]
    random_at = (str_base - 16) & ~7
    random = ffi.new("uint8_t[16]")
    lib.rv_os_random(machine.core, random, 16)
    headers = program.headers
    phdr = headers.phdr
    below = random_at
    if phdr is None:        # no segment loads the headers: give the guest a copy
        below = (below - len(headers.table)) & ~7
        phdr = below
    auxv = [AT_HWCAP, HWCAP, AT_PAGESZ, lib.RV_PAGE_SIZE, AT_CLKTCK, CLOCK_TICKS,
            AT_PHDR, phdr, AT_PHENT, headers.phent, AT_PHNUM, headers.phnum,
            AT_BASE, 0, AT_FLAGS, 0, AT_ENTRY, program.entry,
            AT_UID, UID, AT_EUID, UID, AT_GID, GID, AT_EGID, GID, AT_SECURE, 0,
            AT_RANDOM, random_at, AT_HWCAP2, 0, AT_EXECFN, execfn_at, AT_NULL, 0]
    words = [len(args), *arg_at, 0, *env_at, 0, *auxv]
    sp = (below - 8 * len(words)) & ~15
    if sp < program.image_end:
        raise ConfigError(f"the initial stack ({top - sp} bytes of arguments, environment and "
                          f"pointers) does not fit above the program image in {top} bytes of memory")
    machine.write_memory(random_at, ffi.buffer(random)[:])
    machine.write_memory(str_base, blob)
    if headers.phdr is None:
        machine.write_memory(phdr, headers.table)
    machine.write_memory(sp, struct.pack(f"<{len(words)}Q", *words))
    machine.registers["sp"] = sp
