"""rvdist: metered, preemptible and migratable RISC-V jobs on Ray.

The core is a sandboxed RV64IMAC+Zba/Zbb/Zbc/Zbs interpreter that runs a
program for an exact cycle budget and goes on later from exactly where it
stopped::

    import rvdist
    prog = rvdist.Program.from_file("hello.elf")
    m = rvdist.Machine(prog, args=["world"])
    while not (r := m.run(10_000_000)).done:
        pass
    print(r.state, r.exit_code, m.stdout)
"""

from rvdist import _origin

# Before anything imports the C core: a source tree without it must not
# shadow the installed package (it does so in Ray's workers; see _origin).
_origin.check(__name__, __path__)

from rvdist.errors import (  # noqa: E402
    Breakpoint,
    ConfigError,
    CyclesExceeded,
    GuestError,
    HostCallError,
    IllegalInstruction,
    MemoryFault,
    OutputLimitExceeded,
    ProgramError,
    RvError,
    SnapshotError,
    UnsupportedSyscall,
)
from rvdist.machine import SUSPEND, Machine, Registers, RunResult  # noqa: E402
from rvdist.program import Program, Segment  # noqa: E402
from rvdist.snapshot import Snapshot  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name: str):
    # The executor imports Ray, which takes a second: load it only when asked for.
    if name in ("Executor", "Job", "JobResult"):
        from rvdist import executor
        return getattr(executor, name)
    raise AttributeError(f"module 'rvdist' has no attribute {name!r}")

__all__ = [
    "Machine", "RunResult", "Registers", "SUSPEND", "Program", "Segment", "Snapshot",
    "RvError", "ConfigError", "ProgramError", "GuestError", "MemoryFault",
    "IllegalInstruction", "Breakpoint", "UnsupportedSyscall", "CyclesExceeded",
    "OutputLimitExceeded", "HostCallError", "SnapshotError", "Executor", "Job", "JobResult",
]
