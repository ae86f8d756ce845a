"""Placement: which job lives on which node. Pure bookkeeping, no Ray.

The control plane (:mod:`rvdist.cluster.control`) tells a :class:`Placement`
what happened (nodes joined, drained or died; jobs submitted, placed,
left or ended) and asks :meth:`Placement.decide` what to do next. The
answer is a list of actions -- :class:`Place`, :class:`Evict`,
:class:`Release` -- that the control plane carries out without working
them out again. This module is the one owner of placement.

How a node shares its slots among the jobs placed on it is the node
agent's business (higher priority first, then round-robin, slice by
slice); this module only decides the placement, so that the slots of the
whole cluster are shared out fairly:

- **Admission.** A waiting job goes, highest priority first and then in
  submission order, to the live node where it gets the largest share: the
  most slots left over by higher-priority jobs per job of its priority
  (ties: fewer jobs, then the node id). A node takes jobs while their guest
  memory fits its memory budget.
- **Balance.** Every ``balance_interval`` seconds, for each priority from
  the highest down, the job with the smallest share moves to the node
  where it would get the largest one, if that gains at least
  ``balance_gain`` (a factor), the job has not moved within
  ``move_cooldown`` seconds and its node has not been given a job within
  ``settle`` seconds (so that a short urgent job does not push its
  node's other jobs around). An idle slot thus pulls work from a node with
  a backlog, a node that joins takes its share, and a higher-priority job
  that filled a node pushes the lower ones elsewhere. At most
  ``max_moves`` moves start per call.
- **Drains.** Every job on a draining node is evicted (checkpointed into the
  store) at once, each with the best destination found then.
- **Losses.** A lost node's jobs wait again, ahead of later submissions
  of their priority, to be restored from their last checkpoints.
- **Scale.** With more than 64 nodes, a job of the lowest priority is
  admitted to the node with the fewest jobs per slot, found in a heap
  rather than by a scan of every node.
- **Checkpoints.** Every placement carries the interval at which the job
  checkpoints, ``checkpoint_cycles`` of its own guest cycles; an eviction
  always ends with a checkpoint.
- **Release.** A draining node that holds no job is released, so that
  the cluster manager can finish taking it away.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, Union

__all__ = ["Place", "Evict", "Release", "Action", "NodeInfo", "JobInfo", "Placement"]


@dataclass(frozen=True)
class Place:
    """Put ``job_id`` on ``node_id``: start it, or restore it from the store;
    it checkpoints every ``checkpoint_cycles`` of its own (None: never)."""

    job_id: str
    node_id: str
    checkpoint_cycles: Optional[int] = None


@dataclass(frozen=True)
class Evict:
    """Checkpoint ``job_id`` off ``node_id`` into the store and let it go.

    ``to`` is where it goes next (placed when it has left), or None to
    wait for a place. ``reason`` is ``drain``, ``balance`` or ``request``.
    """

    job_id: str
    node_id: str
    reason: str
    to: Optional[str] = None


@dataclass(frozen=True)
class Release:
    """``node_id`` is draining and holds no job: its agent may stop."""

    node_id: str


Action = Union[Place, Evict, Release]


@dataclass
class NodeInfo:
    node_id: str
    slots: int
    memory: Optional[int] = None        # budget for guest memory, bytes (None: no limit)
    draining: bool = False
    released: bool = False
    received: float = float("-inf")     # when a job was last placed here
    used: int = 0                       # guest memory of the jobs placed here
    jobs: dict[str, int] = field(default_factory=dict)   # job id -> priority
    tiers: Counter = field(default_factory=Counter)      # priority -> jobs here
    outgoing: Counter = field(default_factory=Counter)   # priority -> jobs leaving

    def higher(self, priority: int) -> int:
        """Jobs placed here (and staying) with a priority above ``priority``."""
        return sum(c - self.outgoing[p] for p, c in self.tiers.items() if p > priority)

    def share(self, priority: int, extra: int = 0) -> float:
        """Slots per job of ``priority`` here, with ``extra`` more such jobs
        (jobs on their way out do not count)."""
        n = self.tiers[priority] - self.outgoing[priority] + extra
        return max(0, self.slots - self.higher(priority)) / n if n else float(self.slots)

    def fits(self, memory: int) -> bool:
        return self.memory is None or self.used + memory <= self.memory or not self.jobs


@dataclass
class JobInfo:
    job_id: str
    priority: int
    seq: int
    memory: int = 0
    node: Optional[str] = None          # where it is placed (also while leaving)
    leaving: bool = False
    dest: Optional[str] = None          # where a leaving job goes next
    moved_at: float = float("-inf")
    wanted: Optional[str] = None        # a requested move ("*": anywhere else)


class Placement:
    """The books of placement and the decisions drawn from them (see the module doc).

    Reports that contradict the books raise ``ValueError`` (placing a job
    twice, on a node that does not take work) or ``KeyError`` (unknown
    ids), since going on would put one job on two nodes.
    """

    def __init__(self, checkpoint_cycles: Optional[int] = None, balance_interval: float = 1.0,
                 balance_gain: float = 1.25, move_cooldown: float = 10.0,
                 max_moves: int = 8, settle: float = 2.0) -> None:
        self.checkpoint_cycles = checkpoint_cycles
        self.settle = settle
        self._now = 0.0
        self.nodes: dict[str, NodeInfo] = {}
        self.jobs: dict[str, JobInfo] = {}
        self.balance_interval = balance_interval
        self.balance_gain = balance_gain
        self.move_cooldown = move_cooldown
        self.max_moves = max_moves
        self._seq = itertools.count()
        self._waiting: list[tuple[int, int, str]] = []   # heap of (-priority, seq, job id)
        self._queued: set[str] = set()
        self._queued_memory: Counter = Counter()   # memory size -> queued jobs of that size
        self._last_balance = float("-inf")
        self._dirty = True      # something changed since the last decide()
        # Nodes by load, for admitting jobs of the lowest priority without a scan.
        self._by_load: list[tuple[float, str]] = []
        self._min_priority: Optional[int] = None
        self._draining: set[str] = set()
        self._wanted: set[str] = set()

    # -- nodes --------------------------------------------------------------------

    def add_node(self, node_id: str, slots: int, memory: Optional[int] = None) -> None:
        if node_id in self.nodes:
            raise ValueError(f"node {node_id!r} is already known")
        if slots < 1:
            raise ValueError(f"node {node_id!r} needs at least one slot, got {slots}")
        self.nodes[node_id] = NodeInfo(node_id, slots, memory)
        heapq.heappush(self._by_load, (0.0, node_id))
        self._dirty = True

    def drain_node(self, node_id: str) -> None:
        """The node is going away: it takes no work, and its jobs leave."""
        self.nodes[node_id].draining = True
        self._draining.add(node_id)
        self._dirty = True

    def undrain_node(self, node_id: str) -> None:
        """Return a drained node to service (it takes work again)."""
        node = self.nodes[node_id]
        node.draining = node.released = False
        self._draining.discard(node_id)
        heapq.heappush(self._by_load, (self._load(node), node_id))
        self._dirty = True

    def remove_node(self, node_id: str) -> list[str]:
        """The node is gone; returns its jobs (in submission order), which now wait."""
        node = self.nodes.pop(node_id, None)
        self._draining.discard(node_id)
        if node is None:
            return []
        # the jobs placed here (not those merely bound here: they are elsewhere)
        lost = sorted((j for j in node.jobs if self.jobs[j].node == node_id),
                      key=lambda j: self.jobs[j].seq)
        for job_id in lost:
            job = self.jobs[job_id]
            dest = self.nodes.get(job.dest) if job.dest is not None else None
            if dest is not None and job_id in dest.jobs:
                self._reserve(dest, job, -1)
            job.node, job.leaving, job.dest = None, False, None
            self._enqueue(job)
        for job in self.jobs.values():          # leaving elsewhere, bound for this node
            if job.dest == node_id:
                job.dest = None
        self._dirty = True
        return lost

    # -- jobs ---------------------------------------------------------------------

    def add_job(self, job_id: str, priority: int = 0, memory: int = 0) -> None:
        """A new job; it waits for a place."""
        if job_id in self.jobs:
            raise ValueError(f"job {job_id!r} is already known")
        job = JobInfo(job_id, priority, next(self._seq), memory)
        self.jobs[job_id] = job
        if self._min_priority is None or priority < self._min_priority:
            self._min_priority = priority
        self._enqueue(job)

    def remove_job(self, job_id: str) -> None:
        """The job ended (or was cancelled): forget it and free its place."""
        job = self.jobs.pop(job_id, None)
        if job is None:
            return
        self._unplace(job)
        self._dequeue(job)
        self._dirty = True

    def left(self, job_id: str) -> Optional[str]:
        """An evicted job has left its node (its checkpoint is stored).

        Returns the node it is now placed on (its destination, if that
        still takes it), or None if it waits for a place.
        """
        job = self.jobs[job_id]
        dest = job.dest
        self._unplace(job)
        if dest is not None and self._takes(dest, job):
            self._put(job, dest)
            return dest
        self._enqueue(job)
        return None

    def stayed(self, job_id: str) -> None:
        """An eviction failed (the store refused the checkpoint): the job stays."""
        job = self.jobs[job_id]
        dest = self.nodes.get(job.dest) if job.dest is not None else None
        if dest is not None and job_id in dest.jobs:
            self._reserve(dest, job, -1)
        src = self.nodes.get(job.node) if job.node is not None else None
        if job.leaving and src is not None:
            src.outgoing[job.priority] -= 1
        job.leaving, job.dest = False, None
        self._dirty = True

    def lost(self, job_id: str) -> None:
        """The job's machine is gone (a failed load, a node that died): it waits again."""
        job = self.jobs[job_id]
        self._unplace(job)
        self._enqueue(job)

    def request_move(self, job_id: str, node_id: Optional[str] = None) -> None:
        """Move a placed job to ``node_id`` (or anywhere else) at the next decision."""
        job = self.jobs[job_id]
        if node_id is not None and node_id not in self.nodes:
            raise KeyError(node_id)
        job.wanted = node_id or "*"
        self._wanted.add(job_id)
        self._dirty = True

    def where(self, job_id: str) -> Optional[str]:
        """The node a job is placed on (or leaving), or None."""
        job = self.jobs.get(job_id)
        return None if job is None else job.node

    def live_nodes(self) -> list[str]:
        """Nodes that take work."""
        return sorted(n for n, node in self.nodes.items() if not node.draining)

    def holds(self, node_id: str) -> int:
        """How many jobs are placed on (or still leaving) a node."""
        node = self.nodes.get(node_id)
        return 0 if node is None else len(node.jobs)

    # -- decisions ------------------------------------------------------------------

    def decide(self, now: float) -> list[Action]:
        """What to do now: releases, evictions (drains, requests, balance), placements."""
        self._now = now
        due = now - self._last_balance >= self.balance_interval
        if not (self._dirty or due):
            return []
        self._dirty = False
        actions: list[Action] = []
        for node_id in sorted(self._draining):
            node = self.nodes[node_id]
            if not node.jobs and not node.released:
                node.released = True
                actions.append(Release(node.node_id))
            for job_id in sorted(node.jobs, key=lambda j: (-node.jobs[j], self.jobs[j].seq)):
                job = self.jobs[job_id]
                if not job.leaving and job.node == node_id:
                    actions.append(self._evict(job, "drain", self._best_node(job, exclude=node),
                                               now))
        for job_id in sorted(self._wanted, key=lambda j: self.jobs[j].seq if j in self.jobs else -1):
            job = self.jobs.get(job_id)
            if job is None or job.wanted is None:
                self._wanted.discard(job_id)
                continue
            actions.extend(self._requested(job, now))
            if job.wanted is None:
                self._wanted.discard(job_id)
        actions.extend(self._admit())
        if due:
            self._last_balance = now
            actions.extend(self._balance(now))
        return actions

    def _requested(self, job: JobInfo, now: float) -> list[Action]:
        if job.node is None or job.leaving:
            return []           # not placed yet, or already on its way: try later
        wanted, job.wanted = job.wanted, None
        src = self.nodes[job.node]
        if wanted == "*":
            # the best other node; on a one-node cluster, a round trip through
            # the store back to the same node
            dest = self._best_node(job, exclude=src) or \
                (src.node_id if not src.draining else None)
        else:
            dest = wanted if wanted != src.node_id and self._takes(wanted, job) else None
            if wanted == src.node_id:
                return []
        if dest is None:
            job.wanted = wanted     # nowhere to go now
            return []
        return [self._evict(job, "request", dest, now)]

    def _admit(self) -> list[Action]:
        actions: list[Action] = []
        if not any(not n.draining for n in self.nodes.values()):
            return actions
        skipped = []
        # Within one pass nodes only fill up: once a job of some memory size
        # fits nowhere, no larger one does, and the pass ends when no smaller
        # one waits (not scanning every waiting job at every submit).
        too_big: Optional[int] = None
        while self._waiting:
            if too_big is not None and (not self._queued_memory
                                        or min(self._queued_memory) >= too_big):
                break
            _, _, job_id = heapq.heappop(self._waiting)
            if job_id not in self._queued:
                continue
            job = self.jobs[job_id]
            fits_nowhere = too_big is not None and job.memory >= too_big
            node_id = None if fits_nowhere else self._best_node(job)
            if node_id is None:
                skipped.append(job)
                too_big = job.memory if too_big is None else min(too_big, job.memory)
                continue
            self._dequeue(job)
            self._put(job, node_id)
            actions.append(Place(job_id, node_id, self.checkpoint_cycles))
        for job in skipped:
            heapq.heappush(self._waiting, (-job.priority, job.seq, job.job_id))
        return actions

    def _balance(self, now: float) -> list[Action]:
        actions: list[Action] = []
        live = [n for n in self.nodes.values() if not n.draining]
        if len(live) < 2:
            return actions
        for priority in sorted({p for n in live for p, c in n.tiers.items() if c}, reverse=True):
            # Heaps of donors (smallest share first) and receivers (largest
            # share with one more job first), with stale entries skipped:
            # each move changes two nodes, not the whole cluster.
            # A node that just got work is left to settle: a short urgent
            # job should not push its node's other jobs around.
            donors = [(n.share(priority), n.node_id) for n in live
                      if n.tiers[priority] and now - n.received >= self.settle]
            receivers = [(-n.share(priority, 1), n.node_id) for n in live]
            heapq.heapify(donors)
            heapq.heapify(receivers)
            while donors and len(actions) < self.max_moves:
                share, node_id = heapq.heappop(donors)
                worst = self.nodes[node_id]
                if share != worst.share(priority):
                    heapq.heappush(donors, (worst.share(priority), node_id))
                    continue
                job = self._movable(worst, priority, now)
                if job is None:
                    continue
                best, skipped = None, []
                while receivers:
                    gain, rid = receivers[0]
                    node = self.nodes[rid]
                    if -gain != node.share(priority, 1):
                        heapq.heapreplace(receivers, (-node.share(priority, 1), rid))
                        continue
                    if node is worst or not node.fits(job.memory):
                        skipped.append(heapq.heappop(receivers))
                        continue
                    best = node
                    break
                for entry in skipped:
                    heapq.heappush(receivers, entry)
                if best is None or best.share(priority, 1) < \
                        max(share, 1e-9) * self.balance_gain:
                    break       # the smallest share cannot gain enough anywhere
                actions.append(self._evict(job, "balance", best.node_id, now))
                heapq.heappush(donors, (worst.share(priority), node_id))
                heapq.heappush(receivers, (-best.share(priority, 1), best.node_id))
        return actions

    # -- helpers ----------------------------------------------------------------------

    def _movable(self, node: NodeInfo, priority: int, now: float) -> Optional[JobInfo]:
        """The job of ``priority`` on ``node`` cheapest to move: smallest, then latest."""
        best = None
        for job_id, p in node.jobs.items():
            job = self.jobs[job_id]
            if p != priority or job.leaving or now - job.moved_at < self.move_cooldown:
                continue
            if best is None or (job.memory, -job.seq) < (best.memory, -best.seq):
                best = job
        return best

    def _evict(self, job: JobInfo, reason: str, dest: Optional[str], now: float) -> Evict:
        job.leaving = True
        self.nodes[job.node].outgoing[job.priority] += 1
        job.dest = dest
        job.moved_at = now
        if dest is not None and dest != job.node:   # reserve the place, so later choices count it
            self._reserve(self.nodes[dest], job, +1)
        return Evict(job.job_id, job.node, reason, dest)

    def _best_node(self, job: JobInfo, exclude: Optional[NodeInfo] = None) -> Optional[str]:
        """The live node where ``job`` would get the largest share of slots."""
        if job.priority == self._min_priority and len(self.nodes) > 64:
            return self._least_loaded(job, exclude)
        best, key = None, None
        for node in self.nodes.values():
            if node.draining or node is exclude or not node.fits(job.memory):
                continue
            k = (node.share(job.priority, 1), -len(node.jobs), node.node_id)
            if key is None or k > key:
                best, key = node, k
        return None if best is None else best.node_id

    def _least_loaded(self, job: JobInfo, exclude: Optional[NodeInfo]) -> Optional[str]:
        """The node with the fewest jobs per slot, from a heap with stale entries."""
        skipped, found = [], None
        while self._by_load:
            load, node_id = self._by_load[0]
            node = self.nodes.get(node_id)
            if node is None or node.draining:
                heapq.heappop(self._by_load)
                continue
            if load != self._load(node):
                heapq.heapreplace(self._by_load, (self._load(node), node_id))
                continue
            if node is exclude or not node.fits(job.memory):
                skipped.append(heapq.heappop(self._by_load))
                continue
            found = node_id
            break
        for entry in skipped:
            heapq.heappush(self._by_load, entry)
        return found

    @staticmethod
    def _load(node: NodeInfo) -> float:
        return len(node.jobs) / node.slots

    def _takes(self, node_id: str, job: JobInfo) -> bool:
        node = self.nodes.get(node_id)
        return node is not None and not node.draining and node.fits(job.memory)

    def _reserve(self, node: NodeInfo, job: JobInfo, sign: int) -> None:
        node.used += sign * job.memory
        node.tiers[job.priority] += sign
        if sign > 0:
            node.jobs[job.job_id] = job.priority
        else:
            node.jobs.pop(job.job_id, None)
        if not node.draining:
            if len(self._by_load) > 4 * len(self.nodes) + 64:    # drop stale entries
                self._by_load = [(self._load(n), n.node_id) for n in self.nodes.values()
                                 if not n.draining]
                heapq.heapify(self._by_load)
            heapq.heappush(self._by_load, (self._load(node), node.node_id))

    def _put(self, job: JobInfo, node_id: str) -> None:
        node = self.nodes.get(node_id)
        if node is None or node.draining:
            raise ValueError(f"node {node_id!r} takes no work")
        if job.node is not None:
            raise ValueError(f"job {job.job_id!r} is already placed on {job.node!r}")
        if job.job_id not in node.jobs:
            self._reserve(node, job, +1)
        node.received = self._now
        job.node, job.leaving, job.dest = node_id, False, None
        self._dirty = True

    def _unplace(self, job: JobInfo) -> None:
        src = self.nodes.get(job.node) if job.node is not None else None
        if job.leaving and src is not None:
            src.outgoing[job.priority] -= 1
        for node_id in (job.node, job.dest):
            node = self.nodes.get(node_id) if node_id is not None else None
            if node is not None and job.job_id in node.jobs:
                self._reserve(node, job, -1)
        job.node, job.leaving, job.dest = None, False, None
        self._dirty = True

    def _enqueue(self, job: JobInfo) -> None:
        if job.job_id not in self._queued:
            self._queued.add(job.job_id)
            self._queued_memory[job.memory] += 1
        heapq.heappush(self._waiting, (-job.priority, job.seq, job.job_id))
        self._dirty = True

    def _dequeue(self, job: JobInfo) -> None:
        if job.job_id in self._queued:
            self._queued.discard(job.job_id)
            self._queued_memory[job.memory] -= 1
            if not self._queued_memory[job.memory]:
                del self._queued_memory[job.memory]
