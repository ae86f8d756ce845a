"""The public face of the cluster: :class:`Executor`.

It starts (or joins) Ray, the checkpoint store and one agent per node,
and runs the control loop on a thread of its own; its methods only record
what is asked, under the control plane's lock. See :mod:`rvdist.cluster`
for how the parts fit.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence, Union

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rvdist.cluster.control import Controller
from rvdist.cluster.jobs import Job, JobResult, JobSpec
from rvdist.cluster.policy import Placement
from rvdist.cluster.store import DirStore, Keeper, KeeperStore
from rvdist.cluster.transport import RayTransport
from rvdist.connect import DEFAULT_CONNECT_TIMEOUT, init_ray
from rvdist.errors import ClusterUnavailable, ConfigError, RvError, SnapshotError
from rvdist.machine import DEFAULT_MEMORY_SIZE
from rvdist.process import DEFAULT_START_TIME, normalize_env, normalize_files
from rvdist.program import Program
from rvdist.snapshot import Snapshot
from rvdist.units import parse_size

__all__ = ["Executor", "DEFAULT_CHECKPOINT_CYCLES"]

log = logging.getLogger(__name__)

#: Default cycles between two checkpoints of a job (about a second of guest time).
DEFAULT_CHECKPOINT_CYCLES = 1_000_000_000
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# How long one control step waits for news when none comes. Submissions,
# cancellations, migrations and drains are acted on at once (the caller's
# thread asks the policy), and reports wake the loop, so this only paces
# the balance and the cluster watch; longer waits cost the driver less CPU.
CONTROL_INTERVAL = 0.2


class Executor:
    """Runs jobs on resident VMs across a Ray cluster in slices of ``slice_cycles``.

    With ``address=None`` and no Ray running in this process, it starts a
    private local Ray sized to the machine (or, inside a Ray job, joins the
    cluster ``RAY_ADDRESS`` names); ``address="auto"`` joins the cluster
    running on this machine, and an explicit address joins that one. One
    node agent is started on every node, with one slot per CPU (or
    ``slots_per_node``); nodes that join later get theirs within
    ``watch_interval`` seconds. Each node runs its jobs slice by slice by
    itself; the driver only places them, and agents report every
    ``report_interval`` seconds (at once when a job starts or ends).

    Every ``checkpoint_cycles`` cycles, an agent stores an incremental
    checkpoint of each of its jobs, without passing it through the driver,
    with a keeper actor on the driver's node, which writes them to
    ``checkpoint_dir`` (a path on the driver's machine) if given, or to a
    private directory; a ``checkpoint_dir`` that is an fsspec URL
    (``s3://...``) is written by the agents directly. A job whose
    node dies resumes from there. With ``checkpoint_dir``, a job submitted
    with the ``job_id`` of an earlier run picks up that run's result or last
    checkpoint (see :meth:`submit`). ``on_event(job, event)`` is called
    with each event as it joins a job's history (see :class:`JobResult`;
    a run of slices once for each report that grows it), on the control
    thread and with the executor's lock held: it must be quick and must
    not call the executor. An ``address`` where nothing answers within
    ``connect_timeout`` seconds, or a cluster where no agent can start,
    raises :class:`~rvdist.errors.ClusterUnavailable`. Use it as a context
    manager, or call :meth:`shutdown`.
    """

    def __init__(self, address: Optional[str] = None, slice_cycles: int = 10_000_000,
                 slots_per_node: Optional[int] = None, ray_init: Optional[dict[str, Any]] = None,
                 checkpoint_cycles: Optional[int] = DEFAULT_CHECKPOINT_CYCLES,
                 checkpoint_dir: Union[str, os.PathLike, None] = None,
                 watch_interval: float = 0.2, report_interval: float = 0.2,
                 connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
                 on_event: Optional[Callable[[Job, dict[str, Any]], None]] = None) -> None:
        if not isinstance(slice_cycles, int) or slice_cycles <= 0:
            raise ConfigError(f"slice_cycles must be a positive integer, got {slice_cycles!r}")
        if checkpoint_cycles is not None and (not isinstance(checkpoint_cycles, int)
                                              or checkpoint_cycles <= 0):
            raise ConfigError(f"checkpoint_cycles must be a positive integer or None, "
                              f"got {checkpoint_cycles!r}")
        self.slice_cycles = slice_cycles
        self.checkpoint_cycles = checkpoint_cycles
        self.checkpoint_dir = checkpoint_dir
        self._dir_store = DirStore(checkpoint_dir) if checkpoint_dir is not None else None
        # Inside a Ray job (ray job submit) RAY_ADDRESS names the cluster;
        # otherwise a private local Ray sized to this machine is started.
        self._owns_ray = init_ray(address, connect_timeout, ray_init)
        self._on_event = on_event
        self._keeper = None
        if checkpoint_dir is not None and "://" in str(checkpoint_dir):
            store: Any = self._dir_store        # every node reaches the URL itself
        else:
            # A keeper on this node writes the chains (to a local checkpoint_dir,
            # or a private directory): agents elsewhere send it their checkpoints.
            here = ray.get_runtime_context().get_node_id()
            root = os.path.abspath(checkpoint_dir) if checkpoint_dir is not None else None
            self._keeper = ray.remote(num_cpus=0, max_restarts=0, max_concurrency=8)(Keeper).options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote(root)
            store = KeeperStore(self._keeper)
        self._store = store
        self._lock = threading.Condition()
        self._transport = RayTransport(store, slice_cycles, slots_per_node,
                                       report_interval=report_interval,
                                       watch_interval=watch_interval)
        self._control = Controller(self._transport, Placement(checkpoint_cycles), self._lock,
                                   on_end=self._ended, cleanup=store.delete,
                                   on_event=self._event if on_event is not None else None)
        self._closed = False
        self._seq = 0
        # ObjectRefs of the contents of jobs not ended yet, by digest; a
        # content goes from the object store once no live job needs it
        self._programs: dict[str, Any] = {}
        self._blobs: dict[str, Any] = {}        # digest -> ObjectRef of a declared file's bytes
        self._uses: dict[tuple[str, str], int] = {}
        # every job that has ended, in order (under the lock): as_completed
        # reads what is new since its last look instead of polling every job
        self._finished: list[Job] = []
        self._puts = 0
        started, problems = self._transport.start()
        if not started:
            self._transport.close()
            if self._keeper is not None:
                _kill(self._keeper)
            if self._owns_ray:
                ray.shutdown()
            why = problems[0] if problems else "the cluster has no live node with a free CPU"
            raise ClusterUnavailable(f"no rvdist host could be started: {why}")
        self._control.step(0)       # the joins
        self._thread = threading.Thread(target=self._loop, name="rvdist-control", daemon=True)
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
        distinct content is put into Ray's object store once, and each node
        fetches it once, however many of its jobs declare it; the result's
        ``files`` holds the files the guest created.

        Higher ``priority`` runs first: a job of higher priority starts on
        its node at the next slice boundary, within one slice plus one
        control interval, and the jobs it displaces resume when no
        higher-priority job wants their slots. ``output_limit`` caps
        captured stdout and stderr, each. ``job_id`` (letters, digits,
        ``._-``) names the job's files in ``checkpoint_dir``: if that
        directory holds a result for it, the job is done at once with that
        result; if it holds a checkpoint, the job continues from there.
        """
        if not isinstance(program, Program):
            program = Program(program) if isinstance(program, bytes) else Program.from_file(program)
        if job_id is not None and not _JOB_ID.match(job_id):
            raise ConfigError(f"job_id must be 1 to 128 letters, digits, '.', '_' or '-', "
                              f"got {job_id!r}")
        normalize_env(env)
        declared = normalize_files(files, cwd if isinstance(cwd, str) else "/")
        saved = self._saved(job_id, program) if job_id is not None else (None, None)
        config = {"args": list(args), "stdin": bytes(stdin), "memory_size": memory_size,
                  "cost_model": cost_model, "max_cycles": max_cycles, "env": env, "seed": seed,
                  "cwd": cwd, "start_time": start_time, "file_limit": file_limit}
        if output_limit is not None:
            config["output_limit"] = output_limit
        try:
            memory = parse_size(memory_size)
        except (ValueError, TypeError):
            memory = 0      # the agent reports the bad size as the job's error
        # Contents new to this executor go into the object store before the
        # control plane's lock is taken: a large file must not stall the loop.
        # (Two submits racing on one new content may both put it; one is kept.)
        program_ref = None if program.digest in self._programs \
            else ray.put((program.data, program.name))
        blob_refs = {d: ray.put(data) for d, data in declared.blobs.items() if d not in self._blobs}
        with self._lock:
            if self._closed:
                raise RvError("the executor is shut down")
            job_id = job_id or uuid.uuid4().hex[:12]
            if job_id in self._control.jobs:
                raise ConfigError(f"a job with id {job_id!r} was already submitted")
            # (a content held before the lock may have been let go since: rare)
            if program.digest not in self._programs:
                self._programs[program.digest] = program_ref if program_ref is not None \
                    else ray.put((program.data, program.name))
            for digest, data in declared.blobs.items():
                if digest not in self._blobs:
                    self._blobs[digest] = blob_refs[digest] if digest in blob_refs \
                        else ray.put(data)
                    self._puts += 1
            self._seq += 1
            spec = JobSpec(job_id, name or f"{program.name}#{self._seq}", program.digest,
                           [self._programs[program.digest]], config, priority, memory,
                           dict(declared.paths), {d: [self._blobs[d]] for d in declared.blobs})
            job = Job(spec, self._lock, on_cancel=self._cancel, on_end=self._job_ended)
            for key in spec.contents():
                self._uses[key] = self._uses.get(key, 0) + 1
            result, cycles = saved
            if result is not None:
                job.history = list(result.history)
                job.cycles, job.slices, job.lost_cycles = result.cycles, result.slices, \
                    result.lost_cycles
                job.end(result.status, result=result)
            elif cycles is not None:
                job.cycles = job.checkpoint_cycles = cycles
                job.has_checkpoint = job.started = True
                job.event("resume", None, cycles=cycles)
            self._control.submit(job)
            self._control.decide()      # placed now, not at the loop's next turn
            self._lock.notify_all()
        return job

    def map(self, program: Union[Program, str, os.PathLike], argss: Iterable[Sequence[str]],
            **kwargs: Any) -> list[JobResult]:
        """Run ``program`` once per argument list and return the results in order."""
        jobs = [self.submit(program, args=a, **kwargs) for a in argss]
        return [j.result() for j in jobs]

    def as_completed(self, jobs: Iterable[Job], timeout: Optional[float] = None) -> Iterator[Job]:
        """Yield jobs of this executor as they end (TimeoutError if
        ``timeout`` seconds pass first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            left = {id(j): j for j in jobs}
            ready = [j for j in left.values() if j.done()]
            seen = len(self._finished)
            while True:
                for j in ready:
                    if left.pop(id(j), None) is None:
                        continue
                    self._lock.release()
                    try:
                        yield j
                    finally:
                        self._lock.acquire()
                if not left:
                    return
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    raise TimeoutError(f"{len(left)} jobs still running after {timeout} s")
                if len(self._finished) == seen:
                    self._lock.wait(min(wait, 1.0) if wait is not None else 1.0)
                ready, seen = self._finished[seen:], len(self._finished)

    def migrate(self, job: Job, node_id: Optional[str] = None) -> None:
        """Move a live job at its next slice boundary to ``node_id`` (Ray's
        hex node id), or with ``node_id=None`` to the best other node (on a
        one-node cluster, back to the same one). The job goes through the
        checkpoint store: its node writes an increment, the new node
        restores the chain."""
        with self._lock:
            live = self._control.placement.live_nodes()
            if node_id is not None and node_id not in live:
                raise ConfigError(f"no live rvdist agent on node {node_id}")
            if node_id is not None and len(live) < 2:
                raise ConfigError("there is no other node to move the job to")
            if not job.done():
                self._control.migrate(job, node_id)
                self._control.decide()

    def preempt_node(self, node_id: str, deadline_s: float = 30.0, wait: bool = True) -> float:
        """Empty a node before it goes away, as for a spot node's notice.

        The node gets no new work; every job on it is checkpointed into the
        store at its next slice boundary and continues on another node.
        Once the node holds no job its agent stops, so that the node can
        go. With ``wait``, returns the seconds it took until the node held
        no job, or raises TimeoutError if it still does after ``deadline_s``
        (its jobs then fall back to their checkpoints if the node really
        dies). Ray's own drain notices are handled the same way
        automatically. :meth:`restore_node` puts the node back into service.
        """
        t0 = time.monotonic()
        with self._lock:
            if node_id not in self._control.placement.nodes:
                raise ConfigError(f"no rvdist agent on node {node_id}")
            self._control.drain(node_id, time.time() + deadline_s)
            self._control.decide()
            self._lock.notify_all()
            if not wait:
                return 0.0
            while self._control.node_holds_jobs(node_id):
                left = t0 + deadline_s - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"node {node_id} still holds jobs after {deadline_s} s")
                self._lock.wait(min(left, 0.05))
        return time.monotonic() - t0

    def restore_node(self, node_id: str) -> None:
        """Return a node emptied by :meth:`preempt_node` to service.

        Its agent, stopped once the node was empty, starts anew, and the
        node takes work again when it is ready. A node that Ray itself is
        draining, or that is gone, cannot come back: ConfigError.
        """
        with self._lock:
            if node_id not in self._control.drains:
                raise ConfigError(f"node {node_id} was not preempted")
            if not self._transport.can_reinstate(node_id):
                raise ConfigError(f"node {node_id} is gone or drained by Ray: it cannot be "
                                  f"restored")
            self._control.undrain(node_id)
            self._transport.reinstate(node_id)

    def nodes(self) -> list[str]:
        """The ids of live nodes that have agents and take work."""
        with self._lock:
            return self._control.placement.live_nodes()

    def slots(self) -> int:
        """How many slots the live nodes have, all told."""
        with self._lock:
            return sum(self._control.placement.nodes[n].slots
                       for n in self._control.placement.live_nodes())

    def drains(self) -> list[dict[str, Any]]:
        """The nodes seen draining: ``node``, ``deadline`` (a time.time()) and
        ``emptied_after`` (seconds from the notice until the node held no job,
        or None while it still does)."""
        with self._lock:
            return [{"node": d.node_id, "deadline": d.deadline,
                     "emptied_after": None if d.emptied is None else d.emptied - d.noticed}
                    for d in self._control.drains.values()]

    def stats(self) -> dict[str, int]:
        """Counters over all jobs so far: ``jobs``, ``done`` (ended in any way),
        ``cycles`` (guest cycles of the jobs' current states), ``lost_cycles``
        (cycles run again after a loss), and the numbers of ``migrations``,
        ``preemptions``, ``recoveries`` and ``checkpoints``; plus
        ``report_bytes``, the bytes of agents' reports this driver received;
        ``file_contents``, how many times it put a declared file's content
        into Ray's object store (once for all the live jobs that declare it);
        and ``contents_held``, the programs and file contents it holds there
        now, for jobs not ended yet."""
        with self._lock:
            out = self._control.stats()
            out["report_bytes"] = self._transport.bytes_received
            out["file_contents"] = self._puts
            out["contents_held"] = len(self._programs) + len(self._blobs)
            return out

    def store_stats(self) -> Optional[dict[str, Any]]:
        """The checkpoint keeper's own figures (``bytes_written``, ``writes``,
        the ``node`` and ``pid`` it runs on, the ``jobs`` it holds), or None
        when checkpoints go to a ``checkpoint_dir`` instead."""
        if self._keeper is None:
            return None
        return ray.get(self._keeper.stats.remote(), timeout=30)

    def shutdown(self) -> None:
        """Stop the control loop, cancel what is left, and release the agents
        (and the keeper, and a Ray we started)."""
        with self._lock:
            if self._closed and not self._thread.is_alive():
                return
            self._closed = True
            self._lock.notify_all()
        self._thread.join(timeout=30)
        with self._lock:
            for job in self._control.jobs.values():
                if not job.done():
                    job.end("cancelled")
            self._lock.notify_all()
        self._transport.close()
        if self._keeper is not None:
            try:
                self._store.flush()
                ray.get(self._keeper.close.remote(), timeout=10)
                ray.kill(self._keeper)
            except Exception:
                pass
        if self._owns_ray:
            ray.shutdown()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- internals -----------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            try:
                self._control.step(CONTROL_INTERVAL)
            except Exception as e:      # a bug here must not strand waiting callers
                log.exception("rvdist: the control loop failed")
                with self._lock:
                    self._closed = True
                    for job in self._control.jobs.values():
                        if not job.done():
                            job.end("failed", error={"kind": "executor", "message":
                                                     f"the control loop failed: "
                                                     f"{type(e).__name__}: {e}",
                                                     "pc": None, "address": None})
                    self._lock.notify_all()
                return

    def _event(self, job: Job, ev: dict[str, Any]) -> None:
        """Pass an event to ``on_event``; a failing observer is dropped, not the jobs."""
        if self._on_event is None:
            return
        try:
            self._on_event(job, ev)
        except Exception as e:
            log.warning("rvdist: the event callback failed (%s: %s); no more events go to it",
                        type(e).__name__, e)
            self._on_event = None

    def _cancel(self, job: Job) -> None:
        with self._lock:
            self._control.cancel(job)
            self._control.decide()
            self._lock.notify_all()

    def _ended(self, job: Job, result: JobResult) -> None:
        if self._dir_store is not None and result.status != "cancelled":
            self._dir_store.write_result(job.id, json.dumps(result.to_dict()).encode())

    def _job_ended(self, job: Job) -> None:
        """Every job's end, however it came (under the lock): note it for
        as_completed, and drop the job's references, and the executor's to
        each content no live job needs, so that Ray frees it (a later job
        puts it again)."""
        self._finished.append(job)
        job.spec.drop_refs()
        for key in job.spec.contents():
            self._uses[key] -= 1
            if not self._uses[key]:
                del self._uses[key]
                kind, digest = key
                (self._programs if kind == "program" else self._blobs).pop(digest, None)

    def _saved(self, job_id: str, program: Program) -> tuple[Optional[JobResult], Optional[int]]:
        """What ``checkpoint_dir`` holds for ``job_id``: its result, or the
        cycle count of its last checkpoint (read once here, then dropped)."""
        if self._dir_store is None:
            return None, None
        raw = self._dir_store.read_result(job_id)
        if raw is not None:
            try:
                return JobResult.from_dict(json.loads(raw)), None
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"unreadable result of job {job_id} in "
                                  f"{self.checkpoint_dir}: {e}") from None
        chain = self._dir_store.read(job_id)
        if not chain:
            return None, None
        first = Snapshot.from_bytes(chain[0]).info()
        if first["program"]["digest"] != program.digest:
            raise SnapshotError(f"the checkpoint of job {job_id} is of another program "
                                f"({first['program']['name']!r})")
        return None, int(Snapshot.from_bytes(chain[-1]).info()["cycles"])


def _kill(actor: Any) -> None:
    try:
        ray.kill(actor)
    except Exception:   # its node may be gone already
        pass
