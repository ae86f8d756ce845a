"""Snapshot speed: the figures issue 3 names.

    python benchmarks/bench_snapshot.py [--repeat 7] [--json] [--no-pool]

For guests with 4 MiB and 64 MiB of dirty memory, with random contents and
with sparse contents (90% of the dirty pages all zeros):

- take + encode: ``machine.snapshot()`` then ``to_bytes()``, as a
  throughput ratio to ``lz4.frame.compress`` over the same bytes alone
  (the target is at least 0.8);
- decode + restore: ``Snapshot.from_bytes()`` then ``Machine.restore()``
  into a fresh machine, as a ratio to ``lz4.frame.decompress`` of those
  bytes' lz4 frame (target at least 0.8);
- incremental: a 64 MiB guest with one page dirtied since its last snapshot,
  time of ``snapshot(incremental=True)`` (target under 0.2 ms) and with
  ``to_bytes()``.

Each case uses one machine: every round takes a full snapshot of it, restores
that into a fresh machine, and times lz4 on the same bytes right after, so
noise hits both sides alike. The first round only warms caches. Ratios are
medians of the per-round ratios. Every restored machine is checked to hold
exactly the original memory.

Restoring always builds a fresh ``rvdist.Machine`` through
``Machine.restore``. Its guest memory may come from the core's pool of memory
that freed machines leave behind (here: the machine restored in the round
before), as it does in a long-running host actor, which frees and restores
machines all the time. The pool does not know the benchmark: restore zeroes
every reused page the snapshot does not overwrite. ``--no-pool`` turns the
pool off: then the kernel must fault in and zero every page of the fresh
memory (about 1 us per 4 KiB page on these VMs), while lz4.frame.decompress
of 4 MiB reuses warm heap memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

import lz4.frame

import rvdist
from rvdist.machine import set_memory_pool_limit

PROGRAM = Path(__file__).resolve().parent.parent / "tests" / "guests" / "c" / "hello.elf"
BASE = 1 << 20          # dirty region starts here, above the program image
PAGE = 4096


def dirty_machine(program: rvdist.Program, dirty: int, sparse: bool, seed: int = 1):
    """A machine with `dirty` bytes of written pages; returns it and those bytes."""
    m = rvdist.Machine(program, memory_size=BASE + dirty + (8 << 20))
    rng = random.Random(seed)
    pages = dirty // PAGE
    content = bytearray(dirty)
    if sparse:
        for p in rng.sample(range(pages), pages // 10):
            content[p * PAGE:(p + 1) * PAGE] = rng.randbytes(PAGE)
    else:
        content[:] = rng.randbytes(dirty)
    m.write_memory(BASE, bytes(content))
    return m, bytes(content)


def bench_case(program: rvdist.Program, dirty: int, sparse: bool, repeat: int) -> dict:
    """One machine per case; each round takes a full snapshot of it and restores it
    into a fresh machine. The first round warms caches and is not counted."""
    m, content = dirty_machine(program, dirty, sparse)
    take_ratio, restore_ratio, take_ms, restore_ms, sizes = [], [], [], [], []
    for round_ in range(repeat + 1):
        t0 = time.perf_counter()
        blob = m.snapshot().to_bytes()
        t_take = time.perf_counter() - t0
        t0 = time.perf_counter()
        frame = lz4.frame.compress(content)
        t_ref = time.perf_counter() - t0

        t0 = time.perf_counter()
        restored = rvdist.Machine.restore(program, rvdist.Snapshot.from_bytes(blob))
        t_restore = time.perf_counter() - t0
        t0 = time.perf_counter()
        lz4.frame.decompress(frame)
        t_ref_d = time.perf_counter() - t0

        if restored.read_memory(BASE, dirty) != content:
            raise SystemExit("restored memory differs from the original")
        del restored
        if round_ == 0:
            continue
        take_ratio.append(t_ref / t_take)
        restore_ratio.append(t_ref_d / t_restore)
        take_ms.append(t_take * 1e3)
        restore_ms.append(t_restore * 1e3)
        sizes.append(len(blob))
    return {
        "case": f"{dirty >> 20} MiB {'sparse' if sparse else 'random'}",
        "take_encode_ms": statistics.median(take_ms),
        "take_encode_vs_lz4_frame_compress": statistics.median(take_ratio),
        "decode_restore_ms": statistics.median(restore_ms),
        "decode_restore_vs_lz4_frame_decompress": statistics.median(restore_ratio),
        "snapshot_bytes": statistics.median(sizes),
    }


def bench_incremental(program: rvdist.Program, repeat: int) -> dict:
    m, _ = dirty_machine(program, 64 << 20, sparse=False)
    m.snapshot()
    snap_us, encode_us = [], []
    for i in range(max(repeat, 20)):
        m.write_memory(BASE + (i % 1000) * PAGE, os.urandom(64))
        t0 = time.perf_counter()
        s = m.snapshot(incremental=True)
        t1 = time.perf_counter()
        s.to_bytes()
        t2 = time.perf_counter()
        if s.info()["pages"] != 1:
            raise SystemExit(f"incremental snapshot holds {s.info()['pages']} pages, expected 1")
        snap_us.append((t1 - t0) * 1e6)
        encode_us.append((t2 - t0) * 1e6)
    return {"case": "incremental, 64 MiB guest, 1 dirty page",
            "snapshot_us_median": statistics.median(snap_us),
            "snapshot_and_encode_us_median": statistics.median(encode_us)}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-pool", action="store_true", help="restore into fresh memory from the kernel")
    a = ap.parse_args(argv)
    if a.no_pool:
        set_memory_pool_limit(0)
    program = rvdist.Program.from_file(PROGRAM)
    results = [bench_case(program, size, sparse, a.repeat)
               for size in (4 << 20, 64 << 20) for sparse in (False, True)]
    inc = bench_incremental(program, a.repeat)
    if a.json:
        print(json.dumps({"full": results, "incremental": inc}, indent=2))
        return 0
    for r in results:
        print(f"{r['case']:<16} take+encode {r['take_encode_ms']:7.2f} ms "
              f"({r['take_encode_vs_lz4_frame_compress']:.2f}x lz4.frame.compress)   "
              f"decode+restore {r['decode_restore_ms']:7.2f} ms "
              f"({r['decode_restore_vs_lz4_frame_decompress']:.2f}x lz4.frame.decompress)   "
              f"{r['snapshot_bytes'] / 2**20:.2f} MiB encoded")
    print(f"{inc['case']}: snapshot {inc['snapshot_us_median']:.1f} us, "
          f"with to_bytes {inc['snapshot_and_encode_us_median']:.1f} us (medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
