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
:meth:`Executor.migrate`, a slot that would otherwise sit idle, a node that
is draining (:meth:`Executor.preempt_node`, or Ray's own drain notice), or
a host that died, in which case the job resumes from its last checkpoint.

Every job ends with exactly one result. Deterministic replay makes a job
restored from a checkpoint give the same result, cycles and output as one
that never stopped; captured output is part of each snapshot, so nothing is
printed twice or lost.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rvdist import _origin
from rvdist.connect import DEFAULT_CONNECT_TIMEOUT, init_ray
from rvdist.errors import ClusterUnavailable, ConfigError, RvError, SnapshotError
from rvdist.hosts import HostActor
from rvdist.machine import DEFAULT_MEMORY_SIZE
from rvdist.policy import Scheduler
from rvdist.process import DEFAULT_START_TIME, normalize_env, normalize_files
from rvdist.program import Program
from rvdist.snapshot import Snapshot

__all__ = ["Executor", "Job", "JobResult"]

log = logging.getLogger(__name__)

#: Default cycles between two checkpoints of a job (about a second of guest time).
DEFAULT_CHECKPOINT_CYCLES = 1_000_000_000
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# A call that raises something other than a dead actor (a bug, a rejected
# snapshot) is retried from the last checkpoint this many times, then fails the job.
_MAX_CALL_FAILURES = 3
# When no job waits for a slot, a job's queued call runs several slices back
# to back, up to about this many cycles (some 40 ms), to save Ray calls: on a
# small machine the driver's and Ray's work per call takes CPU from the hosts.
_QUEUED_CALL_CYCLES = 40_000_000
_MAX_SLICES_PER_CALL = 8


@dataclass(frozen=True)
class JobResult:
    """The outcome of a job.

    ``status`` is ``"done"`` (the guest exited; see ``exit_code``),
    ``"failed"`` (see ``error``, the guest error as a dict with ``kind``,
    ``pc``, ``address`` and ``message``) or ``"cancelled"``. ``cycles`` is
    the guest's own count; ``lost_cycles`` counts the cycles run again
    after a host was lost (work done since the last checkpoint). ``history``
    lists the job's events in order, each a dict with ``event``, ``node``
    and ``time``: ``start``, ``slice`` (with ``cycles``), ``checkpoint``
    (``cycles``, ``bytes``), ``migrate`` (``source``, ``reason``: request,
    balance or drain), ``evict`` (snapshotted off a draining node),
    ``preempt`` (suspended for a higher-priority job), ``lost`` (its host
    died: ``cycles_lost``), ``restore`` (resumed from a snapshot), ``resume``
    (picked up from a checkpoint directory) and ``finish``. ``files`` holds
    the files the guest created (guest path -> bytes) when it ended.
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
            if ev["event"] in ("start", "slice", "migrate") and ev.get("node") and \
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
        """Times the job was restored after its host died."""
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
        self._files: dict[str, Any] = {}        # declared files: paths -> digests, digests -> refs
        self._state = "pending"
        self._done = threading.Event()
        self._result: Optional[JobResult] = None
        self._history: list[dict[str, Any]] = []
        self._slices = 0
        self._cycles = 0
        self._lost_cycles = 0
        self._home: Optional[int] = None        # slot index holding the machine
        self._cancel = False
        self._move_to: Optional[str] = None     # node id requested by migrate()
        self._queued = 0                        # slice calls in flight on its host
        # Bumped whenever the machine is lost or leaves its host as a snapshot,
        # so that replies of calls made before then are recognised as stale.
        self._epoch = 0
        self._restore: Optional[bytes] = None   # snapshot to start from when it has no home
        self._checkpoint: Optional[bytes] = None
        self._checkpoint_cycles = 0
        # cycle count a call in flight is sure to checkpoint at (unless the job
        # ends), and the job's cycles when its last issued call ends, if all run
        self._checkpoint_promised: Optional[int] = None
        self._issued_to = 0
        self._failures = 0

    def status(self) -> str:
        """``pending``, ``running``, ``suspended``, ``done``, ``failed`` or ``cancelled``."""
        return self._state

    def result(self, timeout: Optional[float] = None) -> JobResult:
        """Wait for the job to end and return its result (TimeoutError if it does not)."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"job {self.name} did not finish within {timeout} s")
        assert self._result is not None
        return self._result

    @property
    def node(self) -> Optional[str]:
        """The node whose host holds the job's machine now, or None (not started,
        finished, or only a snapshot between two hosts)."""
        home = self._home
        return None if home is None else self._ex._slots[home].node_id

    def cancel(self) -> None:
        """Stop the job at its next slice boundary and free its slot."""
        self._ex._cancel(self)

    def done(self) -> bool:
        return self._done.is_set()

    def __repr__(self) -> str:
        return f"<Job {self.name} {self._state} slices={self._slices} cycles={self._cycles}>"


@dataclass
class _Slot:
    index: int
    node_id: str
    actor: Any
    ready: bool = False
    alive: bool = True
    draining: bool = False
    released: bool = False      # let go of once its draining node was empty
    last_job: Optional[str] = None

    @property
    def id(self) -> str:
        return f"slot-{self.index}"


@dataclass
class _Call:
    kind: str                   # slice, move, evict or start (a new host warming up)
    job: Optional[Job]
    slot: _Slot
    epoch: int = 0
    source: Optional[_Slot] = None


@dataclass
class _Drain:
    node_id: str
    deadline: float             # time.time() by which the node will be gone
    noticed: float = field(default_factory=time.monotonic)
    emptied: Optional[float] = None


class Executor:
    """Runs jobs on resident VMs across a Ray cluster in slices of ``slice_cycles``.

    With ``address=None`` and no Ray running in this process, it starts a
    private local Ray sized to the machine (or, inside a Ray job, joins the
    cluster ``RAY_ADDRESS`` names); ``address="auto"`` joins the cluster
    running on this machine, and an explicit address joins that one (or
    raises :class:`~rvdist.errors.ClusterUnavailable` if nothing answers
    there within ``connect_timeout`` seconds, or no host can start). One
    host actor is started per CPU of every node, ahead of need, and nodes
    that join later get theirs within ``watch_interval`` seconds.

    Every ``checkpoint_cycles`` cycles a job's snapshot is copied to the
    driver (and to ``checkpoint_dir`` if given); a job whose host dies
    resumes from there. With ``checkpoint_dir``, a job submitted with the
    ``job_id`` of an earlier run picks up that run's result or last
    checkpoint (see :meth:`submit`). ``on_event(job, event)`` is called
    with each event as it joins a job's history (see :class:`JobResult`),
    on the thread that adds it and with the executor's lock held: it must
    be quick and must not call the executor. Use it as a context manager,
    or call :meth:`shutdown`.
    """

    def __init__(self, address: Optional[str] = None, slice_cycles: int = 10_000_000,
                 slots_per_node: Optional[int] = None, ray_init: Optional[dict[str, Any]] = None,
                 checkpoint_cycles: Optional[int] = DEFAULT_CHECKPOINT_CYCLES,
                 checkpoint_dir: Union[str, os.PathLike, None] = None,
                 watch_interval: float = 0.2,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 on_event: Optional[Callable[["Job", dict[str, Any]], None]] = None) -> None:
        if not isinstance(slice_cycles, int) or slice_cycles <= 0:
            raise ConfigError(f"slice_cycles must be a positive integer, got {slice_cycles!r}")
        if checkpoint_cycles is not None and (not isinstance(checkpoint_cycles, int)
                                              or checkpoint_cycles <= 0):
            raise ConfigError(f"checkpoint_cycles must be a positive integer or None, "
                              f"got {checkpoint_cycles!r}")
        self.slice_cycles = slice_cycles
        self.checkpoint_cycles = checkpoint_cycles
        # A queued call never runs past more than one checkpoint interval, so
        # the work a lost host takes with it stays under one interval.
        self._slices_per_call = max(1, min(
            _MAX_SLICES_PER_CALL, _QUEUED_CALL_CYCLES // slice_cycles,
            (checkpoint_cycles or slice_cycles) // slice_cycles))
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        if self.checkpoint_dir is not None:
            try:
                self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot use checkpoint directory {checkpoint_dir}: "
                                  f"{e.strerror or e}") from None
        # Inside a Ray job (ray job submit) RAY_ADDRESS names the cluster;
        # otherwise a private local Ray sized to this machine is started.
        self._owns_ray = init_ray(address, connect_timeout, ray_init)
        self._on_event = on_event
        self._lock = threading.Condition()
        self._sched = Scheduler()
        self._slots: list[_Slot] = []
        self._slots_per_node = slots_per_node
        self._jobs: dict[str, Job] = {}
        self._programs: dict[str, Any] = {}     # digest -> ObjectRef of (bytes, name)
        self._blobs: dict[str, Any] = {}        # digest -> ObjectRef of a declared file's bytes
        self._inflight: dict[Any, _Call] = {}
        self._drains: dict[str, _Drain] = {}
        self._dead_nodes: set[str] = set()
        self._closed = False
        self._seq = itertools.count()
        self._watch_interval = watch_interval
        self._last_watch = 0.0
        self._gcs = _gcs_client()
        with self._lock:
            started = self._start_hosts(ray.nodes())
        starting = {s.actor.warm_up.remote(): s for s in started}
        ready, _ = ray.wait(list(starting), num_returns=len(starting), timeout=120)
        problems = []
        with self._lock:
            for ref in ready:
                problem = self._host_started(starting[ref], ref)
                if problem:
                    problems.append(problem)
            if not any(s.ready for s in self._slots):
                if problems:
                    why = problems[0]
                elif started:
                    why = "no host answered within 120 s"
                else:
                    why = "the cluster has no live node with a free CPU"
                self._closed = True
                for s in self._slots:
                    _kill(s.actor)
                if self._owns_ray:
                    ray.shutdown()
                raise ClusterUnavailable(f"no rvdist host could be started: {why}")
        self._thread = threading.Thread(target=self._loop, name="rvdist-executor", daemon=True)
        self._thread.start()

    # -- public API ---------------------------------------------------------

    def submit(self, program: Union[Program, str, os.PathLike, bytes], args: Sequence[str] = (),
               stdin: bytes = b"", max_cycles: Optional[int] = None,
               memory_size: Union[int, str] = DEFAULT_MEMORY_SIZE, cost_model: Any = "unit",
               priority: int = 0, name: Optional[str] = None,
               job_id: Optional[str] = None, output_limit: Optional[int] = None, *,
               env: Any = None, files: Any = None, seed: int = 0, cwd: str = "/",
               start_time: Union[int, float] = DEFAULT_START_TIME,
               file_limit: Optional[int] = None) -> Job:
        """Queue a job; returns at once. Bad programs raise ProgramError here,
        unreadable files and bad environments ConfigError.

        ``env``, ``files``, ``seed``, ``cwd``, ``start_time`` and
        ``file_limit`` are the Linux job spec, as for :class:`rvdist.Machine`
        (docs/linux-abi.md). Declared files travel by content digest: each
        distinct content is put into Ray's object store once, and a host
        fetches it once.

        Higher ``priority`` runs first; a waiting job of higher priority
        takes the next slot that reaches a slice boundary, and the job it
        displaces resumes when no higher-priority job waits. ``output_limit``
        caps captured stdout and stderr, each. ``job_id``
        (letters, digits, ``._-``) names the job's files in
        ``checkpoint_dir``: if that directory holds a result for it, the job
        is done at once with that result; if it holds a checkpoint, the job
        continues from there.
        """
        if not isinstance(program, Program):
            program = Program(program) if isinstance(program, bytes) else Program.from_file(program)
        if job_id is not None and not _JOB_ID.match(job_id):
            raise ConfigError(f"job_id must be 1 to 128 letters, digits, '.', '_' or '-', "
                              f"got {job_id!r}")
        normalize_env(env)
        declared = normalize_files(files, cwd if isinstance(cwd, str) else "/")
        saved = self._saved(job_id, program) if job_id is not None else (None, None)
        with self._lock:
            if self._closed:
                raise RvError("the executor is shut down")
            job_id = job_id or uuid.uuid4().hex[:12]
            if job_id in self._jobs:
                raise ConfigError(f"a job with id {job_id!r} was already submitted")
            if program.digest not in self._programs:
                self._programs[program.digest] = ray.put((program.data, program.name))
            for digest, data in declared.blobs.items():
                if digest not in self._blobs:
                    self._blobs[digest] = ray.put(data)
            config = {"args": list(args), "stdin": bytes(stdin), "memory_size": memory_size,
                      "cost_model": cost_model, "max_cycles": max_cycles, "env": env, "seed": seed,
                      "cwd": cwd, "start_time": start_time, "file_limit": file_limit}
            if output_limit is not None:
                config["output_limit"] = output_limit
            job = Job(self, job_id, name or f"{program.name}#{next(self._seq)}", program.digest,
                      config, priority)
            job._files = {"paths": dict(declared.paths),
                          "refs": {d: self._blobs[d] for d in set(declared.paths.values())}}
            self._jobs[job_id] = job
            result, checkpoint = saved
            if result is not None:
                job._state, job._result = result.status, result
                job._done.set()
                return job
            if checkpoint is not None:
                data, cycles = checkpoint
                job._restore = job._checkpoint = data
                job._cycles = job._checkpoint_cycles = cycles
                self._event(job, "resume", None, cycles=cycles)
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
        with self._lock:
            live = [s for s in self._slots if s.alive and s.ready and not s.draining]
            if node_id is not None and node_id not in {s.node_id for s in live}:
                raise ConfigError(f"no live rvdist host on node {node_id}")
            if len(live) < 2:
                raise ConfigError("there is no other host to move the job to")
            job._move_to = node_id or "*"
            self._lock.notify_all()

    def preempt_node(self, node_id: str, deadline_s: float = 30.0, wait: bool = True) -> float:
        """Empty a node before it goes away, as for a spot node's notice.

        The node gets no new work; every job on it is snapshotted at its
        next slice boundary and continues on another node. With ``wait``,
        returns the seconds it took until the node held no job, or raises
        TimeoutError if it still does after ``deadline_s`` (its jobs then
        fall back to their checkpoints if the node really dies). Once the
        node is empty its hosts are released, so that a drain by Ray ends
        gracefully; :meth:`restore_node` puts the node back to work. Ray's own
        drain notices (``ray drain-node``, the autoscaler, SIGTERM to a
        ``ray start --block`` node) are handled the same way automatically.
        """
        t0 = time.monotonic()
        with self._lock:
            if node_id not in {s.node_id for s in self._slots}:
                raise ConfigError(f"no rvdist host on node {node_id}")
            self._drain(node_id, time.time() + deadline_s)
            self._lock.notify_all()
            if not wait:
                return 0.0
            while self._node_holds_jobs(node_id):
                left = t0 + deadline_s - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"node {node_id} still holds jobs after {deadline_s} s")
                self._lock.wait(min(left, 0.05))
        return time.monotonic() - t0

    def restore_node(self, node_id: str) -> None:
        """Return a node emptied by :meth:`preempt_node` to service.

        It takes work again at once; its hosts, released once it was empty,
        are started anew. A node that Ray itself is draining, or that is
        gone, cannot come back: ConfigError.
        """
        with self._lock:
            if node_id not in self._drains:
                raise ConfigError(f"node {node_id} was not preempted")
            node = [n for n in ray.nodes() if n["NodeID"] == node_id and n.get("Alive")]
            if not node or node_id in self._dead_nodes:
                raise ConfigError(f"node {node_id} is gone")
            if self._gcs is not None:
                draining = {n.hex() if isinstance(n, bytes) else str(n)
                            for n in self._gcs.get_draining_nodes()}
                if node_id in draining:
                    raise ConfigError(f"Ray is draining node {node_id}: it cannot be restored")
            del self._drains[node_id]
            self._sched.set_draining(node_id, False)
            for slot in self._slots:
                if slot.node_id == node_id and slot.alive:
                    slot.draining = False
            for slot in self._start_hosts(node):
                self._inflight[slot.actor.warm_up.remote()] = _Call("start", None, slot)
            self._lock.notify_all()

    def nodes(self) -> list[str]:
        """The ids of live nodes that have hosts and take work."""
        with self._lock:
            return sorted({s.node_id for s in self._slots if s.alive and s.ready and not s.draining})

    def drains(self) -> list[dict[str, Any]]:
        """The nodes seen draining: ``node``, ``deadline`` (a time.time()) and
        ``emptied_after`` (seconds from the notice until the node held no job,
        or None while it still does)."""
        with self._lock:
            return [{"node": d.node_id, "deadline": d.deadline,
                     "emptied_after": None if d.emptied is None else d.emptied - d.noticed}
                    for d in self._drains.values()]

    def stats(self) -> dict[str, int]:
        """Counters over all jobs so far: ``jobs``, ``done`` (ended in any way),
        ``cycles`` (guest cycles of the jobs' current states), ``lost_cycles``
        (cycles run again after a loss), and the numbers of ``migrations``,
        ``preemptions``, ``recoveries`` and ``checkpoints``."""
        with self._lock:
            jobs = list(self._jobs.values())
            events: dict[str, int] = {}
            preemptions = 0
            for j in jobs:
                for ev in j._history:
                    events[ev["event"]] = events.get(ev["event"], 0) + 1
                    preemptions += is_preemption(ev)
            return {"jobs": len(jobs), "done": sum(j.done() for j in jobs),
                    "cycles": sum(j._cycles if j._result is None else j._result.cycles for j in jobs),
                    "lost_cycles": sum(j._lost_cycles for j in jobs),
                    "migrations": events.get("migrate", 0),
                    "preemptions": preemptions,
                    "recoveries": events.get("lost", 0), "checkpoints": events.get("checkpoint", 0)}

    def shutdown(self) -> None:
        """Stop dispatching, cancel what is left, and release the hosts (and a Ray we started)."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout=30)
        with self._lock:
            for job in self._jobs.values():
                if not job.done():
                    self._end(job, "cancelled", None, b"", b"", None)
        for s in self._slots:
            if s.alive:
                _kill(s.actor)
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- hosts and nodes --------------------------------------------------------

    def _start_hosts(self, nodes: list[dict[str, Any]]) -> list[_Slot]:
        """Start host actors on live, non-draining nodes that have none yet."""
        have = {s.node_id for s in self._slots if not s.released}
        started = []
        for node in nodes:
            nid = node["NodeID"]
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            if not node.get("Alive") or cpus < 1 or nid in have or nid in self._dead_nodes \
                    or nid in self._drains:
                continue
            for _ in range(self._slots_per_node or cpus):
                actor = HostActor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                    nid, soft=False)).remote()
                slot = _Slot(len(self._slots), nid, actor)
                self._slots.append(slot)
                started.append(slot)
        return started

    def _host_started(self, slot: _Slot, warm_up: Any) -> Optional[str]:
        """Take a host into service once its warm-up call answers; or say, in
        one line, why it cannot serve (it failed to start, or it imported
        other rvdist code than this driver's)."""
        try:
            out = ray.get(warm_up, timeout=60)
        except Exception as e:
            slot.alive = False
            return f"the host on node {slot.node_id} failed: {_root_cause(e)}"
        theirs = out.get("origin") if isinstance(out, dict) else None
        ours = _origin.origin()
        if theirs is None or theirs.get("fingerprint") != ours["fingerprint"]:
            slot.alive = False
            _kill(slot.actor)
            where = f"from {theirs.get('path')}" if theirs else "of an older version"
            return (f"the host on node {slot.node_id} imported rvdist {where}, "
                    f"whose code differs from this driver's ({ours['path']})")
        self._slot_ready(slot)
        return None

    def _slot_ready(self, slot: _Slot) -> None:
        slot.ready = True
        self._sched.add_slot(slot.id, slot.node_id)

    def _watch(self) -> None:
        """Notice nodes that joined, left or are draining (every ``watch_interval`` s)."""
        now = time.monotonic()
        if now - self._last_watch < self._watch_interval:
            return
        self._last_watch = now
        try:
            nodes = ray.nodes()
            draining = self._gcs.get_draining_nodes() if self._gcs is not None else {}
        except Exception as e:      # the GCS is briefly unreachable: try again next time
            log.warning("rvdist: cannot read the cluster's nodes: %s", e)
            return
        alive = {n["NodeID"] for n in nodes if n.get("Alive")}
        for node_id, deadline_ms in draining.items():
            node_id = node_id.hex() if isinstance(node_id, bytes) else str(node_id)
            if node_id not in self._drains and any(s.node_id == node_id for s in self._slots):
                self._drain(node_id, deadline_ms / 1000 if deadline_ms else time.time() + 30)
        for slot in self._slots:
            if slot.alive and slot.node_id not in alive:
                self._dead_nodes.add(slot.node_id)
                self._lose_slot(slot, "node lost")
        for slot in self._start_hosts(nodes):
            self._inflight[slot.actor.warm_up.remote()] = _Call("start", None, slot)

    def _drain(self, node_id: str, deadline: float) -> None:
        if node_id in self._drains:
            return
        self._drains[node_id] = _Drain(node_id, deadline)
        self._sched.set_draining(node_id)
        for s in self._slots:
            if s.node_id == node_id:
                s.draining = True
        log.info("rvdist: node %s is draining (deadline in %.1f s)", node_id, deadline - time.time())

    def _release_hosts(self, node_id: str) -> None:
        """Let go of the hosts of an emptied draining node: Ray finishes a
        drain gracefully only once the node holds no actor."""
        for slot in self._slots:
            if slot.node_id != node_id or not slot.alive:
                continue
            slot.alive, slot.released = False, True
            for ref in [r for r, c in self._inflight.items() if c.slot is slot]:
                del self._inflight[ref]
            if slot.ready:
                self._sched.remove_slot(slot.id)
            _kill(slot.actor)

    def _node_holds_jobs(self, node_id: str) -> bool:
        """Whether a live host on the node holds a job's machine, or is still handing one over."""
        for call in self._inflight.values():
            if call.source is not None and call.source.node_id == node_id and call.source.alive:
                return True
        for job in self._jobs.values():
            if not job.done() and job._home is not None and self._slots[job._home].node_id == node_id \
                    and self._slots[job._home].alive:
                return True
        return False

    def _lose_slot(self, slot: _Slot, reason: str) -> None:
        """A host died: forget it, and restore its jobs from their checkpoints elsewhere."""
        if not slot.alive:
            return
        slot.alive = False
        for ref in [r for r, c in self._inflight.items() if c.slot is slot]:
            del self._inflight[ref]
        try:
            ray.kill(slot.actor)
        except Exception:
            pass
        lost = set(self._sched.remove_slot(slot.id)) if slot.ready else set()
        for job in list(self._jobs.values()):       # in submission order
            if job.id in lost or (job._home == slot.index and not job.done()):
                self._recover(job, reason, slot.node_id)

    def _recover(self, job: Job, reason: str, node: Optional[str]) -> None:
        """The job's machine is gone: go on from its last checkpoint (or its start)."""
        if job.done():
            return
        job._epoch += 1
        job._queued = 0
        job._home = None
        job._checkpoint_promised, job._issued_to = None, 0
        job._restore = job._checkpoint
        lost = job._cycles - job._checkpoint_cycles
        job._lost_cycles += lost
        job._cycles = job._checkpoint_cycles
        job._state = "suspended"
        self._sched.lose(job.id)
        self._event(job, "lost", node, reason=reason, cycles_lost=lost,
                    restart_from=job._checkpoint_cycles)
        if job._cancel:
            self._finish_cancelled(job)

    # -- the dispatcher -------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed and not any(c.kind != "start" for c in self._inflight.values()):
                    break
                try:
                    self._watch()
                    if not self._closed:
                        self._dispatch()
                except Exception as e:   # a bug here must not strand waiting callers
                    log.exception("rvdist: the dispatcher failed")
                    self._abort(e)
                    break
                refs = list(self._inflight)
                if not refs:
                    self._lock.wait(self._watch_interval)
                    continue
            ready, _ = ray.wait(refs, num_returns=1, timeout=self._watch_interval)
            for ref in ready:
                self._complete(ref)

    def _dispatch(self) -> None:
        busy = {c.slot.index for c in self._inflight.values() if c.kind in ("slice", "move")}
        for job in list(self._jobs.values()):
            if job.done():
                continue
            if job._cancel and job._state not in ("running",):
                self._finish_cancelled(job)
            elif job._move_to and job._state == "suspended" and job._home is not None:
                self._move(job, busy)
        for slot in self._slots:
            if slot.index in busy or not slot.alive or not slot.ready:
                continue
            decision = self._sched.next_for(slot.id)
            if decision is None:
                continue
            job = self._jobs[decision.job_id]
            self._note_preemption(slot, job)
            kwargs: dict[str, Any] = {}
            if job._home is None:
                kwargs = {"digest": job._digest, "program": [self._programs[job._digest]],
                          "files": job._files}
                if job._restore is not None:
                    kwargs["snapshot"] = job._restore
                    self._event(job, "restore", slot.node_id, cycles=job._cycles)
                else:
                    kwargs["config"] = job._config
                    self._event(job, "start", slot.node_id)
            elif job._home != slot.index:
                src = self._slots[job._home]
                kwargs = {"digest": job._digest, "program": [self._programs[job._digest]],
                          "files": job._files, "snapshot": src.actor.take.remote(job.id), "source": src}
                self._event(job, "migrate", slot.node_id, source=src.node_id,
                            reason="drain" if src.draining else "balance")
            self._run_slice(job, slot, **kwargs)
            busy.add(slot.index)
        # A job stranded on a draining node that no free slot took yet is
        # snapshotted into the driver, so the node empties by its deadline.
        for job in list(self._jobs.values()):
            if job.done() or job._home is None or job._queued or job._state == "running":
                continue
            slot = self._slots[job._home]
            if slot.draining and slot.alive:
                self._sched.hold(job.id)
                job._state = "running"
                self._inflight[slot.actor.take.remote(job.id)] = _Call("evict", job, slot, job._epoch)
        for drain in self._drains.values():
            if drain.emptied is None and not self._node_holds_jobs(drain.node_id):
                drain.emptied = time.monotonic()
                self._release_hosts(drain.node_id)
        # When nothing waits for a slot, queue each running job's next slice on
        # its host now: the host starts it the moment the current one ends,
        # instead of idling for a round trip through this driver.
        if not any(not j.running for j in self._sched.jobs.values()):
            for call in list(self._inflight.values()):
                job = call.job
                if call.kind == "slice" and job._queued == 1 and not job._cancel \
                        and not job._move_to and not call.slot.draining:
                    self._run_slice(job, call.slot, pipelined=True, slices=self._slices_per_call)

    def _run_slice(self, job: Job, slot: _Slot, pipelined: bool = False,
                   source: Optional[_Slot] = None, slices: int = 1, **kwargs: Any) -> None:
        job._issued_to = max(job._issued_to, job._cycles) + slices * self.slice_cycles
        if self.checkpoint_cycles is not None:
            kwargs["checkpoint_at"] = self._checkpoint_due(job)
        if slices > 1:
            kwargs["slices"] = slices
        ref = slot.actor.run_slice.remote(job.id, self.slice_cycles, **kwargs)
        if not pipelined:
            job._home = slot.index
            job._state = "running"
            self._sched.slice_started(job.id, slot.id)
            slot.last_job = job.id
        job._queued += 1
        self._inflight[ref] = _Call("slice", job, slot, job._epoch, source=source)

    def _checkpoint_due(self, job: Job) -> int:
        """Where the next checkpoint falls: one interval after the last one the
        driver holds, or after one a call in flight is sure to take, so that
        two queued calls do not both take it."""
        assert self.checkpoint_cycles is not None
        due = job._checkpoint_cycles + self.checkpoint_cycles
        if job._checkpoint_promised is not None and job._checkpoint_promised >= due:
            due = job._checkpoint_promised + self.checkpoint_cycles
        if job._issued_to >= due:
            job._checkpoint_promised = due
        return due

    def _note_preemption(self, slot: _Slot, job: Job) -> None:
        """Record it when a slot leaves its last job for one of higher priority."""
        prev = self._jobs.get(slot.last_job) if slot.last_job else None
        if prev is not None and prev is not job and not prev.done() and \
                prev._home == slot.index and prev.priority < job.priority:
            self._event(prev, "preempt", slot.node_id, reason="priority", by=job.name)

    def _move(self, job: Job, busy: set[int]) -> None:
        """Carry out a requested migration of a job that is between slices."""
        node = job._move_to
        src = self._slots[job._home]
        if src.node_id == node:
            job._move_to = None
            return
        targets = [s for s in self._slots if (node == "*" or s.node_id == node) and s is not src
                   and s.index not in busy and s.alive and s.ready and not s.draining]
        if not targets:
            return          # every host there is busy: try again when one frees
        job._move_to = None
        target = targets[0]
        busy.add(target.index)
        snap = src.actor.take.remote(job.id)
        ref = target.actor.put.remote(job.id, job._digest, [self._programs[job._digest]], snap, job._files)
        job._state = "running"          # not schedulable until the move lands
        self._sched.slice_started(job.id, target.id)
        self._inflight[ref] = _Call("move", job, target, job._epoch, source=src)
        job._home = target.index
        self._event(job, "migrate", target.node_id, source=src.node_id, reason="request")

    def _complete(self, ref: Any) -> None:
        with self._lock:
            call = self._inflight.pop(ref, None)
            if call is None:            # dropped with a lost host
                return
            job, slot = call.job, call.slot
            if call.kind == "start":
                problem = self._host_started(slot, ref)
                if problem:
                    log.warning("rvdist: %s", problem)
                self._lock.notify_all()
                return
            assert job is not None
            stale = call.epoch != job._epoch or job.done()
            if call.kind == "slice" and not stale:
                job._queued -= 1
            try:
                out = ray.get(ref, timeout=60)
            except Exception as e:      # a host died or a call failed
                self._call_failed(call, e, stale)
                self._lock.notify_all()
                return
            if stale:
                return
            if call.kind == "evict":
                self._evicted(job, slot, _as_bytes(out))
            elif call.kind == "move":
                self._sched.slice_finished(job.id, slot.id, counts=False)
                job._state = "suspended"
            else:
                self._slice_done(job, slot, out)
            self._lock.notify_all()

    def _slice_done(self, job: Job, slot: _Slot, out: dict[str, Any]) -> None:
        if out["state"] == "gone":
            return
        for cycles in out.get("slices") or [out.get("cycles", job._cycles)]:
            job._slices += 1
            self._event(job, "slice", slot.node_id, cycles=cycles)
        job._cycles = out.get("cycles", job._cycles)
        if out.get("snapshot") is not None:
            self._keep_checkpoint(job, _as_bytes(out["snapshot"]), out["snapshot_cycles"],
                                  slot.node_id)
        if job._queued and not out["done"]:
            # its next slice is already queued on the host: still running
            self._sched.slice_finished(job.id, slot.id)     # counts the slice and the turn
            self._sched.slice_started(job.id, slot.id)
            return
        self._sched.slice_finished(job.id, slot.id)
        if out["done"]:
            self._finish(job, out, slot)
        elif job._cancel:
            slot.actor.drop.remote(job.id)
            self._finish_cancelled(job)
        else:
            job._state = "suspended"

    def _evicted(self, job: Job, slot: _Slot, data: bytes) -> None:
        """A job's snapshot came off a draining node: it now lives only as that snapshot."""
        job._epoch += 1
        job._home = None
        job._checkpoint_promised, job._issued_to = None, 0
        job._restore = data
        self._keep_checkpoint(job, data, job._cycles, slot.node_id, event=False)
        self._sched.release(job.id, None)
        job._state = "suspended"
        self._event(job, "evict", slot.node_id, cycles=job._cycles, bytes=len(data))

    def _call_failed(self, call: _Call, e: Exception, stale: bool) -> None:
        job, slot = call.job, call.slot
        assert job is not None
        actor_id = getattr(e, "actor_id", None)
        dead = [s for s in self._slots if s.alive and actor_id and
                s.actor._actor_id.hex() == actor_id]
        if isinstance(e, ray.exceptions.RayActorError) and not dead and actor_id is None:
            dead = [slot]       # no actor id in the error: the callee is the one we know failed
        for s in dead:
            self._lose_slot(s, "host lost")
        if stale or job.done() or call.epoch != job._epoch:
            return      # the loss above already sent the job back to its checkpoint
        if isinstance(e, ray.exceptions.RayActorError):
            self._recover(job, "host lost", (call.source or slot).node_id)
            return
        job._failures += 1
        if job._failures > _MAX_CALL_FAILURES:
            self._sched.lose(job.id)
            self._fail(job, {"kind": "host", "message": f"{type(e).__name__}: {e}",
                             "pc": None, "address": None})
        else:
            log.warning("rvdist: %s call for job %s failed (%s); resuming it from its checkpoint",
                        call.kind, job.name, e)
            self._recover(job, f"{call.kind} failed", slot.node_id)

    # -- checkpoints ------------------------------------------------------------

    def _keep_checkpoint(self, job: Job, data: bytes, cycles: int, node: Optional[str],
                         event: bool = True) -> None:
        job._checkpoint, job._checkpoint_cycles = data, cycles
        if self.checkpoint_dir is not None:
            _write_atomic(self.checkpoint_dir / f"{job.id}.snap", data)
        if event:
            self._event(job, "checkpoint", node, cycles=cycles, bytes=len(data))

    def _saved(self, job_id: str, program: Program) -> tuple[Optional[JobResult], Optional[tuple[bytes, int]]]:
        """What ``checkpoint_dir`` holds for ``job_id``: its result, or its last checkpoint."""
        if self.checkpoint_dir is None:
            return None, None
        result_path = self.checkpoint_dir / f"{job_id}.result.json"
        snap_path = self.checkpoint_dir / f"{job_id}.snap"
        if result_path.exists():
            try:
                return JobResult.from_dict(json.loads(result_path.read_text())), None
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"unreadable result {result_path}: {e}") from None
        if snap_path.exists():
            info = Snapshot.load(snap_path).info()
            if info["program"]["digest"] != program.digest:
                raise SnapshotError(f"{snap_path} is a checkpoint of another program "
                                    f"({info['program']['name']!r})")
            return None, (snap_path.read_bytes(), int(info["cycles"]))
        return None, None

    # -- bookkeeping ------------------------------------------------------------

    def _event(self, job: Job, event: str, node: Optional[str], **extra: Any) -> None:
        ev = {"event": event, "node": node, "time": time.time(), **extra}
        job._history.append(ev)
        if self._on_event is not None:
            try:
                self._on_event(job, ev)
            except Exception as e:      # a failing observer must not stop the jobs
                log.warning("rvdist: the event callback failed (%s: %s); no more events "
                            "go to it", type(e).__name__, e)
                self._on_event = None

    def _finish(self, job: Job, out: dict[str, Any], slot: _Slot) -> None:
        status = "done" if out["state"] == "exited" else "failed"
        self._event(job, "finish", slot.node_id, status=status)
        self._end(job, status, out.get("exit_code"), out.get("stdout", b""), out.get("stderr", b""),
                  out.get("error"), out.get("files") or {})

    def _fail(self, job: Job, error: dict[str, Any]) -> None:
        self._end(job, "failed", None, b"", b"", error)

    def _finish_cancelled(self, job: Job) -> None:
        if job._home is not None and job._state != "running" and self._slots[job._home].alive:
            self._slots[job._home].actor.drop.remote(job.id)
        self._end(job, "cancelled", None, b"", b"", None)

    def _end(self, job: Job, status: str, exit_code: Optional[int], stdout: bytes, stderr: bytes,
             error: Optional[dict[str, Any]], files: Optional[dict[str, bytes]] = None) -> None:
        job._state = status
        job._home = None
        self._sched.remove_job(job.id)
        job._result = JobResult(job.id, job.name, status, exit_code, stdout, stderr, job._cycles,
                                job._slices, error, tuple(job._history), job._lost_cycles, files or {})
        if self.checkpoint_dir is not None and status != "cancelled":
            _write_atomic(self.checkpoint_dir / f"{job.id}.result.json",
                          json.dumps(job._result.to_dict()).encode())
            (self.checkpoint_dir / f"{job.id}.snap").unlink(missing_ok=True)
        job._checkpoint = job._restore = None
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


def is_preemption(ev: dict[str, Any]) -> bool:
    """Put off its slot: a drain (evicted, or moved straight to a free host) or higher priority."""
    return ev["event"] in ("evict", "preempt") or (ev["event"] == "migrate" and ev.get("reason") == "drain")


def _root_cause(e: BaseException) -> str:
    """The last exception line of a Ray error (whose text holds a remote
    traceback with terminal colours), e.g. the ImportError that kept an
    actor from starting."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    lines = [ln.strip() for ln in text.splitlines()]
    raised = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:", ln)]
    # Ray wraps a failed import in a RuntimeError that quotes the real one after it.
    return raised[-1] if raised else (lines[0] if lines else type(e).__name__)


def _kill(actor: Any) -> None:
    try:
        ray.kill(actor)
    except Exception:   # its node may be gone already
        pass


def _gcs_client() -> Any:
    """Ray's GCS client of this driver, to read drain notices; None if unavailable."""
    try:
        return ray._private.worker.global_worker.gcs_client
    except AttributeError:
        log.warning("rvdist: this Ray has no GCS client API; drain notices are not watched")
        return None


def _as_bytes(data: Any) -> bytes:
    """A snapshot from a host (a read-only numpy view into Ray's object store) as
    bytes the driver owns, so that it outlives the object and the node."""
    return data if isinstance(data, bytes) else data.tobytes()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
