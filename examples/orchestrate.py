"""Render an image as many jobs on Ray, from a Python script.

Each of 32 bands of a 1280x800 Mandelbrot image is a job running a stock
glibc program (examples/guests/mandel.elf), far more jobs than this
machine has slots: they take turns slice by slice. Midway, a small
preview job comes in at a higher priority and starts at the next slice
boundary, and one running band is moved live (to another node, or on a
one-node Ray through a checkpoint back onto the same one). The bands are
assembled into a PGM image, and one band is checked against a run in this
process: a job gives the same bytes however it was sliced or moved.

    python examples/orchestrate.py [--out mandel.pgm] [--address ADDR]

Without ``--address`` it starts a private local Ray, as ``rvdist batch`` does.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import rvdist

MANDEL = Path(__file__).resolve().parent / "guests" / "mandel.elf"
WIDTH, HEIGHT, ITERATIONS, BANDS = 1280, 800, 1500, 32


def band_args(i: int, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    rows = height // BANDS
    return [str(width), str(height), str(ITERATIONS), str(i * rows), str((i + 1) * rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="mandel.pgm", help="where to write the image")
    ap.add_argument("--address", default=None, help="a Ray cluster to join")
    a = ap.parse_args()

    t0 = time.monotonic()
    with rvdist.Executor(address=a.address, slice_cycles=10_000_000) as ex:
        print(f"{len(ex.nodes())} node(s), {ex.slots()} slots, {BANDS} bands")
        bands = [ex.submit(MANDEL, args=band_args(i), name=f"band{i:02d}", memory_size="32MiB")
                 for i in range(BANDS)]

        # once some work is under way: a preview at a higher priority, and a live move
        while sum(b.progress()["slices"] for b in bands) < 2 * ex.slots():
            time.sleep(0.05)
        preview = ex.submit(MANDEL, args=["160", "100", "200", "0", "100"], name="preview",
                            priority=5, memory_size="32MiB")
        running = next((b for b in bands if b.status() == "running"), None)
        if running is not None:
            ex.migrate(running)
        p = preview.result(timeout=600)
        start = next(ev for ev in p.history if ev["event"] == "start")
        print(f"preview {p.status} after {time.monotonic() - t0:.1f} s: it started once "
              f"{start['waited_slices']} slice(s) of other jobs had ended on its node, "
              f"while {sum(not b.done() for b in bands)} bands were still to finish")

        for job in ex.as_completed(bands, timeout=1800):
            r = job.result()
            if r.status != "done" or r.exit_code != 0:
                raise SystemExit(f"{r.name} {r.status}: {r.error or r.stderr.decode()}")
        results = [b.result() for b in bands]

    image = b"".join(r.files["/out/rows.pgm-part"] for r in results)
    Path(a.out).write_bytes(b"P5\n%d %d\n255\n" % (WIDTH, HEIGHT) + image)
    moved = [r.name for r in results if r.migrations]
    print(f"{len(results)} bands in {time.monotonic() - t0:.1f} s, "
          f"{sum(r.cycles for r in results):,} instructions; moved: {', '.join(moved) or 'none'}; "
          f"image in {a.out}")

    # any one band, run here without slices or moves, gives the same bytes
    check = moved[0] if moved else results[0].name
    i = int(check[4:])
    m = rvdist.Machine(MANDEL, args=band_args(i), memory_size="32MiB")
    m.run()
    r = results[i]
    same = (m.stdout, m.files(), m.cycles) == (r.stdout, r.files, r.cycles)
    print(f"{check} matches a run in this process: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
