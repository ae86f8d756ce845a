"""Jobs as the driver sees them: the spec, the result, and the handle with its state machine.

A job moves through these states (:class:`JobState`); every change goes
through :meth:`Job._to`, which refuses a transition the machine does not
have, so a bug cannot put a job on two nodes or end it twice::

    PENDING --place--> PLACING --started--> RUNNING --finished--> DONE / FAILED
       ^                  |                    |
       |                  +------lost----------+--evict--> LEAVING --left--> PENDING
      |                  +--------evict-------------------^   (--stayed--> RUNNING)
       +----------------------lost---------------------------------+
    (any state but an ended one) --cancel--> CANCELLED

PENDING means the job lives only as its spec or as a chain of checkpoints
in the store; PLACING and RUNNING mean one node agent holds (or is loading)
its machine; LEAVING means that agent is writing its last checkpoint before
letting go.
"""

from __future__ import annotations

import base64
import enum
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["JobState", "JobSpec", "JobResult", "Job", "is_preemption"]


class JobState(enum.Enum):
    PENDING = "pending"
    PLACING = "placing"
    RUNNING = "running"
    LEAVING = "leaving"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


_ALLOWED = {
    JobState.PENDING: {JobState.PLACING, JobState.DONE, JobState.FAILED, JobState.CANCELLED},
    JobState.PLACING: {JobState.RUNNING, JobState.PENDING, JobState.LEAVING, JobState.DONE, JobState.FAILED,
                       JobState.CANCELLED},
    JobState.RUNNING: {JobState.LEAVING, JobState.PENDING, JobState.DONE, JobState.FAILED,
                       JobState.CANCELLED},
    JobState.LEAVING: {JobState.PENDING, JobState.RUNNING, JobState.DONE, JobState.FAILED, JobState.CANCELLED},
}


@dataclass(frozen=True)
class JobSpec:
    """What a node agent needs to run a job: the program (by digest, plus a
    reference the agent fetches it by), the machine's configuration (the
    keyword arguments of :class:`rvdist.Machine`, the Linux job spec's
    ``env``, ``seed``, ``cwd``, ``start_time`` and ``file_limit`` among
    them), the declared files, and the job's identity.

    Declared files travel by content digest: ``files`` maps each guest path
    to its digest, and ``blobs`` each digest to a list holding the
    ObjectRef of its bytes (or to the bytes, for an agent in the driver's
    process). An agent fetches a digest once, however many of its jobs
    name it; a snapshot names the files by digest only, so the agent gives
    them again when it restores the job.
    """

    job_id: str
    name: str
    digest: str
    program: Any                # a list holding the program's ObjectRef (not fetched by Ray)
    config: dict[str, Any]
    priority: int = 0
    memory: int = 0             # guest memory size in bytes, for placement
    files: dict[str, str] = field(default_factory=dict)     # guest path -> sha256 hex
    blobs: dict[str, Any] = field(default_factory=dict)     # sha256 hex -> [ObjectRef] or bytes

    def contents(self) -> list[tuple[str, str]]:
        """The keys of the contents the job needs: ``("program", digest)``
        and a ``("file", digest)`` per distinct declared content."""
        return [("program", self.digest)] + [("file", d) for d in sorted(set(self.files.values()))]

    def drop_refs(self) -> None:
        """Let go of this spec's references to its contents, once the job has
        ended for good, so that Ray can free them when no other job holds them."""
        for held in [self.program, *self.blobs.values()]:
            if isinstance(held, list):
                held.clear()


@dataclass(frozen=True)
class JobResult:
    """The outcome of a job.

    ``status`` is ``"done"`` (the guest exited; see ``exit_code``),
    ``"failed"`` (see ``error``, the guest error as a dict with ``kind``,
    ``pc``, ``address`` and ``message``) or ``"cancelled"``. ``cycles`` is
    the guest's own count; ``slices`` the slices it ran (slices run again
    after a loss count again); ``lost_cycles`` counts the cycles run again
    after a node was lost (work done since the last checkpoint).

    ``history`` lists the job's events in order, each a dict with
    ``event``, ``node`` and ``time``. Slices run node-locally, so the
    history records **runs of slices**, not one event per slice: a
    ``slice`` event stands for ``slices`` consecutive slices on one node
    ending at ``cycles`` (a run is extended in place while the job stays
    there, and ``time`` is when it last grew). The other events:
    ``start`` (``waited_slices``: slices that ended on its node between its
    placement and its first slice), ``restore`` (``cycles``: resumed from the checkpoint store),
    ``resume`` (``cycles``: picked up from a checkpoint directory at
    submit), ``checkpoint`` (``cycles``, ``bytes``, ``full``),
    ``migrate`` (``source``, ``reason``: request, balance or drain),
    ``evict`` (``cycles``, ``bytes``: checkpointed off a draining node
    with nowhere to go yet), ``preempt`` (``by``: its node gave its slot to
    a higher-priority job), ``lost`` (its node died: ``cycles_lost``,
    ``restart_from``) and ``finish`` (``status``).

    ``files`` holds the files the guest created (and did not remove), guest
    path -> bytes, as its machine held them when it ended.
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
    lost_cycles: int = 0
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def nodes(self) -> list[str]:
        """The nodes the job ran on, in order, without repeats."""
        out: list[str] = []
        for ev in self.history:
            if ev["event"] in ("start", "slice", "migrate", "restore") and ev.get("node") and \
                    (not out or out[-1] != ev["node"]):
                out.append(ev["node"])
        return out

    def count(self, event: str) -> int:
        """How many events of this kind the job's history holds."""
        return sum(1 for ev in self.history if ev["event"] == event)

    @property
    def migrations(self) -> int:
        return self.count("migrate")

    @property
    def checkpoints(self) -> int:
        return self.count("checkpoint")

    @property
    def preemptions(self) -> int:
        """Times the job was put off its slot: for a draining node or for higher priority."""
        return sum(1 for ev in self.history if is_preemption(ev))

    @property
    def recoveries(self) -> int:
        """Times the job was restored after its node died."""
        return self.count("lost")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form; output is text, plus base64 when not UTF-8."""
        d: dict[str, Any] = {"job_id": self.job_id, "name": self.name, "status": self.status,
                             "exit_code": self.exit_code, "cycles": self.cycles,
                             "slices": self.slices, "lost_cycles": self.lost_cycles,
                             "migrations": self.migrations, "preemptions": self.preemptions,
                             "recoveries": self.recoveries, "checkpoints": self.checkpoints,
                             "nodes": self.nodes}
        for key, data in (("stdout", self.stdout), ("stderr", self.stderr)):
            try:
                d[key] = data.decode()
            except UnicodeDecodeError:
                d[key] = data.decode(errors="replace")
                d[f"{key}_base64"] = base64.b64encode(data).decode()
        d["error"] = self.error
        d["history"] = list(self.history)
        d["files"] = {path: base64.b64encode(data).decode() for path, data in self.files.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "JobResult":
        """The inverse of :meth:`to_dict`."""
        def data(key: str) -> bytes:
            if f"{key}_base64" in d:
                return base64.b64decode(d[f"{key}_base64"])
            return d[key].encode()
        return cls(d["job_id"], d["name"], d["status"], d["exit_code"], data("stdout"),
                   data("stderr"), d["cycles"], d["slices"], d["error"], tuple(d["history"]),
                   d.get("lost_cycles", 0),
                   {p: base64.b64decode(v) for p, v in d.get("files", {}).items()})


def is_preemption(ev: dict[str, Any]) -> bool:
    """Put off its slot: a drain (evicted, or moved straight on) or higher priority."""
    return ev["event"] == "preempt" or \
        (ev["event"] in ("evict", "migrate") and ev.get("reason", "drain") == "drain")


class Job:
    """A handle on a submitted job (see :meth:`rvdist.Executor.submit`).

    The control plane changes it under its lock; callers read it through
    :meth:`status`, :meth:`progress`, :meth:`result` and :attr:`node`.
    """

    def __init__(self, spec: JobSpec, lock: Any, on_cancel: Any = None,
                 on_end: Any = None) -> None:
        self.spec = spec
        self.id = spec.job_id
        self.name = spec.name
        self.priority = spec.priority
        self._lock = lock
        self._on_cancel = on_cancel
        self._on_end = on_end                  # (job) -> None, once it has its result
        self.state = JobState.PENDING
        self._locate: Any = None               # job id -> its node (the policy's books)
        self._observer: Any = None             # (job, event) -> None, told of every event
        self.epoch = 0                         # bumped by every placement
        self.started = False                   # ran at least once (or resumed)
        self.cycles = 0                        # last reported guest cycles
        self.slices = 0
        self.checkpoint_cycles = 0             # of the newest checkpoint confirmed stored
        self.checkpoint_bytes = 0              # stored bytes of its chain, as reported
        self.has_checkpoint = False
        self.lost_cycles = 0
        self.move_reason: Optional[str] = None  # why it is LEAVING (request, balance, drain)
        self.move_source: Optional[str] = None  # the node it left, until it lands again
        self.cancel_requested = False
        self.history: list[dict[str, Any]] = []
        self._result: Optional[JobResult] = None
        self._done = threading.Event()

    # -- the state machine (called by the control plane, under its lock) -------

    def attach(self, locate: Any, observer: Any) -> None:
        """Connect the job to its control plane: ``locate(job_id)`` answers
        which node holds it (the policy's books), ``observer(job, event)``
        hears every event."""
        self._locate = locate
        self._observer = observer

    def transition(self, state: JobState) -> None:
        """Move to ``state``; a transition the state machine does not allow
        is a bug in the control plane and raises."""
        if state not in _ALLOWED.get(self.state, ()):
            raise RuntimeError(f"job {self.name}: no transition {self.state.value} -> {state.value}")
        self.state = state

    def event(self, event: str, node: Optional[str], **extra: Any) -> None:
        """Append an event; consecutive slice runs on one node grow one event."""
        now = time.time()
        ev = {"event": event, "node": node, "time": now, **extra}
        if event == "slice" and self.history:
            last = self.history[-1]
            if last["event"] == "slice" and last["node"] == node:
                last["slices"] += extra.get("slices", 1)
                last["cycles"] = extra["cycles"]
                last["time"] = now
                if self._observer is not None:
                    self._observer(self, ev)    # the observer sees each report's run
                return
        self.history.append(ev)
        if self._observer is not None:
            self._observer(self, dict(ev))

    def end(self, status: str, exit_code: Optional[int] = None, stdout: bytes = b"",
            stderr: bytes = b"", error: Optional[dict[str, Any]] = None,
            result: Optional[JobResult] = None,
            files: Optional[dict[str, bytes]] = None) -> JobResult:
        """Give the job its one result (a second call is a bug and raises)."""
        self.transition(JobState(status))
        self._result = result or JobResult(self.id, self.name, status, exit_code, stdout, stderr,
                                           self.cycles, self.slices, error, tuple(self.history),
                                           self.lost_cycles, files or {})
        self._done.set()
        if self._on_end is not None:
            self._on_end(self)
        return self._result

    # -- public ------------------------------------------------------------------

    @property
    def outcome(self) -> Optional[JobResult]:
        """Its result if it has ended, else None (without waiting)."""
        return self._result

    @property
    def node(self) -> Optional[str]:
        """The node whose agent holds (or is loading, or letting go of) the
        job's machine, or None: not placed, or ended."""
        if self._locate is None or self.state.ended:
            return None
        return self._locate(self.id)

    def status(self) -> str:
        """``pending`` (not started yet), ``running`` (its machine is on a node),
        ``suspended`` (started, now only a checkpoint between nodes), ``done``,
        ``failed`` or ``cancelled``."""
        s = self.state
        if s.ended:
            return s.value
        if s in (JobState.RUNNING, JobState.LEAVING) or (s is JobState.PLACING and self.started):
            return "running"
        return "suspended" if self.started else "pending"

    def progress(self) -> dict[str, Any]:
        """A consistent snapshot of where the job stands: ``status``, ``state``
        (the control plane's state), ``node``, ``cycles``, ``slices``,
        ``checkpoint_cycles`` (of its newest stored checkpoint, or None),
        ``lost_cycles``, ``migrations``, ``preemptions``, ``checkpoints``
        and ``events`` (how many history entries it has)."""
        with self._lock:
            hist = self.history
            return {"status": self.status(), "state": self.state.value, "node": self.node,
                    "cycles": self.cycles, "slices": self.slices,
                    "checkpoint_cycles": self.checkpoint_cycles if self.has_checkpoint else None,
                    "lost_cycles": self.lost_cycles,
                    "migrations": sum(ev["event"] == "migrate" for ev in hist),
                    "preemptions": sum(is_preemption(ev) for ev in hist),
                    "checkpoints": sum(ev["event"] == "checkpoint" for ev in hist),
                    "events": len(hist)}

    def events(self) -> list[dict[str, Any]]:
        """A copy of the job's history so far (see :class:`JobResult`)."""
        with self._lock:
            return [dict(ev) for ev in self.history]

    def result(self, timeout: Optional[float] = None) -> JobResult:
        """Wait for the job to end and return its result (TimeoutError if it does not)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.name} did not finish within {timeout} s")
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """Stop the job at its next slice boundary and free its slot."""
        if self._on_cancel is not None:
            self._on_cancel(self)

    def done(self) -> bool:
        return self._done.is_set()

    def __repr__(self) -> str:
        return f"<Job {self.name} {self.state.value} slices={self.slices} cycles={self.cycles}>"
