"""Typed errors raised or reported by rvdist.

Every error a user can meet derives from :class:`RvError`. Errors caused by
what a guest program did (a fault, an illegal instruction, an unknown
syscall, running out of cycles) derive from :class:`GuestError` and carry
the guest ``pc`` and, where it applies, the guest ``address``; they are
reported in :class:`rvdist.RunResult.error` rather than raised, because a
misbehaving guest is an outcome, not a bug in the host.
"""

from __future__ import annotations

from typing import Any, Optional


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
