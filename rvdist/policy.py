"""Which job runs where next: the executor's scheduling policy, with no Ray in it.

The rule, for a free slot:

1. Draining slots get no work.
2. Higher priority first.
3. Within a priority, the job that has taken the fewest slices goes first,
   then the one submitted first. Jobs take turns slice by slice, so a long
   job never starves a short one.
4. Among equals, a job already resident on this slot wins, since it needs no
   transfer. A job resident on another slot moves here only if nothing of
   the same standing waits here. The decision then says it must migrate.

A running job is never chosen twice. Everything is deterministic: ties are
broken by submission order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional


@dataclass
class JobInfo:
    """What the policy knows about a job."""

    job_id: str
    priority: int
    seq: int
    home: Optional[str] = None      # slot holding its resident machine
    running: bool = False
    slices: int = 0


@dataclass
class SlotInfo:
    """What the policy knows about a slot (one host actor)."""

    slot_id: str
    node_id: str
    busy: bool = False
    draining: bool = False


@dataclass(frozen=True)
class Decision:
    """Run ``job_id`` on ``slot_id``; ``migrate_from`` names its current slot if it must move."""

    job_id: str
    slot_id: str
    migrate_from: Optional[str]


class Scheduler:
    """The policy state: jobs waiting or running, and the slots they run on."""

    def __init__(self) -> None:
        self.jobs: dict[str, JobInfo] = {}
        self.slots: dict[str, SlotInfo] = {}
        self._seq = itertools.count()

    def add_job(self, job_id: str, priority: int = 0) -> None:
        self.jobs[job_id] = JobInfo(job_id, priority, next(self._seq))

    def remove_job(self, job_id: str) -> None:
        """The job is done, failed or cancelled."""
        self.jobs.pop(job_id, None)

    def add_slot(self, slot_id: str, node_id: str) -> None:
        self.slots[slot_id] = SlotInfo(slot_id, node_id)

    def remove_slot(self, slot_id: str) -> list[str]:
        """Forget a slot; returns the jobs whose machines lived there (now homeless)."""
        self.slots.pop(slot_id, None)
        lost = []
        for j in self.jobs.values():
            if j.home == slot_id:
                j.home, j.running = None, False
                lost.append(j.job_id)
        return lost

    def set_draining(self, node_id: str, draining: bool = True) -> None:
        for s in self.slots.values():
            if s.node_id == node_id:
                s.draining = draining

    def slice_started(self, job_id: str, slot_id: str) -> None:
        self.jobs[job_id].running = True
        self.slots[slot_id].busy = True

    def slice_finished(self, job_id: str, slot_id: str, counts: bool = True) -> None:
        """The job's slice (or move, with ``counts=False``) on ``slot_id`` ended; it is resident there."""
        if slot_id in self.slots:
            self.slots[slot_id].busy = False
        job = self.jobs.get(job_id)
        if job is not None:
            job.running = False
            job.home = slot_id
            job.slices += counts

    def next_for(self, slot_id: str) -> Optional[Decision]:
        """What the free slot ``slot_id`` should run next, or None."""
        slot = self.slots.get(slot_id)
        if slot is None or slot.busy or slot.draining:
            return None
        waiting = [j for j in self.jobs.values() if not j.running]
        if not waiting:
            return None
        best = min(waiting, key=lambda j: (-j.priority, j.slices, j.home != slot_id, j.seq))
        return Decision(best.job_id, slot_id,
                        best.home if best.home not in (None, slot_id) else None)

    def preempt_for(self, job_id: str) -> Optional[str]:
        """A running job of lower priority to suspend so that ``job_id`` gets a slot, or None."""
        job = self.jobs[job_id]
        if any(not s.busy and not s.draining for s in self.slots.values()):
            return None
        victims = [j for j in self.jobs.values() if j.running and j.priority < job.priority]
        if not victims:
            return None
        return min(victims, key=lambda j: (j.priority, -j.slices, -j.seq)).job_id
