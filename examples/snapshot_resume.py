"""Stop a program mid-run, carry its state as bytes, finish it elsewhere.

A stock glibc program (examples/guests/mandel.elf) runs in slices of 20M
cycles. After three slices its state is captured as a snapshot (lz4-
compressed, checksummed bytes: what rvdist ships between nodes), and a new
machine built from those bytes alone finishes the run. The result is
compared with a run that was never interrupted: stdout, created files and
the cycle count must all be identical.

    python examples/snapshot_resume.py
"""

from __future__ import annotations

from pathlib import Path

import rvdist

MANDEL = Path(__file__).resolve().parent / "guests" / "mandel.elf"
ARGS = ["320", "200", "1000", "0", "200"]       # width height iterations rows


def main() -> None:
    program = rvdist.Program.from_file(MANDEL)

    whole = rvdist.Machine(program, args=ARGS, memory_size="32MiB")
    whole.run()

    first = rvdist.Machine(program, args=ARGS, memory_size="32MiB")
    for _ in range(3):
        first.run(20_000_000)                   # stops at an instruction boundary
    data = first.snapshot().to_bytes()
    print(f"stopped after {first.cycles:,} cycles; snapshot of {len(data):,} bytes")

    # On another host, this is all it takes: the program and the bytes.
    second = rvdist.Machine.restore(program, rvdist.Snapshot.from_bytes(data))
    result = second.run()
    print(f"resumed and {result.state} at {second.cycles:,} cycles: {second.stdout.decode().strip()}")

    same = (second.stdout, second.files(), second.cycles, second.exit_code) == \
        (whole.stdout, whole.files(), whole.cycles, whole.exit_code)
    print("identical to the uninterrupted run" if same else "DIFFERENT from the uninterrupted run")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
