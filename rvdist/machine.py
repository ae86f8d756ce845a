"""The Python face of one guest machine: load, run in slices, inspect, snapshot.

A :class:`Machine` owns one C ``rv_machine``. ``run(budget)`` enters C once
per slice; it comes back to Python only when the guest exits, fails, makes
a syscall the core does not serve itself, or the budget runs out. Python
writes only the registers and pc of the ``rv_machine``; every other change
of state is a call into the core. ``snapshot()`` and ``Machine.restore``
move the whole state in and out through the snapshot codec
(:mod:`rvdist.snapshot`).
"""

from __future__ import annotations

import os
import struct
from typing import Any, Callable, Iterator, NamedTuple, Optional, Sequence, Union

from rvdist import cost as _cost
from rvdist._core import ffi, lib
from rvdist.errors import (
    ConfigError,
    GuestError,
    HostCallError,
    MemoryFault,
    RvError,
    SnapshotError,
    guest_error,
    host_write_error,
    os_decode_error,
)
from rvdist import process as _process
from rvdist.program import PAGE_SIZE, Program
from rvdist.snapshot import CHUNK_PAGES, FAST_CORE_CRC, DecodedSnapshot, Snapshot, check_chain, join_io
from rvdist.units import parse_size

__all__ = ["Machine", "RunResult", "Registers", "SUSPEND", "DEFAULT_MEMORY_SIZE"]

DEFAULT_MEMORY_SIZE = 4 << 20
#: Largest guest memory a machine may have.
MAX_MEMORY_SIZE = lib.RV_MAX_MEMORY
#: Default cap on captured stdout and on captured stderr, each.
DEFAULT_OUTPUT_LIMIT = lib.RV_DEFAULT_OUTPUT_LIMIT
#: Default room at the top of memory for the stack (never more than a quarter of memory).
DEFAULT_STACK_SIZE = 1 << 20
#: Most bytes of argv and environment strings a process may start with.
MAX_ARGS_BYTES = _process.MAX_ARGS_BYTES
#: Default cap on the bytes of stdin a machine is given (``stdin_limit``).
DEFAULT_STDIN_LIMIT = 1 << 30

#: The instruction set a machine runs, as snapshots record it.
ISA = "rv64imafdc_zicsr_zba_zbb_zbc_zbs"

_U64 = (1 << 64) - 1
_NO_LIMIT = lib.RV_NO_LIMIT

_rv_run = lib.rv_run
_rv_run_slice = lib.rv_run_slice
_new_tuple = tuple.__new__
_RV_BUDGET = lib.RV_BUDGET
_RV_HOST_CALL = lib.RV_HOST_CALL

ABI_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1",
             "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
             "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
             "t3", "t4", "t5", "t6")
_REG_INDEX = {name: i for i, name in enumerate(ABI_NAMES)} | {"fp": 8} | {f"x{i}": i for i in range(32)}


class _Suspend:
    def __repr__(self) -> str:
        return "rvdist.SUSPEND"


#: Returned by a syscall handler to leave the call pending: ``run()`` returns
#: with state ``"host_call"`` and the caller finishes it later with
#: :meth:`Machine.complete_host_call`.
SUSPEND = _Suspend()

SyscallHandler = Callable[["Machine"], Union[int, None, _Suspend]]


class RunResult(NamedTuple):
    """How a call to :meth:`Machine.run` ended.

    ``state`` is ``"exited"`` (the guest called exit; see ``exit_code``),
    ``"budget"`` (the next instruction would have exceeded the budget; the
    machine can run on), ``"host_call"`` (a handler suspended the syscall
    ``syscall``) or ``"error"`` (see ``error``, a :class:`GuestError`).
    ``cycles`` is the machine's total; ``used`` what this call spent.
    ``done`` is True when the machine cannot run on (it exited or failed).
    (A named tuple, with ``done`` stored rather than computed, because a run
    of a short slice must cost next to nothing.)
    """

    state: str
    cycles: int
    used: int
    exit_code: Optional[int] = None
    error: Optional[GuestError] = None
    syscall: Optional[int] = None
    done: bool = False


class Registers:
    """The 32 integer registers of a machine, by index or ABI name.

    ``regs[10]``, ``regs["a0"]`` and ``regs["x10"]`` are the same register.
    Writes to x0 are ignored, as on the hardware.
    """

    def __init__(self, machine: "Machine") -> None:
        self._m = machine._m

    @staticmethod
    def _index(key: Union[int, str]) -> int:
        if isinstance(key, str):
            if key not in _REG_INDEX:
                raise KeyError(f"no register named {key!r}")
            return _REG_INDEX[key]
        if not 0 <= key < 32:
            raise IndexError(f"register index {key} out of range 0..31")
        return key

    def __getitem__(self, key: Union[int, str]) -> int:
        return int(self._m.x[self._index(key)])

    def __setitem__(self, key: Union[int, str], value: int) -> None:
        i = self._index(key)
        if i:
            self._m.x[i] = value & _U64

    def __len__(self) -> int:
        return 32

    def __iter__(self) -> Iterator[int]:
        return iter(list(self._m.x)[:32])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Registers, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return "Registers(" + ", ".join(f"{n}={v:#x}" for n, v in zip(ABI_NAMES, self) if v) + ")"


#: Environment variable: most bytes of freed guest memory to keep for new
#: machines (a size such as "512MiB"; "0" turns the pool off).
MEMORY_POOL_ENV = "RVDIST_MEMORY_POOL"


def set_memory_pool_limit(max_bytes: Union[int, str]) -> int:
    """Keep at most ``max_bytes`` (an int or a size such as ``"512MiB"``) of the
    memory of freed machines for new machines of the same size to reuse, warm;
    0 turns the pool off and releases what it holds. Returns the previous limit.

    A fresh mapping costs the kernel a page fault and a zeroing per page on
    first touch; a host that restores machines all the time reuses memory
    instead (see ``rv_pool_set_limit`` in csrc/rvcore.h). The default is
    ``lib.RV_POOL_DEFAULT_LIMIT`` (256 MiB), or the ``RVDIST_MEMORY_POOL``
    environment variable.
    """
    try:
        size = parse_size(max_bytes)
    except (ValueError, TypeError):
        size = -1
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= _U64:
        raise ConfigError(f"memory pool limit must be a size in bytes, got {max_bytes!r}")
    return int(lib.rv_pool_set_limit(size))


if os.environ.get(MEMORY_POOL_ENV, "").strip():
    set_memory_pool_limit(os.environ[MEMORY_POOL_ENV].strip())


def _load_program(program: Union[Program, bytes, str, os.PathLike]) -> Program:
    if isinstance(program, Program):
        return program
    if isinstance(program, (bytes, bytearray, memoryview)):
        return Program(bytes(program))
    return Program.from_file(program)


class _Resume(NamedTuple):
    """What :meth:`Machine.restore` hands the constructor: a checked chain
    of snapshots and the settings to change on the way."""

    chain: list[DecodedSnapshot]
    max_cycles: Any             # Ellipsis: keep the snapshot's
    output_limit: Optional[int]     # None: the snapshot's
    files: _process.JobFiles    # the job's declared files, which snapshots name by digest


class Machine:
    """A sandboxed RV64GC+Zba/Zbb/Zbc/Zbs machine running one program.

    ``program`` is a :class:`Program` (or ELF bytes, or a path). ``args``
    become argv[1:] (argv[0] is the program's name), ``stdin`` is what the
    guest reads from fd 0. The rest of the Linux job spec (docs/linux-abi.md):
    ``env`` (a mapping, or ``NAME=VALUE`` strings), ``files`` (guest path ->
    bytes or a host path: read-only files of the virtual file system),
    ``seed`` (of the guest's random stream), ``cwd`` (the working directory,
    ``/`` by default), ``start_time`` (CLOCK_REALTIME at cycle 0, seconds
    since the epoch) and ``file_limit`` (most bytes the files the guest
    creates may hold; half the memory by default). ``memory_size`` is bytes
    or a string such as ``"64MiB"`` (a multiple of 4 KiB). ``cost_model`` is ``"unit"``,
    ``"ckb"`` or a mapping of cost class to cycles (see :mod:`rvdist.cost`).
    ``max_cycles`` ends the run with :class:`CyclesExceeded` when the next
    instruction would pass it. ``output_limit`` caps stdout and stderr each.
    ``stdin_limit`` caps the bytes of ``stdin`` (a :class:`ConfigError` past it);
    argv strings may take at most ``MAX_ARGS_BYTES`` and must fit in memory.

    Raises :class:`ConfigError` for bad settings and
    :class:`~rvdist.errors.ProgramError` for a program that does not fit.
    """

    #: Cap on stdin for machines that :meth:`restore` builds (``__init__`` takes its own).
    stdin_limit: int = DEFAULT_STDIN_LIMIT

    def __init__(
        self,
        program: Union[Program, bytes, str, os.PathLike],
        args: Sequence[Union[str, bytes]] = (),
        stdin: bytes = b"",
        memory_size: Union[int, str] = DEFAULT_MEMORY_SIZE,
        cost_model: _cost.CostModel = "unit",
        max_cycles: Optional[int] = None,
        output_limit: int = DEFAULT_OUTPUT_LIMIT,
        stack_size: int = DEFAULT_STACK_SIZE,
        stdin_limit: int = DEFAULT_STDIN_LIMIT,
        *,
        env: Any = None,
        files: Any = None,
        seed: int = 0,
        cwd: str = "/",
        start_time: Union[int, float] = _process.DEFAULT_START_TIME,
        file_limit: Optional[int] = None,
        _resume: Optional[_Resume] = None,
    ) -> None:
        if _resume is not None:         # from Machine.restore: no new process
            self._restore_from(_load_program(program), *_resume)
            return
        if not isinstance(stdin_limit, int) or isinstance(stdin_limit, bool) or stdin_limit < 0:
            raise ConfigError(f"stdin_limit must be a non-negative int, got {stdin_limit!r}")
        self.stdin_limit = stdin_limit
        self._build(_load_program(program), memory_size, cost_model, max_cycles, output_limit)
        size = self.memory_size
        if not isinstance(stack_size, int) or stack_size < 0:
            raise ConfigError(f"stack_size must be a non-negative int, got {stack_size!r}")
        stack_room = min(stack_size, size // 4)
        image_end = self.program.image_end
        if lib.rv_set_brk_range(self._m, image_end, max(image_end, (size - stack_room) & ~(PAGE_SIZE - 1))):
            raise ConfigError(f"no room for a heap in {size} bytes of memory")
        _process.start(self, [self.program.name or "program", *args], env=env, files=files, seed=seed,
                       cwd=cwd, start_time=start_time, stack_size=stack_room, file_limit=file_limit)
        if stdin:
            self.stdin = stdin
        self._m.pc = self.program.entry

    def _build(self, program: Program, memory_size: Union[int, str], cost_model: _cost.CostModel,
               max_cycles: Optional[int], output_limit: int) -> None:
        """Validate the configuration and load the program image; no process yet."""
        if not isinstance(memory_size, (int, str)) or isinstance(memory_size, bool):
            raise ConfigError(f"memory_size must be an int or a string such as '64MiB', "
                              f"got {memory_size!r}")
        try:
            size = parse_size(memory_size)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if size % PAGE_SIZE or not PAGE_SIZE <= size <= MAX_MEMORY_SIZE:
            raise ConfigError(f"memory_size must be a multiple of {PAGE_SIZE} between "
                              f"{PAGE_SIZE} and {MAX_MEMORY_SIZE} bytes, got {size}")
        if max_cycles is not None and (not isinstance(max_cycles, int) or not 0 <= max_cycles <= _U64):
            raise ConfigError(f"max_cycles must be a non-negative 64-bit integer, got {max_cycles}")
        if not isinstance(output_limit, int) or not 0 <= output_limit <= _U64:
            raise ConfigError(f"output_limit must be non-negative, got {output_limit}")
        try:
            self.cost_model, costs = _cost.resolve(cost_model)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        self._load_image(program, size, costs, max_cycles, output_limit)

    def _load_image(self, program: Program, size: int, costs: Sequence[int], max_cycles: Optional[int],
                    output_limit: int, stale: bool = False) -> None:
        """Allocate guest memory and load the program image, with settings
        checked already (by _build, or by the core for a restore).

        ``stale=True`` is for a restore only: memory reused from an earlier
        machine keeps its bytes until ``lib.rv_zero_stale`` (see rv_new_stale).
        """
        program.check_fits(size)
        raw = lib.rv_new_stale(size) if stale else lib.rv_new(size)
        if raw == ffi.NULL:
            raise ConfigError(f"cannot allocate {size} bytes of guest memory")
        self.program = program
        self._m = ffi.gc(raw, lib.rv_free)
        self.memory_size = size
        self.cost_table = dict(zip(_cost.CLASSES, costs))
        self._handlers: dict[int, SyscallHandler] = {}
        self._host_error: Optional[GuestError] = None
        # What the next incremental snapshot is relative to: the last
        # snapshot's id and the output lengths at that point.
        self._snapshot_id: Optional[str] = None
        self._snapshot_output = (0, 0)

        lib.rv_set_costs(self._m, costs)
        lib.rv_set_output_limit(self._m, output_limit)
        lib.rv_set_max_cycles(self._m, _NO_LIMIT if max_cycles is None else max_cycles)
        for seg in program.segments:
            flags = 0
            if seg.executable:
                flags = lib.RV_PAGE_EXEC | lib.RV_PAGE_FROZEN
            elif not seg.writable:
                flags = lib.RV_PAGE_FROZEN
            if lib.rv_load(self._m, seg.vaddr, ffi.from_buffer(seg.data), len(seg.data),
                           seg.memsz, flags):
                raise ConfigError(f"segment at {seg.vaddr:#x} does not fit in memory")
        # The loaded image is the base that snapshots are relative to.
        lib.rv_clear_page_flags(self._m, lib.RV_PAGE_DIRTY | lib.RV_PAGE_TOUCHED)
        lib.rv_os_set_guard(self._m, _process.null_guard(program))

    # -- running ------------------------------------------------------------

    def on_syscall(self, number: int, handler: Optional[SyscallHandler]) -> None:
        """Serve syscall ``number`` (a7) with ``handler(machine)``.

        The handler reads arguments from ``machine.registers`` and may touch
        guest memory. Its return value, if an int, becomes a0; ``None``
        leaves the registers as the handler set them; :data:`SUSPEND`
        leaves the call pending and makes ``run()`` return ``"host_call"``.
        ``handler=None`` removes a handler. exit, read, write and brk are
        served by the core and cannot be overridden; a handler for any other
        syscall the core serves (docs/linux-abi.md) takes its place.
        """
        if number in (63, 64, 93, 94, 214):
            raise ConfigError(f"syscall {number} is served by the core and cannot be overridden")
        if not isinstance(number, int) or not 0 <= number <= _U64:
            raise ConfigError(f"a syscall number is a non-negative int, got {number!r}")
        if handler is None:
            self._handlers.pop(number, None)
        else:
            self._handlers[number] = handler
        lib.rv_os_host_syscall(self._m, number, handler is not None)

    def run(self, budget: Optional[int] = None) -> RunResult:
        """Run for at most ``budget`` cycles (``None``: until the guest stops).

        Stops at an instruction boundary, having never spent more than the
        budget. Any sequence of budgets ends in the same state as one
        uninterrupted run.
        """
        try:
            used = _rv_run_slice(self._m, _U64 if budget is None else budget)
        except (OverflowError, TypeError):
            raise ConfigError(f"budget must be None or a non-negative 64-bit integer, "
                              f"got {budget!r}") from None
        if used >= 0:    # stopped by the budget: the common case of a slice, kept lean
            cycles = self._m.cycles
            return _new_tuple(RunResult, ("budget", cycles, used, None, None, None, False))
        m = self._m
        rc = -used
        start = m.slice_start
        if budget is None:
            budget = _U64
        while rc == _RV_HOST_CALL:
            if self._host_call_pending():   # suspended by its handler, or failed
                rc = int(m.status)
                break
            rc = _rv_run(m, start + budget - m.cycles if budget < _U64 - start else _U64)
        return self._result(rc, start)

    def _host_call_pending(self) -> bool:
        """Serve the pending host call; True if it stays pending (or failed)."""
        m = self._m
        number = int(m.host_call)
        handler = self._handlers.get(number)
        if handler is None:
            lib.rv_fail_host_call(m, lib.RV_ERR_SYSCALL)
            return True
        try:
            ret = handler(self)
        except Exception as e:  # a handler bug must not take the host down
            self._host_error = HostCallError(
                f"handler for syscall {number} raised {type(e).__name__}: {e}", pc=int(m.host_call_pc))
            self._host_error.__cause__ = e
            lib.rv_fail_host_call(m, lib.RV_ERR_HOST)
            return True
        if ret is SUSPEND:
            return True
        if ret is not None:
            if not isinstance(ret, int) or isinstance(ret, bool):
                self._host_error = HostCallError(
                    f"handler for syscall {number} returned {type(ret).__name__}, not an int, "
                    f"None or rvdist.SUSPEND", pc=int(m.host_call_pc))
                lib.rv_fail_host_call(m, lib.RV_ERR_HOST)
                return True
            self.registers["a0"] = ret
        lib.rv_finish_host_call(m)
        return False

    def complete_host_call(self, result: Optional[int] = None) -> None:
        """Finish a syscall left pending by a handler that returned :data:`SUSPEND`."""
        if self._m.status != lib.RV_HOST_CALL:
            raise RvError("no host call is pending")
        if result is not None:
            self.registers["a0"] = int(result)
        lib.rv_finish_host_call(self._m)

    def _result(self, rc: int, start: int) -> RunResult:
        cycles = int(self._m.cycles)
        used = cycles - start
        if rc == lib.RV_EXITED:
            return RunResult("exited", cycles, used, exit_code=self.exit_code, done=True)
        if rc == lib.RV_BUDGET:
            return RunResult("budget", cycles, used)
        if rc == lib.RV_HOST_CALL:
            return RunResult("host_call", cycles, used, syscall=int(self._m.host_call))
        return RunResult("error", cycles, used, error=self.error, done=True)

    # -- snapshots ------------------------------------------------------

    def snapshot(self, incremental: bool = False) -> Snapshot:
        """Capture the machine's whole state at this instruction boundary.

        A full snapshot holds every page written since the program was
        loaded; ``incremental=True`` holds only the pages written since the
        previous snapshot of this machine and names it as ``parent`` (with no
        previous snapshot it is a full one). Captured output is split the
        same way. Raises :class:`SnapshotError` while a host call is pending:
        complete it first, so no call is ever half done in a snapshot.
        """
        m = self._m
        if m.status == lib.RV_HOST_CALL:
            raise SnapshotError(f"cannot snapshot while host call {int(m.host_call)} is pending: "
                                f"complete it first (complete_host_call)")
        parent = self._snapshot_id if incremental else None
        npages = self.memory_size // PAGE_SIZE
        data = ffi.new("uint32_t[]", npages)
        zero = ffi.new("uint32_t[]", npages)
        nd, nz = ffi.new("uint64_t *"), ffi.new("uint64_t *")
        lib.rv_list_pages(m, lib.RV_PAGE_DIRTY if parent is not None else lib.RV_PAGE_TOUCHED,
                          data, nd, zero, nz)
        n_data, n_zero = nd[0], nz[0]

        out_from, err_from = self._snapshot_output if parent is not None else (0, 0)
        rec = ffi.new("rv_snap_record *")
        lib.rv_snap_get_state(m, rec)
        snap_id = os.urandom(16)        # 128 random bits, as uuid4 but cheaper
        ffi.memmove(rec.id, snap_id, 16)
        if parent is not None:
            rec.flags |= lib.RV_SNAP_HAS_PARENT
            ffi.memmove(rec.parent, bytes.fromhex(parent), 16)
        ffi.memmove(rec.digest, bytes.fromhex(self.program.digest), 32)
        rec.stdout_len, rec.stderr_len = self.output_length(1), self.output_length(2)
        # A failed host-call handler is a Python exception: keep its message.
        host_error = str(self._host_error) if m.status == lib.RV_ERROR and \
            m.err_kind == lib.RV_ERR_HOST and self._host_error else None
        buf = ffi.new("uint8_t[]", CHUNK_PAGES * PAGE_SIZE)

        def gather(start: int, count: int) -> Any:
            first = data[start]
            if data[start + count - 1] - first == count - 1:     # contiguous: no copy needed
                return ffi.buffer(m.mem + first * PAGE_SIZE, count * PAGE_SIZE)
            lib.rv_gather_pages(m, data + start, count, buf)
            return ffi.buffer(buf, count * PAGE_SIZE)

        os_size = lib.rv_os_encode(m, ffi.NULL, 0)
        os_state = ffi.new("uint8_t[]", os_size)
        lib.rv_os_encode(m, os_state, os_size)
        snap = Snapshot.from_state(rec, (ISA, self.program.name, self.cost_model, host_error),
                                   ffi.buffer(data, 4 * n_data)[:], ffi.buffer(zero, 4 * n_zero)[:],
                                   gather, self.output_since(1, out_from), self.output_since(2, err_from),
                                   None if parent is not None else self.stdin, ffi.buffer(os_state)[:])
        lib.rv_clear_page_flags(m, lib.RV_PAGE_DIRTY)
        self._snapshot_id = snap_id.hex()
        self._snapshot_output = (rec.stdout_len, rec.stderr_len)
        return snap

    @classmethod
    def restore(cls, program: Union[Program, bytes, str, os.PathLike],
                snapshot: Union[Snapshot, Sequence[Snapshot]], *,
                max_cycles: Any = ..., output_limit: Optional[int] = None,
                files: Any = None) -> "Machine":
        """A fresh machine in the state a snapshot (or a full snapshot and
        its increments, oldest first) recorded, built on ``program``'s image.

        ``files`` are the job's declared files (as for ``Machine``): a
        snapshot names them by digest only, so a job that declared files
        needs them again here. ``max_cycles`` and ``output_limit`` may be
        changed on the way (``max_cycles=None`` removes the limit);
        everything else comes from the snapshot. Raises
        :class:`SnapshotError`, and returns nothing half-restored, when the
        program's digest, the core version or the configuration does not
        match, a declared file is missing, or the data is corrupt.
        """
        program = _load_program(program)
        chain = [snapshot] if isinstance(snapshot, Snapshot) else list(snapshot)
        for snap in chain:
            if not isinstance(snap, Snapshot):
                raise SnapshotError(f"expected Snapshot objects, got {type(snap).__name__}")
        decoded = [snap.decoded() for snap in chain]
        digest = bytes.fromhex(program.digest)
        for d in decoded:
            if d.digest != digest:
                raise SnapshotError(f"snapshot {d.id} is of program {d.texts[1]!r} "
                                    f"(sha256 {d.digest.hex()[:16]}...), not of "
                                    f"{program.name!r} (sha256 {program.digest[:16]}...)")
            if d.rec.core_version != lib.RV_CORE_VERSION:
                raise SnapshotError(f"snapshot {d.id} was taken by core version {d.rec.core_version}; "
                                    f"this core is version {lib.RV_CORE_VERSION}")
            if d.texts[0] != ISA:
                raise SnapshotError(f"snapshot {d.id} is for ISA {d.texts[0]!r}, not {ISA!r}")
        check_chain(decoded)
        files = _process.normalize_files(files)
        return cls(program, _resume=_Resume(decoded, max_cycles, output_limit, files))

    def _restore_from(self, program: Program, chain: list[DecodedSnapshot], max_cycles: Any,
                      output_limit: Optional[int], files: _process.JobFiles) -> None:
        """Become the machine a checked chain of snapshots recorded."""
        last = chain[-1]
        rec = last.rec
        if output_limit is None:
            output_limit = rec.output_limit
        elif type(output_limit) is not int or not 0 <= output_limit <= _U64:
            raise SnapshotError(f"output_limit must be a non-negative 64-bit integer, got {output_limit!r}")
        try:
            # The core checked memory_size and costs. Stale memory: pages reused
            # from an earlier machine are zeroed only if the snapshot does not
            # overwrite them (rv_zero_stale, below).
            self._load_image(program, rec.memory_size, tuple(rec.costs),
                             rec.max_cycles if rec.flags & lib.RV_SNAP_HAS_MAX_CYCLES else None,
                             output_limit, stale=True)
        except Exception as e:  # ConfigError or ProgramError: the snapshot does not fit
            raise SnapshotError(f"incompatible snapshot configuration: {e}") from None
        self.cost_model = last.texts[2]
        stdout, stderr, stdin = join_io(chain)
        self.stdin = stdin
        m = self._m
        if lib.rv_snap_set_state(m, rec):
            raise SnapshotError(f"snapshot {last.id}: stdin position beyond stdin")
        for fd, data in ((1, stdout), (2, stderr)):
            if data and lib.rv_append_output(m, fd, ffi.from_buffer(data), len(data)):
                raise SnapshotError("cannot allocate the captured output of the snapshot")
        if last.texts[3] is not None:
            self._host_error = HostCallError(last.texts[3], pc=rec.error[2])
        if max_cycles is not ...:
            self.max_cycles = max_cycles     # a raised limit also lifts a CyclesExceeded stop
        self._snapshot_id = last.id
        self._snapshot_output = (len(stdout), len(stderr))
        # The pages last: copying them in evicts whatever the Python above had in cache.
        for d in chain:
            self._lay_pages(d)
        lib.rv_zero_stale(m)
        self._restore_process(last, files)

    def _restore_process(self, last: DecodedSnapshot, files: _process.JobFiles) -> None:
        """Put the last snapshot's OS block into the machine: the declared
        files' bytes first (snapshots name them by digest), then the state."""
        m = self._m
        for digest, data in files.blobs.items():
            if lib.rv_fs_provide(m, bytes.fromhex(digest), ffi.from_buffer(data), len(data)):
                raise SnapshotError(f"cannot hold a declared file of {len(data)} bytes")
        plain = last.os_state()
        missing = ffi.new("uint8_t[32]")
        code = lib.rv_os_decode(m, plain, len(plain), missing)
        if code != lib.RV_OS_OK:
            raise os_decode_error(code, last.id, ffi.buffer(missing)[:])

    def _lay_pages(self, d: DecodedSnapshot) -> None:
        """Copy one snapshot's pages into memory, each page block checked."""
        m = self._m
        zero = d.zero_pages
        if zero and lib.rv_scatter_pages(m, ffi.from_buffer("uint32_t[]", zero), len(zero) // 4, ffi.NULL):
            raise d.unwritable_error()
        idx = ffi.from_buffer("uint32_t[]", d.data_pages)
        # With CRC hardware the core copies in and checks the raw blocks in one pass.
        raw_in_core = bool(d.lay.n_raw) and FAST_CORE_CRC
        if raw_in_core:
            bad = ffi.new("uint64_t *")
            n_blocks = len(d.table) // 4
            err = lib.rv_scatter_raw_blocks(m, idx, len(d.data_pages) // 4, ffi.from_buffer(d.blocks),
                                            len(d.blocks), ffi.from_buffer(d.table), n_blocks, bad)
            if err > 0:
                raise d.unwritable_error()
            if err < 0:
                raise d.block_error(bad[0])
            if d.lay.n_raw == n_blocks:
                return
        for start, count, plain in d.open_blocks(skip_raw=raw_in_core):
            if lib.rv_scatter_pages(m, idx + start, count, ffi.from_buffer(plain)):
                raise d.unwritable_error()

    # -- state ----------------------------------------------------------

    @property
    def state(self) -> str:
        """``"ready"``, ``"exited"``, ``"error"`` or ``"host_call"`` (a syscall is pending)."""
        return {lib.RV_READY: "ready", lib.RV_EXITED: "exited", lib.RV_ERROR: "error",
                lib.RV_HOST_CALL: "host_call"}[int(self._m.status)]

    @property
    def registers(self) -> Registers:
        """The integer registers, readable and writable (see :class:`Registers`)."""
        return Registers(self)

    @property
    def fp_registers(self) -> tuple[int, ...]:
        """f0..f31 as raw 64-bit patterns (a single sits NaN-boxed in the low half)."""
        return tuple(int(v) for v in self._m.f)

    @property
    def fcsr(self) -> int:
        """The FP control and status register: ``frm << 5 | fflags`` (flags NV DZ OF UF NX
        from bit 4 down)."""
        return int(self._m.frm) << 5 | int(self._m.fflags)

    @property
    def pc(self) -> int:
        """The address of the next instruction to run."""
        return int(self._m.pc)

    @pc.setter
    def pc(self, value: int) -> None:
        self._m.pc = value & _U64

    @property
    def cycles(self) -> int:
        """Cycles charged so far (with the ``"unit"`` model: instructions executed, a faulting
        load, store or AMO included; an instruction that cannot be fetched or decoded costs nothing)."""
        return int(self._m.cycles)

    @property
    def max_cycles(self) -> Optional[int]:
        """The cycle limit, or None. Raising it lets a machine stopped by
        :class:`CyclesExceeded` run on exactly where it stopped."""
        v = int(self._m.max_cycles)
        return None if v == _NO_LIMIT else v

    @max_cycles.setter
    def max_cycles(self, value: Optional[int]) -> None:
        if value is not None and (not isinstance(value, int) or not 0 <= value <= _U64):
            raise ConfigError(f"max_cycles must be None or a non-negative 64-bit integer, got {value!r}")
        lib.rv_set_max_cycles(self._m, _NO_LIMIT if value is None else value)

    @property
    def output_limit(self) -> int:
        """The cap on captured stdout and on captured stderr, each, in bytes."""
        return int(self._m.out_cap)

    @property
    def exit_code(self) -> Optional[int]:
        """The guest's exit code once it has exited, else None."""
        return int(self._m.exit_code) if self._m.status == lib.RV_EXITED else None

    @property
    def stdout(self) -> bytes:
        """Everything the guest wrote to fd 1 so far."""
        return self._output(0)

    @property
    def stderr(self) -> bytes:
        """Everything the guest wrote to fd 2 so far."""
        return self._output(1)

    def _output(self, i: int) -> bytes:
        buf = self._m.out[i]
        return ffi.buffer(buf.data, buf.len)[:] if buf.len else b""

    def output_length(self, fd: int) -> int:
        """Bytes captured so far on fd 1 or 2 (cheap: no copy)."""
        return int(self._m.out[fd - 1].len)

    def output_since(self, fd: int, offset: int) -> bytes:
        """Bytes captured on fd 1 or 2 from ``offset`` on (for streaming output)."""
        buf = self._m.out[fd - 1]
        return ffi.buffer(buf.data + offset, buf.len - offset)[:] if buf.len > offset else b""

    @property
    def stdin(self) -> bytes:
        """The guest's whole stdin; ``stdin_position`` says how much it has read."""
        m = self._m
        return ffi.buffer(m.stdin_data, m.stdin_len)[:] if m.stdin_len else b""

    @stdin.setter
    def stdin(self, data: bytes) -> None:
        if len(data) > self.stdin_limit:
            raise ConfigError(f"stdin of {len(data)} bytes is more than the stdin_limit of "
                              f"{self.stdin_limit} bytes")
        if lib.rv_set_stdin(self._m, ffi.from_buffer(data), len(data)):
            raise ConfigError(f"cannot allocate {len(data)} bytes of stdin")

    @property
    def stdin_position(self) -> int:
        return int(self._m.stdin_pos)

    @property
    def brk(self) -> int:
        """The current program break."""
        return int(self._m.brk)

    def files(self) -> dict[str, bytes]:
        """The files the guest created (and did not remove), by guest path, in path order."""
        m = self._m
        size = lib.rv_fs_export(m, ffi.NULL, 0)
        if not size:
            return {}
        buf = ffi.new("uint8_t[]", size)
        lib.rv_fs_export(m, buf, size)
        raw = ffi.buffer(buf, size)[:]
        out, at = {}, 0
        while at < size:
            plen, dlen = struct.unpack_from("<IQ", raw, at)
            at += 12
            path = raw[at:at + plen].decode("utf-8", errors="surrogateescape")
            out[path] = raw[at + plen:at + plen + dlen]
            at += plen + dlen
        return out

    @property
    def error(self) -> Optional[GuestError]:
        """The error the machine stopped on, or None."""
        m = self._m
        if m.status != lib.RV_ERROR:
            return None
        return guest_error(m, self._host_error)

    @property
    def core(self) -> Any:
        """The core's machine (a cffi ``rv_machine *``), for tools and tests that
        call ``rvdist._core`` directly. Read its fields freely; change state
        only through the core's functions (and registers and pc)."""
        return self._m

    # -- memory -----------------------------------------------------------

    def read_memory(self, address: int, length: int) -> bytes:
        """Copy ``length`` bytes of guest memory from ``address``."""
        if length < 0:
            raise ConfigError("length must be non-negative")
        if not 0 <= address <= self.memory_size - length:
            raise MemoryFault("load_fault", f"read of {length} bytes at {address:#x} is outside "
                              f"guest memory (size {self.memory_size:#x})", pc=self.pc, address=address)
        buf = ffi.new("uint8_t[]", length) if length else ffi.NULL
        if lib.rv_read(self._m, address & _U64, buf, length):
            raise MemoryFault("load_fault", f"read of {length} bytes at {address:#x} is outside "
                              f"guest memory (size {self.memory_size:#x})", pc=self.pc, address=address)
        return ffi.buffer(buf, length)[:] if length else b""

    def write_memory(self, address: int, data: bytes) -> None:
        """Write ``data`` into guest memory at ``address``.

        Obeys the guest's rules: executable and read-only pages cannot be
        written. Written pages are marked dirty.
        """
        err = lib.rv_write(self._m, address & _U64, ffi.from_buffer(data), len(data))
        if err:
            raise host_write_error(err, len(data), address, self.pc)

    def __repr__(self) -> str:
        return (f"<Machine {self.program.name!r} state={self.state} pc={self.pc:#x} "
                f"cycles={self.cycles} memory={self.memory_size}>")

