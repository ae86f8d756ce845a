"""Run many RISC-V jobs on a Ray cluster, slice by slice, and move them live.

::

    import rvdist
    with rvdist.Executor() as ex:                 # a local Ray, or address="auto"
        jobs = [ex.submit("prog.elf", args=[str(i)]) for i in range(10)]
        for job in ex.as_completed(jobs):
            print(job.name, job.result().exit_code)

A job's machine stays resident on one host actor between slices; the
scheduler (:mod:`rvdist.policy`) decides which job each free slot runs next.
A job moves between hosts as a snapshot, only when it must: an explicit
:meth:`Executor.migrate`, or a slot that would otherwise sit idle.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional, Sequence, Union

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rvdist.errors import ConfigError, RvError
from rvdist.hosts import HostActor
from rvdist.machine import DEFAULT_MEMORY_SIZE
from rvdist.policy import Scheduler
from rvdist.program import Program

__all__ = ["Executor", "Job", "JobResult"]


@dataclass(frozen=True)
class JobResult:
    """The outcome of a job.

    ``status`` is ``"done"`` (the guest exited; see ``exit_code``),
    ``"failed"`` (see ``error``, the guest error as a dict with ``kind``,
    ``pc``, ``address`` and ``message``) or ``"cancelled"``. ``history``
    lists the job's events in order, each a dict with ``event``
    (``start``, ``migrate``, ``finish``), ``node`` and ``time``.
    """

    job_id: str
    name: str
    status: str
    exit_code: Optional[int]
    stdout: bytes
    stderr: bytes
    cycles: int
    slices: int
    error: Optional[dict[str, Any]]
    history: tuple[dict[str, Any], ...]

    @property
    def nodes(self) -> list[str]:
        """The nodes the job ran on, in order, without repeats."""
        out: list[str] = []
        for ev in self.history:
            if ev.get("node") and (not out or out[-1] != ev["node"]):
                out.append(ev["node"])
        return out

    @property
    def migrations(self) -> int:
        return sum(1 for ev in self.history if ev["event"] == "migrate")


class Job:
    """A handle on a submitted job (see :meth:`Executor.submit`)."""

    def __init__(self, executor: "Executor", job_id: str, name: str, digest: str,
                 config: dict[str, Any], priority: int) -> None:
        self._ex = executor
        self.id = job_id
        self.name = name
        self.priority = priority
        self._digest = digest
        self._config = config
        self._state = "pending"
        self._done = threading.Event()
        self._result: Optional[JobResult] = None
        self._history: list[dict[str, Any]] = []
        self._slices = 0
        self._cycles = 0
        self._home: Optional[int] = None        # slot index holding the machine
        self._cancel = False
        self._move_to: Optional[str] = None     # node id requested by migrate()
        self._queued = 0                        # slice calls in flight on its host

    def status(self) -> str:
        """``pending``, ``running``, ``suspended``, ``done``, ``failed`` or ``cancelled``."""
        return self._state

    def result(self, timeout: Optional[float] = None) -> JobResult:
        """Wait for the job to end and return its result (TimeoutError if it does not)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.name} did not finish within {timeout} s")
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Stop the job at its next slice boundary and free its slot."""
        self._ex._cancel(self)

    def done(self) -> bool:
        return self._done.is_set()

    def __repr__(self) -> str:
        return f"<Job {self.name} {self._state} slices={self._slices} cycles={self._cycles}>"


class _Slot:
    def __init__(self, index: int, node_id: str, actor: Any) -> None:
        self.index = index
        self.id = f"slot-{index}"
        self.node_id = node_id
        self.actor = actor


class Executor:
    """Runs jobs on resident VMs across a Ray cluster in slices of ``slice_cycles``.

    With ``address=None`` and no Ray running in this process, it starts a
    private local Ray sized to the machine (or, inside a Ray job, joins the
    cluster ``RAY_ADDRESS`` names); ``address="auto"`` joins the cluster
    running on this machine, and an explicit address joins that one. One host actor is started per CPU of every
    node, ahead of need. Use it as a context manager, or call
    :meth:`shutdown`.
    """

    def __init__(self, address: Optional[str] = None, slice_cycles: int = 10_000_000,
                 slots_per_node: Optional[int] = None, ray_init: Optional[dict[str, Any]] = None) -> None:
        if slice_cycles <= 0:
            raise ConfigError(f"slice_cycles must be positive, got {slice_cycles}")
        self.slice_cycles = slice_cycles
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            kwargs = {"include_dashboard": False, "log_to_driver": False,
                      "logging_level": logging.ERROR, **(ray_init or {})}
            if address is None:
                # Inside a Ray job (ray job submit) RAY_ADDRESS names the cluster;
                # otherwise start a private local Ray sized to this machine.
                address = os.environ.get("RAY_ADDRESS") or "local"
            if address == "local":
                kwargs.setdefault("num_cpus", os.cpu_count() or 1)
            ray.init(address=address, **kwargs)
        self._lock = threading.Condition()
        self._sched = Scheduler()
        self._slots: list[_Slot] = []
        self._jobs: dict[str, Job] = {}
        self._programs: dict[str, Any] = {}     # digest -> ObjectRef of (bytes, name)
        self._inflight: dict[Any, tuple[str, Job, _Slot]] = {}
        self._closed = False
        self._seq = itertools.count()
        self._add_hosts(slots_per_node)
        self._thread = threading.Thread(target=self._loop, name="rvdist-executor", daemon=True)
        self._thread.start()

    # -- public API ---------------------------------------------------------

    def submit(self, program: Union[Program, str, os.PathLike, bytes], args: Sequence[str] = (),
               stdin: bytes = b"", max_cycles: Optional[int] = None,
               memory_size: Union[int, str] = DEFAULT_MEMORY_SIZE, cost_model: Any = "unit",
               priority: int = 0, name: Optional[str] = None) -> Job:
        """Queue a job; returns at once. Bad programs raise ProgramError here."""
        if not isinstance(program, Program):
            program = Program(program) if isinstance(program, bytes) else Program.from_file(program)
        with self._lock:
            if self._closed:
                raise RvError("the executor is shut down")
            if program.digest not in self._programs:
                self._programs[program.digest] = ray.put((program.data, program.name))
            job_id = uuid.uuid4().hex[:12]
            config = {"args": list(args), "stdin": bytes(stdin), "memory_size": memory_size,
                      "cost_model": cost_model, "max_cycles": max_cycles}
            job = Job(self, job_id, name or f"{program.name}#{next(self._seq)}", program.digest,
                      config, priority)
            self._jobs[job_id] = job
            self._sched.add_job(job_id, priority=priority)
            self._lock.notify_all()
        return job

    def map(self, program: Union[Program, str, os.PathLike], argss: Iterable[Sequence[str]],
            **kwargs: Any) -> list[JobResult]:
        """Run ``program`` once per argument list and return the results in order."""
        jobs = [self.submit(program, args=a, **kwargs) for a in argss]
        return [j.result() for j in jobs]

    def as_completed(self, jobs: Iterable[Job], timeout: Optional[float] = None) -> Iterator[Job]:
        """Yield jobs as they end (TimeoutError if ``timeout`` seconds pass first)."""
        left = list(jobs)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while left:
                done = [j for j in left if j.done()]
                for j in done:
                    left.remove(j)
                    self._lock.release()
                    try:
                        yield j
                    finally:
                        self._lock.acquire()
                if not left:
                    break
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    raise TimeoutError(f"{len(left)} jobs still running after {timeout} s")
                self._lock.wait(wait if wait is not None else 1.0)

    def migrate(self, job: Job, node_id: Optional[str] = None) -> None:
        """Move a live job at its next slice boundary to a host on ``node_id``
        (Ray's hex node id), or with ``node_id=None`` to any other host."""
        if node_id is not None and node_id not in {s.node_id for s in self._slots}:
            raise ConfigError(f"no rvdist host on node {node_id}")
        if len(self._slots) < 2:
            raise ConfigError("there is no other host to move the job to")
        with self._lock:
            job._move_to = node_id or "*"
            self._lock.notify_all()

    def nodes(self) -> list[str]:
        """The node ids that have hosts."""
        return sorted({s.node_id for s in self._slots})

    def shutdown(self) -> None:
        """Stop dispatching, cancel what is left, and release the hosts (and a Ray we started)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout=30)
        for s in self._slots:
            ray.kill(s.actor)
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- hosts ----------------------------------------------------------------

    def _add_hosts(self, per_node: Optional[int]) -> None:
        for node in ray.nodes():
            if not node.get("Alive") or node.get("Resources", {}).get("CPU", 0) < 1:
                continue
            n = per_node or int(node["Resources"]["CPU"])
            for _ in range(n):
                actor = HostActor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                    node["NodeID"], soft=False)).remote()
                slot = _Slot(len(self._slots), node["NodeID"], actor)
                self._slots.append(slot)
        ray.get([s.actor.ping.remote() for s in self._slots], timeout=120)
        for s in self._slots:
            self._sched.add_slot(s.id, s.node_id)

    # -- the dispatcher -------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed and not self._inflight:
                    break
                if not self._closed:
                    try:
                        self._dispatch()
                    except Exception as e:   # a bug here must not strand waiting callers
                        self._abort(e)
                        break
                refs = list(self._inflight)
                if not refs:
                    self._lock.wait(0.5)
                    continue
            ready, _ = ray.wait(refs, num_returns=1, timeout=0.5)
            for ref in ready:
                self._complete(ref)

    def _dispatch(self) -> None:
        busy = {slot.index for _, _, slot in self._inflight.values()}
        for job in list(self._jobs.values()):
            if job._cancel and job._state not in ("running", "done", "failed", "cancelled"):
                self._finish_cancelled(job)
            elif job._move_to and job._state == "suspended" and job._home is not None:
                self._move(job, busy)
        for slot in self._slots:
            if slot.index in busy:
                continue
            decision = self._sched.next_for(slot.id)
            if decision is None:
                continue
            job = self._jobs[decision.job_id]
            kwargs: dict[str, Any] = {}
            if job._home is None:
                kwargs = {"digest": job._digest, "program": [self._programs[job._digest]],
                          "config": job._config}
                self._event(job, "start", slot.node_id)
            elif job._home != slot.index:
                src = self._slots[job._home]
                kwargs = {"digest": job._digest, "program": [self._programs[job._digest]],
                          "snapshot": src.actor.take.remote(job.id)}
                self._event(job, "migrate", slot.node_id, source=src.node_id, reason="balance")
            ref = slot.actor.run_slice.remote(job.id, self.slice_cycles, **kwargs)
            job._home = slot.index
            job._state = "running"
            job._queued += 1
            self._sched.slice_started(job.id, slot.id)
            self._inflight[ref] = ("slice", job, slot)
            busy.add(slot.index)
        # When nothing waits for a slot, queue each running job's next slice on
        # its host now: the host starts it the moment the current one ends,
        # instead of idling for a round trip through this driver.
        if not any(not j.running for j in self._sched.jobs.values()):
            for kind, job, slot in list(self._inflight.values()):
                if kind == "slice" and job._queued == 1 and not job._cancel and not job._move_to:
                    self._inflight[slot.actor.run_slice.remote(job.id, self.slice_cycles)] = \
                        ("slice", job, slot)
                    job._queued += 1

    def _move(self, job: Job, busy: set[int]) -> None:
        """Carry out a requested migration of a job that is between slices."""
        node = job._move_to
        src = self._slots[job._home]
        if src.node_id == node:
            job._move_to = None
            return
        targets = [s for s in self._slots if (node == "*" or s.node_id == node)
                   and s is not src and s.index not in busy]
        if not targets:
            return          # every host there is busy: try again when one frees
        job._move_to = None
        target = targets[0]
        busy.add(target.index)
        node = target.node_id
        snap = src.actor.take.remote(job.id)
        ref = target.actor.put.remote(job.id, job._digest, [self._programs[job._digest]], snap)
        job._state = "running"          # not schedulable until the move lands
        self._sched.slice_started(job.id, target.id)
        self._inflight[ref] = ("move", job, target)
        job._home = target.index
        self._event(job, "migrate", node, source=src.node_id, reason="request")

    def _complete(self, ref: Any) -> None:
        with self._lock:
            kind, job, slot = self._inflight.pop(ref)
            if kind == "slice":
                job._queued -= 1
            if job.done():      # a queued slice of a job that has already ended
                return
            try:
                out = ray.get(ref, timeout=60)
            except Exception as e:      # a host died or a call failed
                self._sched.slice_finished(job.id, slot.id, counts=False)
                self._fail(job, {"kind": "host", "message": f"{type(e).__name__}: {e}",
                                 "pc": None, "address": None})
                self._lock.notify_all()
                return
            if kind == "slice" and out["state"] == "gone":
                return
            if kind == "slice" and job._queued and not out["done"]:
                # its next slice is already queued on the host: still running
                job._slices += 1
                job._cycles = out["cycles"]
                self._sched.slice_finished(job.id, slot.id)     # counts the slice and the turn
                self._sched.slice_started(job.id, slot.id)
                return
            self._sched.slice_finished(job.id, slot.id, counts=(kind == "slice"))
            if kind == "move":
                job._state = "suspended"
            else:
                job._slices += 1
                job._cycles = out.get("cycles", job._cycles)
                if out["done"]:
                    self._finish(job, out, slot)
                elif job._cancel:
                    slot.actor.drop.remote(job.id)
                    self._finish_cancelled(job)
                else:
                    job._state = "suspended"
            self._lock.notify_all()

    # -- bookkeeping ------------------------------------------------------------

    def _event(self, job: Job, event: str, node: Optional[str], **extra: Any) -> None:
        job._history.append({"event": event, "node": node, "time": time.time(), **extra})

    def _finish(self, job: Job, out: dict[str, Any], slot: _Slot) -> None:
        status = "done" if out["state"] == "exited" else "failed"
        self._event(job, "finish", slot.node_id, status=status)
        self._end(job, status, out.get("exit_code"), out.get("stdout", b""), out.get("stderr", b""),
                  out.get("error"))

    def _fail(self, job: Job, error: dict[str, Any]) -> None:
        self._end(job, "failed", None, b"", b"", error)

    def _finish_cancelled(self, job: Job) -> None:
        if job._home is not None and job._state != "running":
            self._slots[job._home].actor.drop.remote(job.id)
        self._end(job, "cancelled", None, b"", b"", None)

    def _end(self, job: Job, status: str, exit_code: Optional[int], stdout: bytes, stderr: bytes,
             error: Optional[dict[str, Any]]) -> None:
        job._state = status
        self._sched.remove_job(job.id)
        job._result = JobResult(job.id, job.name, status, exit_code, stdout, stderr, job._cycles,
                                job._slices, error, tuple(job._history))
        job._done.set()

    def _abort(self, e: Exception) -> None:
        self._closed = True
        for job in self._jobs.values():
            if not job.done():
                self._end(job, "failed", None, b"", b"",
                          {"kind": "executor", "message": f"the dispatcher failed: "
                           f"{type(e).__name__}: {e}", "pc": None, "address": None})
        self._lock.notify_all()

    def _cancel(self, job: Job) -> None:
        with self._lock:
            if not job.done():
                job._cancel = True
                self._lock.notify_all()
