"""Which job runs where next: the Ray executor's scheduling policy, with no Ray in it.

The executor owns *slots* (one host actor each, on some Ray node) and runs
jobs on them one fixed cycle slice at a time. Whenever a slot is free, or
something changes, it asks a :class:`Scheduler` what to do. The scheduler
only keeps books and answers; it never calls anything, so it can be unit
tested and simulated (:func:`simulate`) without a cluster.

The fairness rule, for a free slot (:meth:`Scheduler.next_for`):

1. A draining or busy slot gets nothing, and a job that is running is never
   chosen.
2. Higher priority first: only the waiting jobs of the highest waiting
   priority are considered.
3. Within that priority, round-robin: the job whose last slice started
   longest ago goes first (a job not run yet counts from its submission),
   then the one submitted first. Jobs thus take turns slice by slice, and
   a long job never starves a short one. For jobs submitted together on
   one slot this is exactly "fewest slices taken, then submission order";
   unlike counting slices it stays fair when jobs arrive late or meet on a
   new slot after a drain or a lost host: slots serve their jobs at
   different rates, so slice counts drift apart, and a job that got ahead
   would then wait for every other to catch up. A slice reported as not
   counting (a transfer, a failed call) gives the job its turn back.
4. Home affinity: the slot prefers the jobs it can run without a transfer,
   i.e. the jobs resident on it, and the jobs resident nowhere usable (not
   started yet, only a snapshot, or stranded on a draining slot), which
   need a load or transfer whichever slot takes them. Rule 3 orders them.
5. Only when no such job of that priority waits does the slot take a job
   resident on another slot (busy or idle); the :class:`Decision` then
   names the slot to migrate it from. Among those, a job whose home slot
   is busy goes first, since its home cannot run it now anyway; then rule 3.

With equal priorities, a waiting job is thus passed over at most once by
each other job before it runs again: it never waits more than (number of
jobs) slices' time between two of its slices, as long as some live slot
remains.

Every tie ends in the submission order or the ids, so the policy is
deterministic.

Beyond the per-slot choice, :meth:`Scheduler.rebalance` suggests moves (off
draining nodes; from overloaded nodes to empty idle slots elsewhere) and
:meth:`Scheduler.preempt_for` picks the running job to suspend for a
higher-priority one. Both only suggest: the books change when the executor
reports what it did.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Optional

__all__ = [
    "JobInfo", "SlotInfo", "Decision", "Move", "Scheduler",
    "SliceRun", "SimResult", "simulate",
]


@dataclass
class JobInfo:
    """What the policy knows about one job.

    ``home`` is the slot whose host holds the job's resident machine, or
    None if the job only exists as a snapshot or has not started. While the
    job runs, ``home`` is the slot running it. ``slices`` counts the slices
    it has finished. ``last_turn`` is the scheduler's clock when its
    current or last slice started (when it was submitted, before its first):
    the round-robin serves the lowest first. ``held`` marks a job whose
    machine is in transit without a slot (see :meth:`Scheduler.hold`); it
    counts as running, so no slot is given it meanwhile.
    """

    job_id: str
    priority: int = 0
    seq: int = 0
    home: Optional[str] = None
    running: bool = False
    slices: int = 0
    last_turn: int = 0
    held: bool = False


@dataclass
class SlotInfo:
    """What the policy knows about one slot (one host actor on ``node_id``)."""

    slot_id: str
    node_id: str
    busy: bool = False
    draining: bool = False


@dataclass(frozen=True)
class Decision:
    """Run ``job_id``'s next slice on ``slot_id``.

    ``migrate_from`` names the live slot holding the job's machine when it
    must be transferred first, and is None when the machine is already there
    or lives nowhere (start it or restore its snapshot).
    """

    job_id: str
    slot_id: str
    migrate_from: Optional[str]


@dataclass(frozen=True)
class Move:
    """A suggested transfer of a waiting job's machine from one slot to another."""

    job_id: str
    from_slot: str
    to_slot: str


class Scheduler:
    """The policy's books: the jobs waiting or running, and the slots they run on.

    ``jobs`` and ``slots`` are public for inspection; change them only
    through the methods, which keep them consistent. Unknown ids raise
    ``KeyError``; reports that contradict the books (starting a job that is
    running, or on a busy slot) raise ``ValueError``, since going on would
    let a slot run two jobs or a job run twice.
    """

    def __init__(self) -> None:
        self.jobs: dict[str, JobInfo] = {}
        self.slots: dict[str, SlotInfo] = {}
        # Kept per node, not per slot, so a slot added to a draining node
        # (a host restarted there) does not get work.
        self._draining_nodes: set[str] = set()
        self._seq = itertools.count()
        # One clock for submissions and slice starts, so "waited longest" is
        # a plain comparison; _prev_turn lets an uncounted slice undo its turn.
        self._clock = itertools.count()
        self._prev_turn: dict[str, int] = {}

    # -- jobs -----------------------------------------------------------------

    def add_job(self, job_id: str, priority: int = 0) -> JobInfo:
        """Queue a new job; it is waiting and has no home yet."""
        if job_id in self.jobs:
            raise ValueError(f"job {job_id!r} is already queued")
        job = JobInfo(job_id, priority, next(self._seq), last_turn=next(self._clock))
        self.jobs[job_id] = job
        return job

    def remove_job(self, job_id: str) -> None:
        """Forget a job that is done, failed or cancelled (unknown ids are ignored).

        If it was running, its slot stays busy until the executor reports
        :meth:`slice_finished`, since the host really is busy until then.
        """
        self.jobs.pop(job_id, None)
        self._prev_turn.pop(job_id, None)

    # -- slots ----------------------------------------------------------------

    def add_slot(self, slot_id: str, node_id: str) -> SlotInfo:
        """A new free slot on ``node_id`` (draining already if the node is)."""
        if slot_id in self.slots:
            raise ValueError(f"slot {slot_id!r} already exists")
        slot = SlotInfo(slot_id, node_id, draining=node_id in self._draining_nodes)
        self.slots[slot_id] = slot
        return slot

    def remove_slot(self, slot_id: str) -> list[str]:
        """Forget a slot (its host is gone) and return the jobs that lived there.

        Those jobs, in submission order, lose their home (None) and are no
        longer running, so the executor can restore them elsewhere from a
        snapshot. A slice that was running there is lost, so it does not
        cost its job a turn. Unknown slots return ``[]``.
        """
        if self.slots.pop(slot_id, None) is None:
            return []
        lost = sorted((j for j in self.jobs.values() if j.home == slot_id), key=lambda j: j.seq)
        for j in lost:
            if j.running and not j.held:
                j.last_turn = self._prev_turn.pop(j.job_id, j.last_turn)
            j.home, j.running, j.held = None, False, False
        return [j.job_id for j in lost]

    def set_draining(self, node_id: str, draining: bool = True) -> None:
        """Mark every slot of ``node_id`` as draining (no new work) or not."""
        if draining:
            self._draining_nodes.add(node_id)
        else:
            self._draining_nodes.discard(node_id)
        for s in self.slots.values():
            if s.node_id == node_id:
                s.draining = draining

    # -- what the executor reports ------------------------------------------------

    def slice_started(self, job_id: str, slot_id: str) -> None:
        """``job_id`` now runs on ``slot_id`` (its machine is, or is being put, there).

        The executor may also report a transfer this way, with
        ``slice_finished(..., counts=False)`` when it lands, to keep the job
        from being scheduled meanwhile.
        """
        job, slot = self.jobs[job_id], self.slots[slot_id]
        if job.running:
            raise ValueError(f"job {job_id!r} is already running on {job.home!r}")
        if slot.busy:
            raise ValueError(f"slot {slot_id!r} is busy")
        job.running, job.home = True, slot_id
        slot.busy = True
        self._prev_turn[job_id] = job.last_turn
        job.last_turn = next(self._clock)

    def slice_finished(self, job_id: str, slot_id: str, counts: bool = True) -> None:
        """The job's slice on ``slot_id`` ended; its machine stays resident there.

        ``counts=False`` reports a transfer or a failed call, which is not a
        slice the job made progress in: it neither counts in ``slices`` nor
        costs the job its place in the round-robin. A job removed meanwhile
        only frees the slot; a slot removed meanwhile leaves the job homeless.
        """
        slot = self.slots.get(slot_id)
        if slot is not None:
            slot.busy = False
        job = self.jobs.get(job_id)
        if job is not None:
            job.running = False
            job.home = slot_id if slot is not None else None
            prev = self._prev_turn.pop(job_id, None)
            if counts:
                job.slices += 1
            elif prev is not None:
                job.last_turn = prev

    def hold(self, job_id: str) -> None:
        """Keep a waiting job off every slot while its machine is in transit.

        The executor holds a job while it snapshots it off a draining slot
        into storage, which may take longer than a slice; :meth:`release`
        or :meth:`lose` ends the hold.
        """
        job = self.jobs[job_id]
        if job.running:
            raise ValueError(f"job {job_id!r} is running on {job.home!r}")
        job.running = job.held = True

    def release(self, job_id: str, home: Optional[str] = None) -> None:
        """End a hold: the machine now lives on ``home``, or only as a snapshot (None)."""
        job = self.jobs.get(job_id)
        if job is None:
            return
        if not job.held:
            raise ValueError(f"job {job_id!r} is not held")
        if home is not None and home not in self.slots:
            raise KeyError(home)
        job.running = job.held = False
        job.home = home

    def lose(self, job_id: str) -> None:
        """The job's machine is gone (its host died, or a transfer failed).

        The job waits with no home, to be restored from its last checkpoint.
        A slice it was running is lost: its slot is freed and the job keeps
        its place in the round-robin. Unknown ids are ignored.
        """
        job = self.jobs.get(job_id)
        if job is None:
            return
        if job.running and not job.held:
            slot = self.slots.get(job.home) if job.home is not None else None
            if slot is not None:
                slot.busy = False
            job.last_turn = self._prev_turn.pop(job_id, job.last_turn)
        job.home, job.running, job.held = None, False, False

    # -- decisions ------------------------------------------------------------------

    def next_for(self, slot_id: str) -> Optional[Decision]:
        """What the free slot ``slot_id`` should run next (see the module doc), or None."""
        slot = self.slots.get(slot_id)
        if slot is None or slot.busy or slot.draining:
            return None
        waiting = [j for j in self.jobs.values() if not j.running]
        if not waiting:
            return None
        top = max(j.priority for j in waiting)
        tier = [j for j in waiting if j.priority == top]
        near = [j for j in tier if j.home == slot_id or not self._housed(j)]
        if near:
            best = min(near, key=lambda j: (j.last_turn, j.seq))
        else:
            best = min(tier, key=lambda j: (not self.slots[j.home].busy, j.last_turn, j.seq))
        moving = best.home is not None and best.home != slot_id
        return Decision(best.job_id, slot_id, best.home if moving else None)

    def rebalance(self) -> list[Move]:
        """The load balancer's suggestions, in the order to carry them out.

        1. Every waiting job resident on a draining slot moves to the live
           slot with the fewest resident jobs (counting the moves already
           suggested; then free before busy; then slot id), higher priority
           first. Running jobs are left to finish their slice.
        2. Each idle live slot with no resident job takes one waiting job
           from another node whose waiting resident jobs outnumber its
           slots: the most overloaded node first, its lowest-priority and
           then latest-submitted job, and never so many that the node
           drops below one waiting job per slot.

        Nothing changes until the executor reports the moves it makes.
        """
        live = sorted((s for s in self.slots.values() if not s.draining), key=lambda s: s.slot_id)
        if not live:
            return []
        home = {j.job_id: j.home if j.home in self.slots else None for j in self.jobs.values()}
        residents = {s.slot_id: 0 for s in self.slots.values()}
        for h in home.values():
            if h is not None:
                residents[h] += 1
        moves: list[Move] = []

        def move(job: JobInfo, to: SlotInfo) -> None:
            src = home[job.job_id]
            assert src is not None
            moves.append(Move(job.job_id, src, to.slot_id))
            residents[src] -= 1
            residents[to.slot_id] += 1
            home[job.job_id] = to.slot_id

        stranded = [j for j in self.jobs.values()
                    if not j.running and home[j.job_id] is not None and not self._housed(j)]
        for job in sorted(stranded, key=lambda j: (-j.priority, j.seq)):
            move(job, min(live, key=lambda s: (residents[s.slot_id], s.busy, s.slot_id)))

        per_node: dict[str, int] = {}
        for s in live:
            per_node[s.node_id] = per_node.get(s.node_id, 0) + 1
        queued: dict[str, list[JobInfo]] = {n: [] for n in per_node}
        for j in self.jobs.values():
            h = home[j.job_id]
            if not j.running and h is not None and not self.slots[h].draining:
                queued[self.slots[h].node_id].append(j)
        excess = {n: len(queued[n]) - per_node[n] for n in per_node}
        for slot in [s for s in live if not s.busy and residents[s.slot_id] == 0]:
            donors = [n for n, e in excess.items() if e > 0 and n != slot.node_id]
            if not donors:
                continue
            node = min(donors, key=lambda n: (-excess[n], n))
            job = min(queued[node], key=lambda j: (j.priority, -j.seq))
            queued[node].remove(job)
            excess[node] -= 1
            move(job, slot)
        return moves

    def preempt_for(self, job_id: str) -> Optional[str]:
        """The running job to suspend so that the waiting ``job_id`` gets a slot, or None.

        Only when every live (non-draining) slot is busy: the victim is the
        running job on a live slot with the lowest priority strictly below
        ``job_id``'s; ties go to the one with most slices taken, then the
        latest submitted. None if ``job_id`` runs already or nothing is below it.
        """
        job = self.jobs[job_id]
        if job.running:
            return None
        live = [s for s in self.slots.values() if not s.draining]
        if any(not s.busy for s in live):
            return None
        live_ids = {s.slot_id for s in live}
        victims = [j for j in self.jobs.values()
                   if j.running and j.home in live_ids and j.priority < job.priority]
        if not victims:
            return None
        return min(victims, key=lambda j: (j.priority, -j.slices, -j.seq)).job_id

    # -- helpers --------------------------------------------------------------------

    def _housed(self, job: JobInfo) -> bool:
        """Whether the job's machine lives on a live slot (which it should run on)."""
        slot = self.slots.get(job.home) if job.home is not None else None
        return slot is not None and not slot.draining


# -- a discrete-event simulation ----------------------------------------------------


class SliceRun(NamedTuple):
    """One slice in a simulation: started at ``tick`` on ``slot_id``."""

    tick: int
    slot_id: str
    job_id: str
    migrate_from: Optional[str]


@dataclass
class SimResult:
    """What :func:`simulate` saw.

    ``order`` lists the slices in the order they started (by tick, then by
    slot in the order the slots were given); ``completion`` maps each job
    to the tick its last slice ended (a slice started at tick ``t`` ends at
    ``t + 1``); ``moves`` lists the rebalance moves applied; ``ticks`` is
    how long the whole run took.
    """

    order: list[SliceRun]
    completion: dict[str, int]
    moves: list[Move]
    ticks: int

    @property
    def jobs(self) -> list[str]:
        """The job ids of ``order``, in order."""
        return [r.job_id for r in self.order]

    @property
    def migrations(self) -> list[SliceRun]:
        """The slices that needed a transfer first."""
        return [r for r in self.order if r.migrate_from is not None]


def simulate(jobs: list[tuple[str, int, int]], slots: list[tuple[str, str]], *,
             arrivals: Optional[Mapping[str, int]] = None, rebalance: bool = False,
             on_tick: Optional[Callable[[int, Scheduler], None]] = None,
             max_ticks: int = 100_000) -> SimResult:
    """Drive a :class:`Scheduler` as the executor would, one tick per slice.

    ``jobs`` are ``(job_id, priority, slices needed)``, submitted in that
    order at tick 0 or at ``arrivals[job_id]``; ``slots`` are
    ``(slot_id, node_id)``. At each tick: the due jobs are submitted, then
    ``on_tick(tick, scheduler)`` runs (to drain nodes, add or remove slots),
    then, with ``rebalance``, the suggested moves are applied (instantly),
    then every free slot asks :meth:`Scheduler.next_for` in order and runs
    what it is given. All slices end together at the end of the tick.

    Raises RuntimeError if the jobs are not all done after ``max_ticks``.
    """
    arrivals = dict(arrivals or {})
    need: dict[str, int] = {}
    pending: list[tuple[int, int, str, int]] = []
    for i, (job_id, priority, slices) in enumerate(jobs):
        if slices < 1:
            raise ValueError(f"job {job_id!r} needs at least one slice, got {slices}")
        if job_id in need:
            raise ValueError(f"job {job_id!r} is given twice")
        need[job_id] = slices
        pending.append((arrivals.get(job_id, 0), i, job_id, priority))
    pending.sort(reverse=True)      # pop() from the end gives the earliest

    sched = Scheduler()
    for slot_id, node_id in slots:
        sched.add_slot(slot_id, node_id)
    result = SimResult([], {}, [], 0)
    tick = 0
    while need:
        if tick >= max_ticks:
            raise RuntimeError(f"{len(need)} jobs not done after {max_ticks} ticks: "
                               f"{sorted(need)[:5]}")
        while pending and pending[-1][0] <= tick:
            _, _, job_id, priority = pending.pop()
            sched.add_job(job_id, priority)
        if on_tick is not None:
            on_tick(tick, sched)
        if rebalance:
            for mv in sched.rebalance():
                # The executor's own idiom for a transfer: occupy, then land.
                sched.slice_started(mv.job_id, mv.to_slot)
                sched.slice_finished(mv.job_id, mv.to_slot, counts=False)
                result.moves.append(mv)
        started: list[SliceRun] = []
        for slot_id in list(sched.slots):
            d = sched.next_for(slot_id)
            if d is not None:
                sched.slice_started(d.job_id, slot_id)
                started.append(SliceRun(tick, slot_id, d.job_id, d.migrate_from))
        result.order.extend(started)
        tick += 1
        for run in started:
            sched.slice_finished(run.job_id, run.slot_id)
            need[run.job_id] -= 1
            if need[run.job_id] == 0:
                del need[run.job_id]
                sched.remove_job(run.job_id)
                result.completion[run.job_id] = tick
    result.ticks = tick
    return result
