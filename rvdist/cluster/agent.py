"""The node agent: one actor per node that runs the jobs placed there.

An agent holds the resident machines of its node's jobs and runs them
slice by slice on one worker thread per slot, without asking the driver:
the highest priority first, then round-robin (the job whose last slice
started longest ago). A slice is still the unit of metering, preemption
and migration: a job placed here, a higher-priority job, an eviction or a
cancellation takes effect at the next slice boundary. The slices run in C
with the GIL released (cffi), so the threads use every core of the node.
A slot never idles while one of its node's jobs is runnable.

The agent writes each job's checkpoints to the store itself, every
``checkpoint_cycles`` of the job (an increment of the pages written since
the previous one; a full snapshot now and then, which compacts the chain),
from a writer thread: the job waits for its write while the slot runs other
jobs, so that it never runs past a checkpoint the store does not hold. It reports to the
driver through :meth:`NodeAgent.poll`, a long poll that returns at once
when something changed (a job started, ended, left or was checkpointed) and
otherwise every ``report_interval`` seconds with the jobs' progress.

Commands (:meth:`NodeAgent.command`) are ``("assign", spec, epoch,
checkpoint_cycles[, restore])`` (``restore``: the job has a chain in the
store to resume from; true if left out), ``("evict", job_id, epoch)`` and ``("drop", job_id,
epoch)``. Every report names the job's epoch, the placement it belongs to,
so that the driver can tell a late report from a current one.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from rvdist.cluster.contents import DEFAULT_IDLE_BYTES, ContentCache
from rvdist.errors import RvError
from rvdist.machine import Machine
from rvdist.process import JobFiles
from rvdist.program import Program
from rvdist.snapshot import Snapshot

__all__ = ["NodeAgent", "FULL_EVERY"]

log = logging.getLogger(__name__)

#: A full snapshot replaces the chain after this many increments, or once the
#: increments since the last full one add up to its size.
FULL_EVERY = 16
# A worker's first reply through the object store was measured to take 0.5
# to 0.9 s, later ones milliseconds: pay it when the agent starts.
WARM_UP_BYTES = 1 << 20


@dataclass
class _Resident:
    spec: Any
    epoch: int
    checkpoint_cycles: Optional[int]
    seq: int
    machine: Optional[Machine] = None
    running: bool = False
    leave: bool = False         # evict at the next slice boundary
    drop: bool = False          # cancel at the next slice boundary
    flushing: bool = False      # a checkpoint of it is being written; it waits
    last_turn: int = 0
    cycles: int = 0
    slices: int = 0             # not reported yet
    next_checkpoint: Optional[int] = None
    tip: Optional[str] = None   # id of the newest checkpoint in the store
    inc_seq: int = 0
    since_full: int = 0
    inc_bytes: int = 0
    full_bytes: int = 0
    preempted_by: Optional[str] = None
    writes: int = 0             # checkpoint writes queued and not done yet
    finished: Optional[dict] = None     # its end, reported when its writes are done
    assigned_at: int = 0        # the node's slice count when it was placed here
    holds: tuple = ()           # the keys of the node's contents it uses
    restore: bool = True        # resume from its chain in the store (else start afresh)


class NodeAgent:
    """The jobs of one node, run slice by slice on ``slots`` worker threads."""

    def __init__(self, node_id: str, slots: int, store: Any, slice_cycles: int,
                 report_interval: float = 0.2, idle_content_bytes: int = DEFAULT_IDLE_BYTES) -> None:
        self.node_id = node_id
        self.slots = slots
        self.store = store
        self.slice_cycles = slice_cycles
        self.report_interval = report_interval
        self._lock = threading.Condition()
        self._jobs: dict[str, _Resident] = {}
        # programs and declared files, fetched once while any job here uses them
        self._contents = ContentCache(idle_content_bytes)
        self._events: list[tuple] = []
        self._clock = itertools.count()
        self._slices_done = 0       # slices ended on this node, all jobs
        self._stopped = False
        self._writes: "queue.Queue[Optional[tuple]]" = queue.Queue()
        self._threads = [threading.Thread(target=self._worker, name=f"rvdist-slot-{i}", daemon=True)
                         for i in range(slots)]
        self._threads.append(threading.Thread(target=self._writer, name="rvdist-writer",
                                              daemon=True))
        for t in self._threads:
            t.start()

    # -- the driver's calls ----------------------------------------------------------

    def warm_up(self) -> dict[str, Any]:
        """A reply big enough to go through the object store (see
        WARM_UP_BYTES). It names the rvdist this agent imported (``origin``:
        ``path`` and ``fingerprint``), which must be the driver's."""
        from rvdist import _origin
        return {"origin": _origin.origin(), "pad": bytes(WARM_UP_BYTES)}

    def command(self, commands: list[tuple]) -> None:
        """Carry out the driver's commands (see the module doc), in order."""
        with self._lock:
            for cmd in commands:
                kind = cmd[0]
                if kind == "assign":
                    _, spec, epoch, checkpoint_cycles, *restore = cmd
                    self._jobs[spec.job_id] = _Resident(spec, epoch, checkpoint_cycles,
                                                        seq=next(self._clock),
                                                        last_turn=next(self._clock),
                                                        assigned_at=self._slices_done,
                                                        restore=restore[0] if restore else True)
                elif kind in ("evict", "drop"):
                    _, job_id, epoch = cmd
                    r = self._jobs.get(job_id)
                    if r is not None and r.epoch == epoch:
                        setattr(r, "leave" if kind == "evict" else "drop", True)
                elif kind == "stop":
                    self._stopped = True
            self._lock.notify_all()

    def poll(self, wait: Optional[float] = None) -> bytes:
        """What happened since the last poll, pickled: ``{"events": [...],
        "progress": [(job_id, epoch, cycles, slices), ...], "jobs": n}``.

        Returns as soon as there are events, else after ``wait`` seconds
        (``report_interval`` by default) with the progress alone. Pickled
        here so that the driver can count the bytes it receives.
        """
        deadline = time.monotonic() + (self.report_interval if wait is None else wait)
        with self._lock:
            while not self._events and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            events, self._events = self._events, []
            progress = []
            for job_id, r in self._jobs.items():
                if r.slices:
                    progress.append((job_id, r.epoch, r.cycles, r.slices))
                    r.slices = 0
            return pickle.dumps({"events": events, "progress": progress,
                                 "jobs": len(self._jobs)}, protocol=5)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._writes.put(None)

    # -- slots -------------------------------------------------------------------------

    def _pick(self) -> Optional[tuple[str, _Resident]]:
        """The next job for a free slot: higher priority first, then round-robin."""
        best = None
        for job_id, r in self._jobs.items():
            if r.running or r.flushing:
                continue
            key = (not (r.leave or r.drop), -r.spec.priority, r.last_turn, r.seq)
            if best is None or key < best[0]:
                best = (key, job_id, r)
        return None if best is None else (best[1], best[2])

    def _worker(self) -> None:
        prev: Optional[_Resident] = None
        while True:
            with self._lock:
                picked = None
                while not self._stopped and (picked := self._pick()) is None:
                    self._lock.wait()
                if self._stopped:
                    return
                job_id, r = picked
                r.running = True
                r.last_turn = next(self._clock)
                if prev is not None and prev is not r and prev.spec.priority < r.spec.priority \
                        and self._jobs.get(prev.spec.job_id) is prev and not prev.running \
                        and prev.preempted_by is None and not prev.leave:
                    prev.preempted_by = r.spec.name
                    self._emit("preempt", prev, by=r.spec.name)
            try:
                self._turn(job_id, r)
            except Exception as e:      # a bug or a host problem: the driver decides
                log.exception("rvdist agent: job %s failed on %s", job_id, self.node_id)
                with self._lock:
                    self._forget(job_id, r)
                    self._emit("crashed", r, error=f"{type(e).__name__}: {e}")
            finally:
                with self._lock:
                    r.running = False
                    self._lock.notify_all()
            prev = r

    def _turn(self, job_id: str, r: _Resident) -> None:
        """One slice of a job (loading it first if it has just been placed here)."""
        if r.drop:
            with self._lock:
                self._forget(job_id, r)
                self._emit("dropped", r)
            return
        if r.machine is None and r.leave:       # never loaded: its chain is still in the store
            with self._lock:
                self._forget(job_id, r)
                self._emit("left", r, cycles=None, bytes=0)
            return
        if r.machine is None and not self._load(job_id, r):  # (counted before the load)
            return
        m = r.machine
        assert m is not None
        if r.leave:
            self._checkpoint(r, final=True)
            return
        res = m.run(self.slice_cycles)
        with self._lock:
            self._slices_done += 1
            r.cycles = res.cycles
            r.slices += 1
            r.preempted_by = None
            if res.done or res.state == "host_call":
                self._forget(job_id, r)
                # Reported once its checkpoints are stored, so that the driver's
                # clean-up of the store comes after the last write.
                r.finished = dict(state=res.state, cycles=res.cycles,
                                  exit_code=res.exit_code, stdout=m.stdout, stderr=m.stderr,
                                  error=res.error.to_dict() if res.error else None,
                                  slices=r.slices, files=m.files())
                r.slices = 0
                if not r.writes:
                    self._emit("finished", r, **r.finished)
                return
        if r.next_checkpoint is not None and res.cycles >= r.next_checkpoint:
            self._checkpoint(r, final=False)

    def _load(self, job_id: str, r: _Resident) -> bool:
        """Build the job's machine: from its chain in the store, or from the start."""
        spec = r.spec
        try:
            program, files = self._contents_of(r)
            chain = self.store.read(job_id) if self.store is not None and r.restore else []
            if chain:
                snaps = [Snapshot.from_bytes(c) for c in chain]
                kw = {}
                if spec.config.get("output_limit") is not None:
                    kw["output_limit"] = spec.config["output_limit"]
                m = Machine.restore(program, snaps, files=files, **kw)
                r.tip = snaps[-1].id
                r.full_bytes = len(chain[0])
                r.since_full = len(chain) - 1
                r.inc_bytes = sum(len(c) for c in chain[1:])
            else:
                m = Machine(program, files=files, **spec.config)
        except RvError as e:
            with self._lock:
                self._forget(job_id, r)
                self._emit("rejected", r, error=e.to_dict())
            return False
        with self._lock:
            r.machine = m
            r.cycles = m.cycles
            if r.checkpoint_cycles is not None:
                r.next_checkpoint = m.cycles + r.checkpoint_cycles
            # how many slices ended here between its placement and its start:
            # at most one per slot once it is the most urgent job here
            self._emit("started", r, cycles=m.cycles, restored=bool(chain),
                       bytes=sum(len(c) for c in chain),
                       waited_slices=self._slices_done - r.assigned_at)
        return True

    def _contents_of(self, r: _Resident) -> tuple[Program, JobFiles]:
        """The job's program and declared files, from the node's cache (each
        content fetched from the object store once while the node keeps it).
        The job holds them until it leaves the node (:meth:`_forget`)."""
        spec = r.spec
        keys = spec.contents()
        if isinstance(spec.program, Program):      # an agent in the driver's process
            return spec.program, JobFiles(dict(spec.files),
                                          {k[1]: bytes(spec.blobs[k[1]]) for k in keys[1:]})

        def fetch(missing: list) -> list[tuple[Any, int]]:
            import ray
            got = ray.get([spec.program[0] if kind == "program" else spec.blobs[d][0]
                           for kind, d in missing], timeout=300)
            return [(Program(v[0], name=v[1]), len(v[0])) if kind == "program" else (v, len(v))
                    for (kind, _), v in zip(missing, got)]

        held = self._contents.acquire(keys, fetch)
        r.holds = tuple(keys)
        return held[keys[0]], JobFiles(dict(spec.files), {k[1]: held[k] for k in keys[1:]})

    def _forget(self, job_id: str, r: _Resident) -> None:
        """The job leaves this node for good: its contents may go (under the lock)."""
        self._jobs.pop(job_id, None)
        holds, r.holds = r.holds, ()
        self._contents.release(holds)

    def contents(self) -> dict[str, int]:
        """The node's cache of programs and declared files (see
        :meth:`ContentCache.stats <rvdist.cluster.contents.ContentCache.stats>`)."""
        return self._contents.stats()

    # -- checkpoints ----------------------------------------------------------------------

    def _checkpoint(self, r: _Resident, final: bool) -> None:
        """Capture the job's snapshot (in this slot's thread, between slices)
        and queue it for the writer. A final one also lets the job go."""
        m = r.machine
        assert m is not None
        full = r.tip is None or r.since_full >= FULL_EVERY or \
            (r.full_bytes and r.inc_bytes >= r.full_bytes)
        snap = m.snapshot(incremental=not full)
        data = snap.to_bytes()
        with self._lock:
            r.tip = snap.id
            if full:
                r.since_full, r.inc_bytes, r.full_bytes = 0, 0, len(data)
            else:
                r.since_full += 1
                r.inc_bytes += len(data)
            r.inc_seq += 1
            if r.checkpoint_cycles is not None:
                r.next_checkpoint = m.cycles + r.checkpoint_cycles
            # The job waits for the write (its slot runs other jobs): it never
            # runs past a checkpoint the store does not hold yet, so a lost
            # node costs it at most one interval.
            r.flushing = True
            r.writes += 1
        self._writes.put((r, full, r.inc_seq, data, m.cycles, final))

    def _writer(self) -> None:
        while True:
            item = self._writes.get()
            if item is None:
                return
            r, full, seq, data, cycles, final = item
            job_id = r.spec.job_id
            try:
                n = self.store.write(job_id, r.epoch, seq, full, _wire(data))
                ok, error = True, None
            except Exception as e:          # the store is unreachable: the driver decides
                ok, error, n = False, f"{type(e).__name__}: {e}", 0
            with self._lock:
                r.writes -= 1
                if not final:
                    r.flushing = False
                if ok:
                    self._emit("checkpoint", r, cycles=cycles, bytes=n, full=full)
                else:
                    r.tip = None            # the next one must be full
                    if not final:
                        self._emit("store_failed", r, error=error)
                if final:
                    if ok:
                        self._forget(job_id, r)
                        self._emit("left", r, cycles=cycles, bytes=n)
                    else:
                        r.flushing = r.leave = False
                        self._emit("stayed", r, error=error)
                if r.finished is not None and not r.writes:
                    self._emit("finished", r, **r.finished)
                self._lock.notify_all()

    def _emit(self, kind: str, r: _Resident, **data: Any) -> None:
        self._events.append((kind, r.spec.job_id, r.epoch, data))
        self._lock.notify_all()


def _wire(data: bytes) -> Any:
    """Snapshot bytes as Ray ships them best: a numpy array goes out of band
    and is read back without unpickling (bytes cost 0.1 s per 48 MiB)."""
    try:
        import numpy as np
    except ImportError:
        return data
    return np.frombuffer(data, dtype=np.uint8)


def agent_actor(num_cpus: float) -> Any:
    """The Ray actor class of :class:`NodeAgent`, holding ``num_cpus`` of its node.

    Threaded (several calls at once), so that commands arrive while a poll
    waits; never restarted by Ray, since its machines would be lost anyway
    and the driver restores them from the store.
    """
    import ray
    return ray.remote(num_cpus=num_cpus, max_concurrency=4, max_restarts=0,
                      max_task_retries=0)(NodeAgent)
