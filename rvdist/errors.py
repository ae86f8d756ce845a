"""Typed errors raised or reported by rvdist.

Every error a user can meet derives from :class:`RvError`. Errors caused by
what a guest program did (a fault, an illegal instruction, an unknown
syscall, running out of cycles) derive from :class:`GuestError` and carry
the guest ``pc`` and, where it applies, the guest ``address``; they are
reported in :class:`rvdist.RunResult.error` rather than raised, because a
misbehaving guest is an outcome, not a bug in the host.

The functions at the end are the one table from the core's error codes
(``RV_ERR_*``, ``RV_SNAP_*``) to these errors.
"""

from __future__ import annotations

from typing import Any, Optional

from rvdist._core import ffi, lib
from rvdist.syscall_names import syscall_name


class RvError(Exception):
    """Base class of every error rvdist raises or reports."""

    #: Short machine-readable name of the error, used in ``--json`` output.
    kind: str = "error"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description: ``kind``, ``message`` and any location."""
        return {"kind": self.kind, "message": str(self), "pc": None, "address": None}


class ConfigError(RvError, ValueError):
    """A machine or job was configured with an invalid value."""

    kind = "config"


class ProgramError(RvError):
    """An ELF file cannot be loaded as an rvdist program.

    ``offset`` is the byte offset in the file the problem was found at, when known.
    """

    kind = "program"

    def __init__(self, message: str, *, offset: Optional[int] = None) -> None:
        super().__init__(message)
        self.offset = offset


class GuestError(RvError):
    """The guest program stopped on an error at ``pc`` (and ``address``, for memory faults)."""

    kind = "guest"

    def __init__(self, message: str, *, pc: int, address: Optional[int] = None) -> None:
        super().__init__(message)
        self.pc = pc
        self.address = address

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": str(self), "pc": self.pc, "address": self.address}


class MemoryFault(GuestError):
    """A load, store or instruction fetch the sandbox does not allow.

    ``kind`` says which: ``load_fault`` / ``store_fault`` (outside guest memory),
    ``fetch_fault`` (outside memory or a non-executable page),
    ``write_exec`` (a store to an executable page, W^X), ``write_readonly``
    (a store to a read-only page) or ``misaligned_atomic`` (LR/SC/AMO on an
    address that is not naturally aligned).
    """

    def __init__(self, kind: str, message: str, *, pc: int, address: int) -> None:
        super().__init__(message, pc=pc, address=address)
        self.kind = kind


class IllegalInstruction(GuestError):
    """The instruction at ``pc`` (raw encoding ``bits``) is not part of RV64IMAC+Zba/Zbb/Zbc/Zbs."""

    kind = "illegal_instruction"

    def __init__(self, message: str, *, pc: int, bits: int) -> None:
        super().__init__(message, pc=pc)
        self.bits = bits

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["bits"] = self.bits
        return d


class Breakpoint(GuestError):
    """The guest executed EBREAK."""

    kind = "breakpoint"


class UnsupportedSyscall(GuestError):
    """The guest made a syscall (``number``, from a7) that nothing handles."""

    kind = "unsupported_syscall"

    def __init__(self, message: str, *, pc: int, number: int) -> None:
        super().__init__(message, pc=pc)
        self.number = number

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["number"] = self.number
        return d


class CyclesExceeded(GuestError):
    """The next instruction would take the guest past its machine-level ``max_cycles``."""

    kind = "cycles_exceeded"


class OutputLimitExceeded(GuestError):
    """The guest wrote more to stdout or stderr than the machine's capture cap allows."""

    kind = "output_limit"


class HostCallError(GuestError):
    """A host-call handler registered with :meth:`rvdist.Machine.on_syscall` raised."""

    kind = "host_call_error"


class SnapshotError(RvError):
    """A snapshot cannot be decoded or does not fit the machine it is restored into."""

    kind = "snapshot"


class ClusterUnavailable(RvError):
    """No Ray cluster answered at the address given, or no rvdist host could start on it."""

    kind = "cluster"


# -- the core's error codes as typed errors ---------------------------------------
#
# The core reports what went wrong as numbers (RV_ERR_* for a guest, RV_SNAP_*
# for an encoded snapshot, csrc/rvcore.h); these tables are the one place
# that turns them into the errors above.

#: Guest memory error kinds: (MemoryFault kind, what the guest did, why it failed).
_MEMORY_FAULTS: dict[int, tuple[str, str, str]] = {
    lib.RV_ERR_LOAD: ("load_fault", "load from", "is outside guest memory"),
    lib.RV_ERR_STORE: ("store_fault", "store to", "is outside guest memory"),
    lib.RV_ERR_FETCH: ("fetch_fault", "fetch from", "is not executable"),
    lib.RV_ERR_WRITE_EXEC: ("write_exec", "store to", "hits an executable page (W^X)"),
    lib.RV_ERR_WRITE_READONLY: ("write_readonly", "store to", "hits a read-only page"),
    lib.RV_ERR_MISALIGNED_ATOMIC: ("misaligned_atomic", "atomic access to",
                                   "is not naturally aligned for an atomic"),
}


def guest_error(m: Any, host_error: Optional[GuestError] = None) -> GuestError:
    """The typed error of a core machine (an ``rv_machine *``) stopped in RV_ERROR.

    ``host_error`` is the error a failed host-call handler left (RV_ERR_HOST):
    a Python exception the core cannot hold.
    """
    kind, pc, addr = int(m.err_kind), int(m.err_pc), int(m.err_addr)
    if kind in _MEMORY_FAULTS:
        name, verb, what = _MEMORY_FAULTS[kind]
        return MemoryFault(name, f"{verb} {addr:#x} {what} (pc {pc:#x})", pc=pc, address=addr)
    if kind == lib.RV_ERR_ILLEGAL:
        bits = int(m.err_bits)
        width = 4 if bits & 3 == 3 else 2
        return IllegalInstruction(f"illegal instruction {bits:#0{2 + 2 * width}x} at pc {pc:#x}",
                                  pc=pc, bits=bits)
    if kind == lib.RV_ERR_EBREAK:
        return Breakpoint(f"ebreak at pc {pc:#x}", pc=pc)
    if kind == lib.RV_ERR_CYCLES:
        return CyclesExceeded(f"the next instruction at pc {pc:#x} would exceed max_cycles "
                              f"{int(m.max_cycles)} (cycles so far: {int(m.cycles)})", pc=pc)
    if kind == lib.RV_ERR_OUTPUT:
        return OutputLimitExceeded(f"write at pc {pc:#x} would exceed the output limit of "
                                   f"{int(m.out_cap)} bytes", pc=pc, address=addr)
    if kind == lib.RV_ERR_SYSCALL:
        number = int(m.host_call)
        return UnsupportedSyscall(f"unsupported syscall {number} ({syscall_name(number)}) at pc {pc:#x}",
                                  pc=pc, number=number)
    if kind == lib.RV_ERR_HOST and host_error is not None:
        return host_error
    if kind == lib.RV_ERR_NOMEM:
        return GuestError(f"the host ran out of memory serving the guest at pc {pc:#x}", pc=pc)
    return GuestError(f"guest error {kind} at pc {pc:#x}", pc=pc, address=addr)


def host_write_error(code: int, length: int, address: int, pc: int) -> MemoryFault:
    """The error of a host write of ``length`` bytes of guest memory at
    ``address`` that the core refused with RV_ERR_* ``code``."""
    name, _, what = _MEMORY_FAULTS.get(code, ("store_fault", "", "is not allowed"))
    return MemoryFault(name, f"write of {length} bytes at {address:#x} {what}", pc=pc, address=address)


_SNAP_RECORD = ffi.sizeof("rv_snap_record")

#: What each record field rv_snap_decode refuses (RV_SNAP_FIELD) must be.
_SNAP_FIELD_RULES = {
    "flags": "unknown flags",
    "parent": "a parent id in a snapshot without a parent",
    "max_cycles": "max_cycles without its flag",
    "memory_size": "memory_size is not a page multiple up to 4 GiB",
    "costs": f"costs must each be 1..{lib.RV_MAX_COST}",
    "x": "x0 must be 0",
    "fcsr": "fcsr has bits above frm and fflags",
    "status": "unknown status",
    "exit_code": "exit_code must be a 32-bit integer",
    "error": "error kind or bits out of range",
    "brk": "brk outside [brk_min, brk_max] or past memory",
    "stdout_part": "the stdout part is longer than the stdout",
    "stderr_part": "the stderr part is longer than the stderr",
    "io_block": f"the I/O block claims more bytes than 255x its size or {lib.RV_SNAP_MAX_IO} in all",
    "os_len": f"the OS block is empty, or claims more bytes than 255x its size or "
              f"{lib.RV_SNAP_MAX_OS} in all",
    "stdin_len": "an incremental snapshot carries stdin",
    "stdin_pos": "stdin position beyond stdin",
    "n_data": "more pages listed than the memory holds",
    "n_blocks": "the page block count does not fit the data pages",
    "text_len": f"texts longer than {lib.RV_SNAP_MAX_TEXT} bytes, present without their flag, "
                "or followed by padding that is not zeros",
}
_SNAP_FIELD_AT = {ffi.offsetof("rv_snap_record", k): k for k in _SNAP_FIELD_RULES}


def snapshot_decode_error(code: int, layout: Any, size: int) -> SnapshotError:
    """The error for rv_snap_decode's result ``code`` (RV_SNAP_*) on ``size``
    bytes, with the ``rv_snap_layout`` it filled in."""
    if code == lib.RV_SNAP_SHORT:
        return SnapshotError(f"truncated snapshot: {size} bytes is too short to hold a header")
    if code == lib.RV_SNAP_MAGIC:
        return SnapshotError("not an rvdist snapshot (bad magic)")
    if code == lib.RV_SNAP_VERSION:
        if 1 <= layout.version < lib.RV_SNAP_FORMAT:
            # Older formats lack state the machine now has (version 3 added
            # the FP registers, fcsr and the Linux process): restoring one
            # would guess it.
            return SnapshotError(f"snapshot format version {layout.version} is older than this "
                                 f"rvdist's version {lib.RV_SNAP_FORMAT} and cannot be restored "
                                 f"(it lacks the FP registers, fcsr and the process state); "
                                 f"rerun the job from its start")
        return SnapshotError(f"unknown snapshot format version {layout.version} "
                             f"(this rvdist reads version {lib.RV_SNAP_FORMAT})")
    if code == lib.RV_SNAP_RECORD:
        return SnapshotError(f"malformed snapshot: its record size is not the {_SNAP_RECORD} bytes "
                             f"of format version {lib.RV_SNAP_FORMAT}")
    if code == lib.RV_SNAP_FIELD:
        return SnapshotError(f"malformed snapshot header: {_SNAP_FIELD_RULES[_SNAP_FIELD_AT[layout.field]]}")
    if code == lib.RV_SNAP_LENGTH:
        return SnapshotError(f"truncated or malformed snapshot: {size} bytes do not hold the "
                             f"sections its header describes")
    if code == lib.RV_SNAP_CHECKSUM:
        return SnapshotError("snapshot checksum mismatch: the data is corrupt")
    if code == lib.RV_SNAP_PAGES:
        return SnapshotError("malformed snapshot: page indices out of range, not ascending, "
                             "or listed twice")
    return SnapshotError("malformed snapshot: the page block table does not add up to its pages")


def os_decode_error(code: int, snapshot_id: str, missing: bytes) -> SnapshotError:
    """The error for rv_os_decode's result ``code`` (RV_OS_*) restoring the OS
    block of snapshot ``snapshot_id``; ``missing`` is the digest it filled in
    for RV_OS_MISSING_FILE."""
    if code == lib.RV_OS_MISSING_FILE:
        return SnapshotError(f"snapshot {snapshot_id} needs a declared file that was not given: sha256 "
                             f"{bytes(missing).hex()} (pass the job's files to restore)")
    if code == lib.RV_OS_PROTECTION:
        return SnapshotError(f"snapshot {snapshot_id} makes read-only pages of the program writable")
    if code == lib.RV_OS_NOMEM:
        return SnapshotError("out of memory restoring the snapshot's process state")
    return SnapshotError(f"malformed OS block in snapshot {snapshot_id}")
