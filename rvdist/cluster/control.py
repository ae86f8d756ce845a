"""The control loop: node reports in, placement decisions out.

:class:`Controller` takes the batched reports of the node agents (and the
cluster's membership changes) from a :class:`Transport`, keeps each
:class:`~rvdist.cluster.jobs.Job` up to date, asks the
:class:`~rvdist.cluster.policy.Placement` what to do, and carries out its
decisions as commands to the agents. It decides nothing about placement
itself. The same class runs the real executor (through
:class:`~rvdist.cluster.transport.RayTransport`) and the simulations in
tests and ``benchmarks/bench_scale.py`` (through
:class:`~rvdist.cluster.sim.SimCluster`), in real or virtual time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from rvdist.cluster.jobs import Job, JobResult, JobState, is_preemption
from rvdist.cluster.policy import Evict, Place, Placement, Release

__all__ = ["Transport", "Controller", "Drain"]

log = logging.getLogger(__name__)

# A job whose agent failed in an unexpected way (not a node loss) is restored
# from its checkpoint this many times, then fails with error kind "host".
MAX_CRASHES = 3


class Transport(Protocol):
    """How the controller reaches the nodes.

    :meth:`poll` waits up to ``timeout`` seconds and returns what happened,
    as tuples: ``("join", node_id, slots, memory)``, ``("drain", node_id,
    deadline)``, ``("lost", node_id, reason)`` and ``("report", node_id,
    payload)`` with an agent's report (see :meth:`NodeAgent.poll`).
    """

    def now(self) -> float: ...

    def poll(self, timeout: float) -> list[tuple]: ...

    def send(self, node_id: str, commands: list[tuple]) -> None: ...

    def release(self, node_id: str) -> None: ...


@dataclass
class Drain:
    node_id: str
    deadline: float
    noticed: float
    emptied: Optional[float] = None


class Controller:
    """Keeps the jobs, runs the policy's decisions. Call :meth:`step` in a loop.

    ``lock`` guards everything here (the executor's public calls take it
    too). ``on_end(job, result)`` runs, under the lock, when a job ends;
    ``cleanup(job_id)`` forgets a finished job's checkpoints;
    ``on_event(job, event)`` is told of every event as it joins a job's
    history (a run of slices once per report that grows it).
    """

    def __init__(self, transport: Transport, placement: Placement,
                 lock: Optional[threading.Condition] = None,
                 on_end: Optional[Callable[[Job, JobResult], None]] = None,
                 cleanup: Optional[Callable[[str], None]] = None,
                 track_history: bool = True,
                 on_event: Optional[Callable[[Job, dict[str, Any]], None]] = None) -> None:
        self.on_event = on_event
        self.transport = transport
        self.placement = placement
        self.lock = lock or threading.Condition()
        self.on_end = on_end
        self.cleanup = cleanup
        self.track_history = track_history
        self.jobs: dict[str, Job] = {}
        self.drains: dict[str, Drain] = {}
        self.nodes: dict[str, int] = {}         # live or draining node -> slots
        self.crashes: dict[str, int] = {}
        self._out: dict[str, list[tuple]] = {}
        self.counters = {"migrations": 0, "preemptions": 0, "recoveries": 0, "checkpoints": 0,
                         "lost_cycles": 0, "checkpoint_bytes": 0, "migrated_bytes": 0,
                         "restored_bytes": 0}

    # -- what the executor asks (under the lock) ------------------------------------

    def submit(self, job: Job) -> None:
        self.jobs[job.id] = job
        job.attach(self.placement.where, self.on_event)
        if job.done():
            return
        self.placement.add_job(job.id, job.priority, job.spec.memory)

    def cancel(self, job: Job) -> None:
        if job.done():
            return
        job.cancel_requested = True
        if job.state is JobState.PENDING:
            self._end(job, "cancelled")
        else:
            node = self.placement.where(job.id)
            if node is not None:
                self._send(node, ("drop", job.id, job.epoch))

    def migrate(self, job: Job, node_id: Optional[str]) -> None:
        self.placement.request_move(job.id, node_id)

    def drain(self, node_id: str, deadline: float) -> None:
        if node_id in self.drains or node_id not in self.placement.nodes:
            return
        self.drains[node_id] = Drain(node_id, deadline, self.transport.now())
        self.placement.drain_node(node_id)

    def undrain(self, node_id: str) -> None:
        """Forget a node's drain; it takes work again when its agent (re)joins."""
        self.drains.pop(node_id, None)

    def where(self, job_id: str) -> Optional[str]:
        return self.placement.where(job_id)

    # -- the loop -------------------------------------------------------------------

    def step(self, timeout: float) -> None:
        """Wait up to ``timeout`` for news, apply it, and carry out the decisions."""
        news = self.transport.poll(timeout)
        with self.lock:
            for item in news:
                kind = item[0]
                if kind == "report":
                    self._report(item[1], item[2])
                elif kind == "join":
                    self._join(item[1], item[2], item[3])
                elif kind == "drain":
                    self.drain(item[1], item[2])
                elif kind == "lost":
                    self._lost_node(item[1], item[2])
            self.decide()
            if news:
                self.lock.notify_all()

    def decide(self) -> None:
        """Ask the policy, carry out its answer, and send the commands."""
        for action in self.placement.decide(self.transport.now()):
            if isinstance(action, Place):
                self._place(self.jobs[action.job_id], action.node_id, action.checkpoint_cycles)
            elif isinstance(action, Evict):
                job = self.jobs[action.job_id]
                job.transition(JobState.LEAVING)
                job.move_reason = action.reason
                self._send(action.node_id, ("evict", job.id, job.epoch))
            elif isinstance(action, Release):
                self._released(action.node_id)
        out, self._out = self._out, {}
        for node_id, commands in out.items():
            self.transport.send(node_id, commands)

    # -- carrying out ---------------------------------------------------------------

    def _send(self, node_id: str, command: tuple) -> None:
        self._out.setdefault(node_id, []).append(command)

    def _place(self, job: Job, node_id: str, checkpoint_cycles: Optional[int]) -> None:
        job.transition(JobState.PLACING)
        job.epoch += 1
        # (the agent reads the store only for a job with a chain there: a
        # store round trip per fresh job dominated batches of short jobs)
        self._send(node_id, ("assign", job.spec, job.epoch, checkpoint_cycles, job.has_checkpoint))

    def _released(self, node_id: str) -> None:
        drain = self.drains.get(node_id)
        if drain is not None and drain.emptied is None:
            drain.emptied = self.transport.now()
        self.transport.release(node_id)

    def _join(self, node_id: str, slots: int, memory: Optional[int]) -> None:
        self.nodes[node_id] = slots
        if node_id in self.placement.nodes:
            self.placement.undrain_node(node_id)
        else:
            self.placement.add_node(node_id, slots, memory)

    def _lost_node(self, node_id: str, reason: str) -> None:
        self.nodes.pop(node_id, None)
        for job_id in self.placement.remove_node(node_id):
            job = self.jobs[job_id]
            if not job.done():
                self._lose(job, node_id, reason)

    def _lose(self, job: Job, node_id: str, reason: str) -> None:
        """The job's machine is gone: it waits to be restored from its checkpoint."""
        restart = job.checkpoint_cycles if job.has_checkpoint else 0
        lost = max(0, job.cycles - restart)
        job.lost_cycles += lost
        self.counters["lost_cycles"] += lost
        self.counters["recoveries"] += 1
        job.cycles = restart
        job.move_source = None
        job.transition(JobState.PENDING)
        if self.track_history:
            job.event("lost", node_id, reason=reason, cycles_lost=lost, restart_from=restart)
        if job.cancel_requested:
            self._end(job, "cancelled")

    # -- reports ----------------------------------------------------------------------

    def _report(self, node_id: str, payload: dict[str, Any]) -> None:
        placement = self.placement
        track = self.track_history
        for kind, job_id, epoch, data in payload["events"]:
            job = self.jobs.get(job_id)
            if job is None or job.done() or job.epoch != epoch or \
                    placement.where(job_id) != node_id:
                continue        # a late report of an earlier placement
            getattr(self, f"_on_{kind}")(job, node_id, data)
        for job_id, epoch, cycles, slices in payload["progress"]:
            job = self.jobs.get(job_id)
            if job is None or job.epoch != epoch or placement.where(job_id) != node_id \
                    or job.state.ended:
                continue
            job.cycles = cycles
            job.slices += slices
            if track:
                job.event("slice", node_id, cycles=cycles, slices=slices)

    def _on_started(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        if job.state is JobState.PLACING:       # (evicted while loading: it stays LEAVING)
            job.transition(JobState.RUNNING)
        job.cycles = data["cycles"]
        if data.get("restored"):
            self.counters["restored_bytes"] += data.get("bytes", 0)
        if not job.started and not data.get("restored"):
            # (moved before it ever ran: just a start)
            job.event("start", node_id, waited_slices=data.get("waited_slices", 0))
        elif job.move_source is not None:
            self.counters["migrations"] += 1
            self.counters["preemptions"] += job.move_reason == "drain"
            job.event("migrate", node_id, source=job.move_source, reason=job.move_reason)
        else:
            job.event("restore", node_id, cycles=job.cycles)
        job.started = True
        job.move_source = None
        if job.state is not JobState.LEAVING:
            # (evicted while it loaded: the eviction's reason stays for its landing)
            job.move_reason = None
        if job.cancel_requested:
            self._send(node_id, ("drop", job.id, job.epoch))

    def _on_checkpoint(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        job.has_checkpoint = True
        job.checkpoint_cycles = data["cycles"]
        self.counters["checkpoints"] += 1
        self.counters["checkpoint_bytes"] += data["bytes"]
        if self.track_history:
            job.event("checkpoint", node_id, cycles=data["cycles"], bytes=data["bytes"],
                      full=data["full"])

    def _on_preempt(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        self.counters["preemptions"] += 1
        job.event("preempt", node_id, reason="priority", by=data["by"])

    def _on_finished(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        job.cycles = data["cycles"]
        job.slices += data.get("slices", 0)
        if self.track_history and data.get("slices"):
            job.event("slice", node_id, cycles=job.cycles, slices=data["slices"])
        status = "done" if data["state"] == "exited" else "failed"
        error = data.get("error")
        if data["state"] == "host_call":
            error = {"kind": "host_call", "message": "the guest made a system call that needs "
                     "a host handler, which executor jobs do not have", "pc": None,
                     "address": None}
        job.event("finish", node_id, status=status)
        self._end(job, status, data.get("exit_code"), data.get("stdout", b""),
                  data.get("stderr", b""), error, data.get("files"))

    def _on_rejected(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        self._end(job, "failed", error=data["error"])

    def _on_dropped(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        self._end(job, "cancelled")

    def _on_crashed(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        n = self.crashes[job.id] = self.crashes.get(job.id, 0) + 1
        if n > MAX_CRASHES:
            self._end(job, "failed", error={"kind": "host", "message": data["error"],
                                            "pc": None, "address": None})
            return
        log.warning("rvdist: job %s failed on node %s (%s); resuming it from its checkpoint",
                    job.name, node_id, data["error"])
        self.placement.lost(job.id)
        self._lose(job, node_id, "agent error")

    def _on_left(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        job.transition(JobState.PENDING)
        if data["cycles"] is not None:
            job.cycles = job.checkpoint_cycles = data["cycles"]
            job.has_checkpoint = True
        self.counters["migrated_bytes"] += data["bytes"]
        reason = job.move_reason
        if job.cancel_requested:
            self.placement.remove_job(job.id)
            self._end(job, "cancelled")
            return
        dest = self.placement.left(job.id)
        if dest is not None:
            job.move_source = node_id
            self._place(job, dest, self.placement.checkpoint_cycles)
        else:
            job.move_source = None
            if reason == "drain":
                self.counters["preemptions"] += 1
            job.event("evict", node_id, cycles=job.cycles, bytes=data["bytes"], reason=reason)
            job.move_reason = None

    def _on_store_failed(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        log.warning("rvdist: a checkpoint of job %s on node %s was not stored: %s",
                    job.name, node_id, data["error"])
        job.event("store_failed", node_id, error=data["error"])

    def _on_stayed(self, job: Job, node_id: str, data: dict[str, Any]) -> None:
        log.warning("rvdist: job %s could not leave node %s: %s", job.name, node_id, data["error"])
        job.transition(JobState.RUNNING)
        job.move_reason = None
        self.placement.stayed(job.id)

    # -- ending -------------------------------------------------------------------------

    def _end(self, job: Job, status: str, exit_code: Optional[int] = None, stdout: bytes = b"",
             stderr: bytes = b"", error: Optional[dict[str, Any]] = None,
             files: Optional[dict[str, bytes]] = None) -> None:
        self.placement.remove_job(job.id)
        result = job.end(status, exit_code, stdout, stderr, error, files=files)
        self.crashes.pop(job.id, None)
        if self.cleanup is not None and job.has_checkpoint:
            self.cleanup(job.id)
        if self.on_end is not None:
            self.on_end(job, result)

    # -- figures ------------------------------------------------------------------------------

    def node_holds_jobs(self, node_id: str) -> bool:
        return self.placement.holds(node_id) > 0

    def stats(self) -> dict[str, int]:
        """Counters over all jobs (see :meth:`rvdist.Executor.stats`)."""
        jobs = self.jobs.values()
        events: dict[str, int] = {}
        preemptions = 0
        for j in jobs:
            for ev in (j.history if j.outcome is None else j.outcome.history):
                events[ev["event"]] = events.get(ev["event"], 0) + 1
                preemptions += is_preemption(ev)
        return {"jobs": len(self.jobs), "done": sum(j.done() for j in jobs),
                "cycles": sum(j.cycles if j.outcome is None else j.outcome.cycles for j in jobs),
                "lost_cycles": sum(j.lost_cycles if j.outcome is None else j.outcome.lost_cycles
                                   for j in jobs),
                "migrations": events.get("migrate", 0), "preemptions": preemptions,
                "recoveries": events.get("lost", 0), "checkpoints": events.get("checkpoint", 0)}
