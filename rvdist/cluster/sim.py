"""Simulated nodes for the control plane, in virtual time.

:class:`SimCluster` implements the controller's
:class:`~rvdist.cluster.control.Transport` with nodes that behave like
node agents -- jobs placed on a node share its slots, higher priority
first, equally within a priority; checkpoints every ``checkpoint_cycles``
into a store that outlives nodes; evictions that write a last increment;
loads that read the chain back -- but whose progress is computed, not run:
each job advances at its share of a slot times ``speed`` cycles per
second. Membership changes (joins, drain notices, deaths) come from a
schedule. The real :class:`~rvdist.cluster.control.Controller` and
:class:`~rvdist.cluster.policy.Placement` run against it unchanged; tests
use it for property checks, ``benchmarks/bench_scale.py`` for a thousand
nodes.

The simulator also keeps the ground truth the controller cannot see:
every cycle run (to compute goodput), the bytes written and read, when
each drained node emptied, and checks on every step that no job is
resident on two live nodes and no node runs more jobs at once than it has
slots.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["SimJob", "SimCluster"]


@dataclass
class SimJob:
    """A simulated job: ``length`` cycles long; ``written`` bytes of its guest
    memory hold data (a full snapshot's size); each checkpoint interval
    rewrites ``dirty`` of it (as a fraction)."""

    job_id: str
    length: int
    memory: int = 0
    written: int = 0
    dirty: float = 0.1
    priority: int = 0


@dataclass
class _Res:
    job: SimJob
    epoch: int
    every: Optional[int]
    cycles: float
    loading: bool = True
    leaving: bool = False
    dropping: bool = False
    rate: float = 0.0
    reported_slices: int = 0


@dataclass
class _Node:
    node_id: str
    slots: int
    memory: Optional[int]
    alive: bool = True
    joined: bool = False
    released: bool = False
    res: dict[str, _Res] = field(default_factory=dict)
    t: float = 0.0              # residents' cycles are up to date at this time
    version: int = 0            # bumps when rates change; stale finish events carry older ones
    io_free: float = 0.0        # when this node's store link is free again
    events: list = field(default_factory=list)
    drain_noticed: Optional[float] = None
    emptied: Optional[float] = None


class SimCluster:
    """Nodes simulated in virtual time behind the Transport interface."""

    def __init__(self, jobs: dict[str, SimJob], *, speed: float = 1e9,
                 slice_cycles: int = 10_000_000, report_interval: float = 1.0,
                 bandwidth: float = 200e6, load_latency: float = 0.05,
                 detect_delay: float = 2.0, store: bool = True, full_every: int = 16,
                 seed: int = 0) -> None:
        self.jobs = jobs
        self.speed = speed
        self.slice_cycles = slice_cycles
        self.report_interval = report_interval
        self.bandwidth = bandwidth
        self.load_latency = load_latency
        self.detect_delay = detect_delay
        self.store_enabled = store
        self.full_every = full_every
        self.t = 0.0
        self.nodes: dict[str, _Node] = {}
        self._heap: list[tuple] = []
        self._seq = itertools.count()
        self._news: list[tuple] = []
        self._offset = itertools.cycle([i / 97 for i in range(97)])
        # ground truth
        self.stored: dict[str, float] = {}       # job -> cycles of its newest stored checkpoint
        self.chain: dict[str, tuple[int, int]] = {}   # job -> (full bytes, increments since)
        self.cycles_run = 0.0
        self.cycles_lost = 0.0                  # run, then lost with a node or a restart
        self.finished: dict[str, int] = {}       # job -> times it finished (must be 1)
        self.finished_at: dict[str, float] = {}  # job -> virtual time it finished
        self.checkpoint_bytes = 0
        self.migrated_bytes = 0
        self.restored_bytes = 0
        self.notice_to_empty: list[float] = []
        self.cpu = 0.0                          # process time spent simulating
        # t, busy slots, slots, cycles run so far, cycles lost so far
        self.samples: list[tuple[float, float, int, float, float]] = []
        self.max_busy_violation = 0.0

    # -- the schedule ---------------------------------------------------------------

    def at(self, t: float, kind: str, *args: Any) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), kind, args))

    def add_node(self, node_id: str, slots: int, at: float = 0.0,
                 memory: Optional[int] = None) -> None:
        self.at(at, "join", node_id, slots, memory)

    def drain_node(self, node_id: str, at: float, notice: float) -> None:
        self.at(at, "drain", node_id, notice)

    def kill_node(self, node_id: str, at: float) -> None:
        self.at(at, "kill", node_id)

    def live(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.alive and node.joined]

    # -- Transport ----------------------------------------------------------------------

    def now(self) -> float:
        return self.t

    def poll(self, timeout: float) -> list[tuple]:
        c0 = time.process_time()
        until = self.t + timeout
        while self._heap and self._heap[0][0] <= until and not self._news:
            t, _, kind, args = heapq.heappop(self._heap)
            self.t = max(self.t, t)
            getattr(self, f"_ev_{kind}")(*args)
        if not self._news:
            self.t = max(self.t, until)
        news, self._news = self._news, []
        self.cpu += time.process_time() - c0
        return news

    def idle(self) -> bool:
        """Nothing scheduled any more (no node, no event)."""
        return not self._heap

    def send(self, node_id: str, commands: list[tuple]) -> None:
        c0 = time.process_time()
        node = self.nodes.get(node_id)
        if node is not None and node.alive:
            self._advance(node)
            for cmd in commands:
                getattr(self, f"_cmd_{cmd[0]}")(node, *cmd[1:])
            self._rates(node)
            self._flush(node)
        self.cpu += time.process_time() - c0

    def release(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is not None:
            node.released = True

    # -- commands -------------------------------------------------------------------------

    def _cmd_assign(self, node: _Node, spec: Any, epoch: int, every: Optional[int],
                    restore: bool = True) -> None:
        job = self.jobs[spec.job_id]
        for other in self.nodes.values():
            if other.alive and other is not node and job.job_id in other.res:
                raise AssertionError(f"job {job.job_id} placed on {node.node_id} while "
                                     f"resident on {other.node_id}")
        start = self.stored.get(job.job_id, 0.0) if self.store_enabled and restore else 0.0
        node.res[job.job_id] = _Res(job, epoch, every, start)
        nbytes = 0
        if start:
            full, incs = self.chain[job.job_id]
            nbytes = full + incs * int(job.written * job.dirty)
        self.restored_bytes += nbytes
        done = self._io(node, nbytes) + self.load_latency
        self.at(done, "loaded", node.node_id, job.job_id, epoch, bool(start), nbytes)

    def _cmd_evict(self, node: _Node, job_id: str, epoch: int) -> None:
        r = node.res.get(job_id)
        if r is None or r.epoch != epoch or r.leaving:
            return
        r.leaving = True
        if r.loading:           # never loaded: its chain is still in the store
            self._leave(node, r, None, 0)
            return
        nbytes = self._checkpoint(r, r.cycles, final=True)
        self.migrated_bytes += nbytes
        self.at(self._io(node, nbytes), "left", node.node_id, job_id, epoch, r.cycles, nbytes)

    def _cmd_drop(self, node: _Node, job_id: str, epoch: int) -> None:
        r = node.res.get(job_id)
        if r is not None and r.epoch == epoch:
            del node.res[job_id]
            node.events.append(("dropped", job_id, epoch, {}))

    # -- events -----------------------------------------------------------------------------

    def _ev_join(self, node_id: str, slots: int, memory: Optional[int]) -> None:
        node = self.nodes[node_id] = _Node(node_id, slots, memory, t=self.t)
        node.joined = True
        self._news.append(("join", node_id, slots, memory))
        self.at(self.t + self.report_interval * (0.5 + next(self._offset)), "report", node_id)

    def _ev_drain(self, node_id: str, notice: float) -> None:
        node = self.nodes.get(node_id)
        if node is None or not node.alive:
            return
        node.drain_noticed = self.t
        self._news.append(("drain", node_id, self.t + notice))
        self.at(self.t + notice, "kill", node_id)

    def _ev_kill(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is None or not node.alive:
            return
        self._advance(node)
        node.alive = False
        for job_id, r in node.res.items():
            stored = self.stored.get(job_id, 0.0) if self.store_enabled else 0.0
            self.cycles_lost += max(0.0, r.cycles - stored)
        node.res.clear()
        self.at(self.t + (0.0 if node.released else self.detect_delay), "lost", node_id)

    def _ev_lost(self, node_id: str) -> None:
        self._news.append(("lost", node_id, "node lost"))

    def _ev_report(self, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is None or not node.alive:
            return
        self._advance(node)
        progress = []
        for job_id, r in node.res.items():
            if r.loading or r.leaving:
                continue
            slices = int(r.cycles // self.slice_cycles)
            if slices != r.reported_slices:
                progress.append((job_id, r.epoch, int(r.cycles), slices - r.reported_slices))
                r.reported_slices = slices
        self._news.append(("report", node_id, {"events": node.events, "progress": progress,
                                               "jobs": len(node.res)}))
        node.events = []
        self.at(self.t + self.report_interval, "report", node_id)

    def _ev_loaded(self, node_id: str, job_id: str, epoch: int, restored: bool,
                   nbytes: int) -> None:
        node = self.nodes.get(node_id)
        r = node.res.get(job_id) if node is not None and node.alive else None
        if r is None or r.epoch != epoch or not r.loading:
            return
        self._advance(node)
        r.loading = False
        r.reported_slices = int(r.cycles // self.slice_cycles)
        node.events.append(("started", job_id, epoch, {"cycles": int(r.cycles),
                                                       "restored": restored, "bytes": nbytes}))
        if r.leaving:       # evicted while loading
            nbytes = self._checkpoint(r, r.cycles, final=True)
            self.at(self._io(node, nbytes), "left", node_id, job_id, epoch, r.cycles, nbytes)
        self._rates(node)
        self._flush(node)

    def _ev_left(self, node_id: str, job_id: str, epoch: int, cycles: float, nbytes: int) -> None:
        node = self.nodes.get(node_id)
        r = node.res.get(job_id) if node is not None and node.alive else None
        if r is None or r.epoch != epoch:
            return
        self._leave(node, r, cycles, nbytes)

    def _ev_finish(self, node_id: str, version: int) -> None:
        node = self.nodes.get(node_id)
        if node is None or not node.alive or node.version != version:
            return
        self._advance(node)
        for job_id, r in list(node.res.items()):
            if not r.loading and not r.leaving and r.cycles >= r.job.length:
                del node.res[job_id]
                self.finished[job_id] = self.finished.get(job_id, 0) + 1
                self.finished_at[job_id] = self.t
                node.events.append(("finished", job_id, r.epoch, {
                    "state": "exited", "cycles": r.job.length, "exit_code": 0, "stdout": b"",
                    "stderr": b"", "error": None,
                    "slices": -(-r.job.length // self.slice_cycles) - r.reported_slices}))
        self._rates(node)
        self._flush(node)

    # -- the model ------------------------------------------------------------------------------

    def _leave(self, node: _Node, r: _Res, cycles: Optional[float], nbytes: int) -> None:
        del node.res[r.job.job_id]
        if not self.store_enabled:
            self.cycles_lost += r.cycles        # it starts again elsewhere
        node.events.append(("left", r.job.job_id, r.epoch, {
            "cycles": int(cycles) if cycles is not None and self.store_enabled else None,
            "bytes": nbytes}))
        self._rates(node)
        self._flush(node)

    def _io(self, node: _Node, nbytes: int) -> float:
        """When a transfer of ``nbytes`` over the node's store link, queued now, ends."""
        node.io_free = max(node.io_free, self.t) + nbytes / self.bandwidth
        return node.io_free

    def _checkpoint(self, r: _Res, cycles: float, final: bool) -> int:
        """Store a checkpoint of ``r`` at ``cycles``; returns its bytes (a full
        snapshot after ``full_every`` increments, as an agent compacts)."""
        if not self.store_enabled:
            return 0
        job = r.job
        full, incs = self.chain.get(job.job_id, (0, 0))
        inc = int(job.written * job.dirty)
        if not full or incs + 1 >= self.full_every or (incs + 1) * inc >= full:
            nbytes, self.chain[job.job_id] = job.written, (job.written, 0)
        else:
            nbytes, self.chain[job.job_id] = inc, (full, incs + 1)
        self.stored[job.job_id] = cycles
        self.checkpoint_bytes += nbytes
        return nbytes

    def _advance(self, node: _Node) -> None:
        dt = self.t - node.t
        if dt > 0:
            for r in node.res.values():
                if r.rate:
                    step = min(r.rate * dt, r.job.length - r.cycles)
                    if r.job.length - r.cycles - step < 1.0:     # float dust: it is done
                        step = r.job.length - r.cycles
                    r.cycles += step
                    self.cycles_run += step
                    if r.every is not None and self.store_enabled:
                        # a checkpoint crossed between reports was stored when it was due
                        last = self.stored.get(r.job.job_id, 0.0)
                        if r.cycles >= (int(last // r.every) + 1) * r.every and \
                                r.cycles < r.job.length:
                            at = (r.cycles // r.every) * r.every
                            nbytes = self._checkpoint(r, at, final=False)
                            node.events.append(("checkpoint", r.job.job_id, r.epoch, {
                                "cycles": int(at), "bytes": nbytes,
                                "full": self.chain[r.job.job_id][1] == 0}))
        node.t = self.t

    def _rates(self, node: _Node) -> None:
        """Share the node's slots: higher priority first, equally within one."""
        runnable = [r for r in node.res.values() if not r.loading and not r.leaving]
        for r in node.res.values():
            r.rate = 0.0
        free = float(node.slots)
        for p in sorted({r.job.priority for r in runnable}, reverse=True):
            tier = [r for r in runnable if r.job.priority == p]
            share = min(1.0, free / len(tier)) if free > 0 else 0.0
            for r in tier:
                r.rate = share * self.speed
            free -= share * len(tier)
        busy = sum(r.rate for r in runnable) / self.speed
        if busy > node.slots + 1e-9:
            raise AssertionError(f"node {node.node_id} runs {busy} slots of {node.slots}")
        node.version += 1
        left = [(r.job.length - r.cycles) / r.rate for r in runnable if r.rate > 0]
        if left:
            self.at(self.t + max(min(left), 0.0), "finish", node.node_id, node.version)
        if not node.res and node.drain_noticed is not None and node.emptied is None:
            node.emptied = self.t
            self.notice_to_empty.append(self.t - node.drain_noticed)

    def _flush(self, node: _Node) -> None:
        """Report state changes at once, as an agent's poll returns early."""
        if node.events:
            self._news.append(("report", node.node_id, {"events": node.events, "progress": [],
                                                        "jobs": len(node.res)}))
            node.events = []

    # -- figures ---------------------------------------------------------------------------------

    def busy_slots(self) -> tuple[float, int]:
        busy, slots = 0.0, 0
        for node in self.nodes.values():
            if node.alive:
                slots += node.slots
                busy += sum(r.rate for r in node.res.values()) / self.speed
        return busy, slots


def run(sim: SimCluster, controller: Any, arrivals: list[tuple[float, Any]], *,
        step: float = 0.05, max_time: float = float("inf"),
        sample_every: Optional[float] = None) -> float:
    """Drive ``controller`` against ``sim`` until every job has ended.

    ``arrivals`` are ``(time, Job)`` pairs, submitted when virtual time
    reaches them. Returns the process time spent in the controller (its
    steps, less the simulator's own share of them): the driver's CPU.
    """
    pending = sorted(arrivals, key=lambda a: a[0], reverse=True)
    jobs = [job for _, job in arrivals]
    cpu = 0.0
    next_sample = next_check = 0.0
    while True:
        while pending and pending[-1][0] <= sim.t:
            c0 = time.process_time()
            with controller.lock:
                controller.submit(pending.pop()[1])
            cpu += time.process_time() - c0
        if not pending and len(sim.finished) >= len(jobs) and all(j.done() for j in jobs):
            break
        if not pending and sim.t > next_check:      # jobs that fail or are cancelled
            next_check = sim.t + 60.0
            if all(j.done() for j in jobs):
                break
        if sim.t > max_time:
            raise RuntimeError(f"{sum(not j.done() for j in jobs)} jobs not done after "
                               f"{max_time} s of simulated time")
        if sample_every is not None and sim.t >= next_sample:
            busy, slots = sim.busy_slots()
            sim.samples.append((sim.t, busy, slots, sim.cycles_run, sim.cycles_lost))
            next_sample = sim.t + sample_every
        c0, s0 = time.process_time(), sim.cpu
        controller.step(step)
        cpu += (time.process_time() - c0) - (sim.cpu - s0)
    return cpu
