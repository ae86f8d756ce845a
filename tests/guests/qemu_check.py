#!/usr/bin/env python3
"""Runs every guest program under qemu-riscv64 and checks it does what its
README entry claims:

* isa/*.elf exit 0 (all self-checks pass);
* faults/*.elf stop with the expected signal, and the last instruction qemu
  executed is the one labelled fault_here (jump_here for exec_data, whose
  fault is the fetch from the data segment itself);
* the C programs reproduce expected.json exactly (exit code, stdout and
  instruction count).

Prints one line per check and a closing "N passed, N failed" line; exits 1 if
anything failed.  Needs qemu-riscv64.
"""

import glob
import json
import os
import signal
import sys

import qemurun
from elfinfo import read_elf

SIGSEGV, SIGILL, SIGTRAP, SIGBUS = (int(s) for s in (
    signal.SIGSEGV, signal.SIGILL, signal.SIGTRAP, signal.SIGBUS))

# name -> (expected qemu outcome, symbol of the last instruction executed)
# outcome: -signal, an exit code, or "timeout" / "output" for endless programs
FAULTS = {
    "store_text": (-SIGSEGV, "fault_here"),
    "exec_data": (-SIGSEGV, "jump_here"),
    "load_oob": (-SIGSEGV, "fault_here"),
    "store_high": (-SIGSEGV, "fault_here"),
    "store_rodata": (-SIGSEGV, "fault_here"),
    "csr": (-SIGILL, "fault_here"),
    "zero_insn": (-SIGILL, "fault_here"),
    "ebreak": (-SIGTRAP, "fault_here"),
    "c_ebreak": (-SIGTRAP, "fault_here"),
    "amo_misaligned": (-SIGBUS, "fault_here"),
    # qemu implements no "unsupported syscall" error: -ENOSYS, then exit 100
    "ecall_unsupported": (100, None),
    "write_forever": ("output", None),
    "infinite_loop": ("timeout", "fault_here"),
}


class Checker:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def report(self, name: str, ok: bool, detail: str = "") -> None:
        if ok:
            self.passed += 1
            print(f"PASS {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")


def check_isa(c: Checker) -> None:
    for path in sorted(glob.glob(os.path.join(qemurun.HERE, "isa", "*.elf"))):
        rel = os.path.relpath(path, qemurun.HERE)
        r = qemurun.run(rel, timeout=30)
        c.report(rel, r.returncode == 0, f"exit {r.returncode} (number of the failing check)")


def check_faults(c: Checker) -> None:
    found = {os.path.basename(p)[:-4]
             for p in glob.glob(os.path.join(qemurun.HERE, "faults", "*.elf"))}
    for name in sorted(found - FAULTS.keys()):
        c.report(f"faults/{name}.elf", False, "no expectation in qemu_check.py")
    for name, (outcome, sym) in FAULTS.items():
        rel = f"faults/{name}.elf"
        if name not in found:
            c.report(rel, False, "missing")
            continue
        elf = read_elf(os.path.join(qemurun.HERE, rel))
        if outcome == "output":
            r = qemurun.run(rel, timeout=10, stdout_limit=4000)
            ok = r.stdout.startswith(b"spam spam spam spam\n" * 100)
            c.report(rel, ok, f"stdout {r.stdout[:40]!r}")
            continue
        if outcome == "timeout":
            r = qemurun.run(rel, timeout=1, trace=True)
            ok = r.timed_out and r.last_pc == elf.symbols[sym]
            c.report(rel, ok, f"timed_out={r.timed_out} last_pc={r.last_pc}")
            continue
        r = qemurun.run(rel, timeout=10, trace=True)
        ok = r.returncode == outcome
        detail = f"returncode {r.returncode}, expected {outcome}"
        if sym is not None:
            want = elf.symbols[sym]
            ok = ok and r.last_pc == want
            detail += f"; last pc {r.last_pc:#x}, {sym} = {want:#x}"
        c.report(rel, ok, detail)


def check_expected(c: Checker) -> None:
    with open(os.path.join(qemurun.HERE, "expected.json")) as f:
        entries = json.load(f)
    for e in entries:
        name = f"{e['program']} {' '.join(e['args'])}".strip()
        r = qemurun.run(e["program"], e["args"], e["stdin"].encode(), trace=True)
        got = (r.returncode, r.stdout.decode(errors="replace"), r.instructions)
        want = (e["exit_code"], e["stdout"], e.get("instructions"))
        c.report(name, got == want, f"got {got!r}, expected {want!r}")


def main() -> int:
    if not qemurun.available():
        print("qemu-riscv64 not found")
        return 1
    c = Checker()
    check_isa(c)
    check_faults(c)
    check_expected(c)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
