"""Host actors: where jobs' machines live between slices.

A host is one execution slot on one Ray node. It keeps the machines of the
jobs placed on it resident, so a slice is just a call to ``run``. A
snapshot leaves the host only when a job moves. Programs arrive once per
host as an object reference, keyed by digest, and are cached.

This module holds the Ray plumbing of one host; which job runs where is
decided by :mod:`rvdist.policy`, and :mod:`rvdist.executor` drives both.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import ray

from rvdist import _origin
from rvdist.errors import RvError
from rvdist.machine import Machine
from rvdist.program import Program
from rvdist.snapshot import Snapshot


# A worker's first reply that goes through the object store (over 100 KiB)
# took 0.5 to 0.9 s here, whatever its size; later ones take milliseconds.
WARM_UP_BYTES = 1 << 20


def _wire(data: bytes) -> np.ndarray:
    """Snapshot bytes as Ray ships them best: a numpy array is serialised out
    of band and read back without a copy (bytes cost the receiver 0.1 s per
    48 MiB to unpickle, measured)."""
    return np.frombuffer(data, dtype=np.uint8)


def _result_dict(m: Machine, r: Any) -> dict[str, Any]:
    """A slice's outcome, small unless the job is finished."""
    out: dict[str, Any] = {"state": r.state, "cycles": r.cycles, "used": r.used,
                           "exit_code": r.exit_code, "done": r.done,
                           "error": r.error.to_dict() if r.error else None}
    if r.done or r.state == "host_call":
        out["stdout"] = m.stdout
        out["stderr"] = m.stderr
        out["files"] = m.files()
    return out


class Host:
    """One slot: resident machines of the jobs placed here, run slice by slice."""

    def __init__(self) -> None:
        self._programs: dict[str, Program] = {}
        self._blobs: dict[str, bytes] = {}      # declared files' bytes by digest
        self._machines: dict[str, Machine] = {}

    def warm_up(self) -> dict[str, Any]:
        """A reply big enough to go through the object store: pay the first
        one's cost when the host starts, not in a migration or checkpoint.
        It names the rvdist this host imported (``origin``: ``path`` and
        ``fingerprint``), which must be the driver's."""
        return {"origin": _origin.origin(), "pad": bytes(WARM_UP_BYTES)}

    def _program(self, digest: str, program: list) -> Program:
        prog = self._programs.get(digest)
        if prog is None:
            # `program` wraps the driver's ObjectRef in a list so that Ray does
            # not fetch it for every call: only a host that lacks it asks.
            data, name = ray.get(program[0])
            prog = self._programs[digest] = Program(data, name=name)
        return prog

    def _files(self, files: Optional[dict[str, Any]]) -> dict[str, bytes]:
        """A job's declared files (guest path -> bytes), fetched once per digest:
        ``files`` maps paths to digests and digests to ObjectRefs."""
        if not files:
            return {}
        out = {}
        for path, digest in files["paths"].items():
            data = self._blobs.get(digest)
            if data is None:
                data = self._blobs[digest] = ray.get(files["refs"][digest])
            out[path] = data
        return out

    def run_slice(self, job_id: str, budget: int, digest: Optional[str] = None,
                  program: Optional[list] = None, config: Optional[dict[str, Any]] = None,
                  snapshot: Optional[bytes] = None, checkpoint_at: Optional[int] = None,
                  slices: int = 1, files: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        """Run one slice of a resident job. With ``config`` the job starts here
        first; with ``snapshot`` it is restored here first (after a move or a
        loss). With ``checkpoint_at``, the job's snapshot after the first slice
        that ends at or past that cycle count (unless the job ended) comes back
        as ``out["snapshot"]``, with its ``out["snapshot_cycles"]``, for the
        driver to keep. With ``slices`` > 1 it runs up to that many slices
        back to back (fewer if the job ends), each of ``budget`` cycles: the
        driver asks for that only when no other job waits, to save Ray calls.
        ``out["slices"]`` lists the cycle count after each slice run."""
        try:
            if config is not None:
                self._machines[job_id] = Machine(self._program(digest, program),
                                                 files=self._files(files), **config)
            elif snapshot is not None:
                self.put(job_id, digest, program, snapshot, files)
        except RvError as e:
            return {"state": "rejected", "done": True, "error": e.to_dict()}
        m = self._machines.get(job_id)
        if m is None:       # a queued slice of a job that ended or moved meanwhile
            return {"state": "gone", "done": False}
        after: list[int] = []
        snap = None
        for _ in range(max(1, slices)):
            r = m.run(budget)
            after.append(r.cycles)
            if r.done or r.state == "host_call":
                break
            if snap is None and checkpoint_at is not None and r.cycles >= checkpoint_at:
                snap = (m.snapshot().to_bytes(), r.cycles)
        out = _result_dict(m, r)
        out["slices"] = after
        if r.done:
            del self._machines[job_id]
        elif snap is not None:
            out["snapshot"], out["snapshot_cycles"] = _wire(snap[0]), snap[1]
        return out

    def take(self, job_id: str) -> np.ndarray:
        """Snapshot the job and let go of it: the first half of a migration."""
        m = self._machines.pop(job_id)
        return _wire(m.snapshot().to_bytes())

    def put(self, job_id: str, digest: str, program: list, snapshot: bytes,
            files: Optional[dict[str, Any]] = None) -> None:
        """Restore a job from a snapshot: the second half of a migration."""
        self._machines[job_id] = Machine.restore(self._program(digest, program),
                                                 Snapshot.from_bytes(snapshot), files=self._files(files))

    def drop(self, job_id: str) -> None:
        self._machines.pop(job_id, None)



#: The Ray actor class: one CPU per host, so a node gets as many hosts as CPUs.
HostActor = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(Host)
