"""The executor's scheduling policy on its own: decisions and simulations, no Ray."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rvdist.policy import Decision, Move, Scheduler, SimResult, SliceRun, simulate


Workload = tuple[list[tuple[str, int, int]], list[tuple[str, str]], dict[str, int], str, int, bool]


def sched(slots: Iterable[tuple[str, str]] = (("s0", "n0"), ("s1", "n1")),
          jobs: Iterable[str] = ()) -> Scheduler:
    s = Scheduler()
    for slot, node in slots:
        s.add_slot(slot, node)
    for job in jobs:
        s.add_job(job)
    return s


def run(s: Scheduler, job: str, slot: str) -> None:
    """One whole slice of ``job`` on ``slot``, as the executor reports it."""
    s.slice_started(job, slot)
    s.slice_finished(job, slot)


def run_next(s: Scheduler, slot: str) -> Decision | None:
    d = s.next_for(slot)
    if d is not None:
        run(s, d.job_id, slot)
    return d


def gaps(res: SimResult, arrivals: dict[str, int] | None = None) -> dict[str, int]:
    """Per job, the longest time from its arrival or last slice to its next slice."""
    arrivals = arrivals or {}
    last: dict[str, int] = {}
    worst: dict[str, int] = defaultdict(int)
    for r in res.order:
        prev = last.get(r.job_id, arrivals.get(r.job_id, 0) - 1)
        worst[r.job_id] = max(worst[r.job_id], r.tick - prev)
        last[r.job_id] = r.tick
    return dict(worst)


# -- order ----------------------------------------------------------------------


def test_round_robin_within_a_priority() -> None:
    res = simulate([("a", 0, 3), ("b", 0, 3), ("c", 0, 3)], [("s0", "n0")])
    assert "".join(res.jobs) == "abcabcabc"
    assert res.completion == {"a": 7, "b": 8, "c": 9}


def test_round_robin_skips_finished_jobs_and_keeps_turns() -> None:
    res = simulate([("a", 0, 1), ("b", 0, 3), ("c", 0, 2)], [("s0", "n0")])
    assert "".join(res.jobs) == "abcbcb"


def test_higher_priority_first() -> None:
    res = simulate([("low", 0, 2), ("mid", 1, 2), ("high", 5, 2)], [("s0", "n0")])
    assert res.jobs == ["high", "high", "mid", "mid", "low", "low"]
    s = sched([("s0", "n0")])
    s.add_job("low", priority=0)
    s.add_job("high", priority=5)
    assert [run_next(s, "s0").job_id for _ in range(3)] == ["high"] * 3
    s.remove_job("high")                # a waiting job removed: the slot goes to the next tier
    assert run_next(s, "s0") == Decision("low", "s0", None)


def test_higher_priority_first_on_every_slot() -> None:
    res = simulate([("l0", 0, 2), ("l1", 0, 2), ("h0", 3, 2), ("h1", 3, 2)],
                   [("s0", "n0"), ("s1", "n1")])
    assert {r.job_id for r in res.order if r.tick < 2} == {"h0", "h1"}
    assert {r.job_id for r in res.order if r.tick >= 2} == {"l0", "l1"}


def test_a_late_high_priority_job_overtakes_waiting_ones() -> None:
    res = simulate([("a", 0, 4), ("b", 0, 4), ("vip", 9, 2)], [("s0", "n0")],
                   arrivals={"vip": 2})
    assert res.jobs[:4] == ["a", "b", "vip", "vip"]


def test_short_job_finishes_early_among_long_ones() -> None:
    res = simulate([("long0", 0, 50), ("long1", 0, 50), ("short", 0, 2)], [("s0", "n0")])
    assert res.completion["short"] == 6
    assert max(gaps(res).values()) <= 3


def test_a_late_job_joins_the_round_instead_of_taking_every_slice() -> None:
    res = simulate([("old", 0, 20), ("new", 0, 3)], [("s0", "n0")], arrivals={"new": 10})
    # the old job last ran before the new one arrived, so it goes first
    assert "".join(j[0] for j in res.jobs[10:17]) == "ononono"
    assert res.completion["new"] == 16
    # nor does the old job have to wait while the new one "catches up"
    assert gaps(res, {"new": 10})["old"] <= 2


def test_jobs_meeting_on_a_slot_after_a_drain_take_turns() -> None:
    # s1 serves one job and s0 two, so their slice counts drift apart;
    # after the drain all three share s1 without anyone waiting to catch up.
    def drain(tick: int, s: Scheduler) -> None:
        if tick == 7:
            s.set_draining("n0")

    res = simulate([("j0", 0, 13), ("j1", 0, 11), ("j2", 0, 12)],
                   [("s0", "n0"), ("s1", "n1")], on_tick=drain)
    assert max(gaps(res).values()) <= 3
    assert all(r.slot_id == "s1" for r in res.order if r.tick >= 7)


# -- affinity and migration --------------------------------------------------------


def test_each_slot_keeps_its_resident_job() -> None:
    s = sched(jobs="ab")
    assert run_next(s, "s0") == Decision("a", "s0", None)
    assert run_next(s, "s1") == Decision("b", "s1", None)
    run(s, "a", "s0")                   # a is now a slice ahead of b
    # b waits for a slice, but s0 has its own job waiting: no migration
    assert s.next_for("s0") == Decision("a", "s0", None)
    assert s.next_for("s1") == Decision("b", "s1", None)


def test_home_affinity_and_migration_decisions() -> None:
    s = sched(jobs="ab")
    assert run_next(s, "s0") == Decision("a", "s0", None)
    assert run_next(s, "s1") == Decision("b", "s1", None)
    run(s, "a", "s0")                   # a is a slice ahead: s0 still keeps it, not b
    assert s.next_for("s0") == Decision("a", "s0", None)
    s.remove_job("a")
    s.slice_started("b", "s1")
    assert s.next_for("s0") is None     # nothing of its own, and b runs on s1
    s.slice_finished("b", "s1")
    # with nothing of its own, s0 takes b from s1 (rule 5: busy or idle) and names the
    # source; b's own slot would run it without a move
    assert s.next_for("s0") == Decision("b", "s0", "s1")
    assert s.next_for("s1") == Decision("b", "s1", None)
    s.slice_started("b", "s0")          # the executor moved it: s0 is its home now
    s.slice_finished("b", "s0")
    assert s.jobs["b"].home == "s0"
    assert s.next_for("s0") == Decision("b", "s0", None)
    assert s.next_for("s1") == Decision("b", "s1", "s0")


def test_no_migrations_while_every_slot_has_resident_work() -> None:
    res = simulate([(f"j{i}", 0, 6) for i in range(4)], [("s0", "n0"), ("s1", "n1")])
    assert res.migrations == []
    # with an odd job out, s1 runs dry first and only then takes from s0
    res = simulate([(f"j{i}", 0, 6) for i in range(5)], [("s0", "n0"), ("s1", "n1")])
    own = {r.job_id for r in res.order if r.slot_id == "s1" and r.tick < 2}
    dry = max(res.completion[j] for j in own)
    assert res.migrations and all(m.tick >= dry and m.slot_id == "s1" for m in res.migrations)


def test_a_new_job_is_not_starved_by_a_resident_one() -> None:
    s = sched([("s0", "n0")], jobs="a")
    for _ in range(3):
        run_next(s, "s0")
    s.add_job("b")
    assert [run_next(s, "s0").job_id for _ in range(4)] == ["a", "b", "a", "b"]


def test_an_idle_slot_takes_work_from_a_backlog_and_says_so() -> None:
    s = sched([("s0", "n0")], jobs="abc")
    for _ in range(3):
        run_next(s, "s0")
    s.add_slot("s1", "n1")
    s.slice_started("a", "s0")
    # b waited longest among the jobs s0 is not running
    assert s.next_for("s1") == Decision("b", "s1", "s0")


def test_a_slot_prefers_backlog_whose_home_is_busy() -> None:
    s = sched([("s0", "n0"), ("s1", "n0")], jobs="abcd")
    for j, slot in (("a", "s0"), ("b", "s0"), ("c", "s1"), ("d", "s1")):
        run(s, j, slot)
    s.add_slot("s2", "n1")
    s.slice_started("c", "s1")
    # a waited longest, but s0 is free to run it; s1 is busy, so take d
    assert s.next_for("s2") == Decision("d", "s2", "s1")


def test_a_slot_with_a_resident_job_does_not_take_others() -> None:
    s = sched(jobs="abc")
    run(s, "a", "s0")
    run(s, "b", "s0")
    run(s, "c", "s1")
    run(s, "c", "s1")                   # c is well ahead of a and b
    assert s.next_for("s1") == Decision("c", "s1", None)


def test_migrations_when_a_slot_joins_a_busy_cluster() -> None:
    def grow(tick: int, s: Scheduler) -> None:
        if tick == 3:
            s.add_slot("s1", "n1")

    res = simulate([("a", 0, 10), ("b", 0, 10), ("c", 0, 10)], [("s0", "n0")], on_tick=grow)
    first = res.migrations[0]
    assert (first.tick, first.slot_id, first.job_id, first.migrate_from) == (3, "s1", "b", "s0")
    assert res.ticks <= 18                 # 30 slices: 3 on one slot, then two share the rest
    assert {r.slot_id for r in res.order if r.tick > 3} == {"s0", "s1"}


def test_running_jobs_are_never_chosen_and_busy_slots_get_nothing() -> None:
    s = sched(jobs="a")
    s.slice_started("a", "s0")
    assert s.next_for("s0") is None and s.next_for("s1") is None
    assert s.next_for("nope") is None


# -- draining and lost slots ---------------------------------------------------------


def test_draining_slots_get_no_work() -> None:
    s = sched(jobs="a")
    s.set_draining("n0")
    assert s.next_for("s0") is None
    assert s.next_for("s1") == Decision("a", "s1", None)
    s.add_slot("s2", "n0")              # a host restarted on the draining node
    assert s.slots["s2"].draining and s.next_for("s2") is None
    s.set_draining("n0", False)
    assert s.next_for("s0") == Decision("a", "s0", None)


def test_a_job_stranded_on_a_draining_slot_is_taken_elsewhere() -> None:
    s = sched(jobs="ab")
    run(s, "a", "s0")
    run(s, "b", "s1")
    s.set_draining("n0")
    # a counts as this slot's own work now, so b does not shut it out forever
    assert s.next_for("s1") == Decision("a", "s1", "s0")


def test_rebalance_moves_jobs_off_draining_slots() -> None:
    s = sched([("s0", "n0"), ("s1", "n0"), ("s2", "n1"), ("s3", "n2")], jobs="abcd")
    run(s, "a", "s0")
    run(s, "b", "s1")
    run(s, "c", "s0")
    run(s, "d", "s2")
    s.slice_started("b", "s1")          # running: left alone until its slice ends
    s.set_draining("n0")
    moves = s.rebalance()
    assert moves == [Move("a", "s0", "s3"), Move("c", "s0", "s2")]
    assert s.rebalance() == moves       # only suggestions: nothing changed
    s.slice_finished("b", "s1")
    assert s.rebalance() == [Move("a", "s0", "s3"), Move("b", "s1", "s2"), Move("c", "s0", "s3")]


def test_rebalance_spreads_a_backlog_to_idle_slots_on_other_nodes() -> None:
    s = Scheduler()
    for slot, node in (("s0", "n0"), ("s1", "n0"), ("s2", "n1"), ("s3", "n1"), ("s4", "n2")):
        s.add_slot(slot, node)
    for job, prio in (("a", 1), ("b", 0), ("c", 0), ("d", 2), ("e", 0)):
        s.add_job(job, priority=prio)
    for job in "abcde":
        run(s, job, "s0")               # five waiting jobs on n0, which has two slots
    # s1 is idle but on the same node: next_for covers it. Three slots elsewhere,
    # but only three jobs beyond n0's two slots: lowest priority, latest first.
    assert s.rebalance() == [Move("e", "s0", "s2"), Move("c", "s0", "s3"),
                             Move("b", "s0", "s4")]


def test_rebalance_leaves_running_jobs_and_balanced_nodes_alone() -> None:
    s = sched([("s0", "n0"), ("s1", "n1")], jobs="ab")
    run(s, "a", "s0")
    run(s, "b", "s0")
    s.slice_started("a", "s0")
    assert s.rebalance() == []          # one waiting job for one slot
    assert sched(jobs="ab").rebalance() == []


def test_rebalance_with_every_slot_draining_suggests_nothing() -> None:
    s = sched(jobs="a")
    run(s, "a", "s0")
    s.set_draining("n0")
    s.set_draining("n1")
    assert s.rebalance() == []


def test_simulated_drain_with_rebalance_moves_work_off_the_node() -> None:
    def drain(tick: int, s: Scheduler) -> None:
        if tick == 4:
            s.set_draining("n0")

    res = simulate([(f"j{i}", 0, 8) for i in range(4)],
                   [("s0", "n0"), ("s1", "n0"), ("s2", "n1"), ("s3", "n1")],
                   rebalance=True, on_tick=drain)
    assert not [r for r in res.order if r.tick >= 4 and r.slot_id in ("s0", "s1")]
    assert sorted(m.job_id for m in res.moves) == ["j0", "j1"]
    assert res.migrations == []           # the moves happened ahead of the slices


def test_removing_a_slot_returns_its_jobs() -> None:
    s = sched(jobs="abc")
    run(s, "a", "s1")
    run(s, "b", "s0")
    run(s, "c", "s1")
    s.slice_started("c", "s1")
    assert s.remove_slot("s1") == ["a", "c"]
    assert s.jobs["a"].home is None and s.jobs["c"].home is None
    assert not s.jobs["c"].running
    assert s.remove_slot("s1") == []
    # the host's late report does not bring the slot or the home back
    s.slice_finished("c", "s1", counts=False)
    assert "s1" not in s.slots and s.jobs["c"].home is None and s.jobs["c"].slices == 1
    # they are restored elsewhere, with no live slot to migrate from
    assert s.next_for("s0") == Decision("a", "s0", None)


def test_simulated_host_loss_finishes_every_job() -> None:
    def lose(tick: int, s: Scheduler) -> None:
        if tick == 5:
            s.remove_slot("s1")

    res = simulate([(f"j{i}", 0, 6) for i in range(3)], [("s0", "n0"), ("s1", "n1")],
                   on_tick=lose)
    assert set(res.completion) == {"j0", "j1", "j2"}
    assert max(gaps(res).values()) <= 3


# -- bookkeeping ------------------------------------------------------------------------


def test_reports_that_contradict_the_books_raise() -> None:
    s = sched(jobs="ab")
    s.slice_started("a", "s0")
    with pytest.raises(ValueError):
        s.slice_started("a", "s1")     # a job on two slots
    with pytest.raises(ValueError):
        s.slice_started("b", "s0")     # a slot running two jobs
    with pytest.raises(KeyError):
        s.slice_started("zz", "s1")
    with pytest.raises(ValueError):
        s.add_job("a")
    with pytest.raises(ValueError):
        s.add_slot("s0", "n9")


def test_an_uncounted_slice_keeps_the_jobs_turn() -> None:
    s = sched([("s0", "n0"), ("s1", "n1")], jobs="abc")
    for job in "abc":
        run(s, job, "s0")
    s.slice_started("a", "s0")          # a call that failed: no progress
    s.slice_finished("a", "s0", counts=False)
    assert s.jobs["a"].slices == 1
    assert s.next_for("s0") == Decision("a", "s0", None)
    for to in ("s1", "s0"):             # b moved away and back: transfers
        s.slice_started("b", to)
        s.slice_finished("b", to, counts=False)
    assert s.jobs["b"].home == "s0" and s.jobs["b"].slices == 1
    assert [run_next(s, "s0").job_id for _ in range(3)] == ["a", "b", "c"]


def test_removing_a_running_job_frees_its_slot_only_when_it_reports() -> None:
    s = sched(jobs="ab")
    s.slice_started("a", "s0")
    s.remove_job("a")
    s.remove_job("a")                   # twice is fine
    assert s.next_for("s0") is None
    s.slice_finished("a", "s0")
    assert s.next_for("s0") == Decision("b", "s0", None) and "a" not in s.jobs


# -- preemption ----------------------------------------------------------------------------


def test_a_held_job_gets_no_slot_until_released() -> None:
    s = sched(jobs=["a", "b"])
    run(s, "a", "s0")
    s.set_draining("n0")
    s.hold("a")                             # being snapshotted off the draining slot
    assert s.next_for("s1") == Decision("b", "s1", None)
    with pytest.raises(ValueError):
        s.hold("a")
    s.release("a", None)
    assert s.jobs["a"].home is None and not s.jobs["a"].running
    with pytest.raises(ValueError):
        s.release("a")
    run(s, "b", "s1")
    assert s.next_for("s1") == Decision("a", "s1", None)


def test_a_lost_job_frees_its_slot_keeps_its_turn_and_has_no_home() -> None:
    s = sched(jobs=["a", "b"])
    run(s, "a", "s0")
    run(s, "b", "s0")
    s.slice_started("a", "s0")
    s.lose("a")
    assert not s.slots["s0"].busy
    assert s.jobs["a"].home is None and not s.jobs["a"].running and s.jobs["a"].slices == 1
    assert s.next_for("s0").job_id == "a"       # its lost slice did not cost it its turn
    s.lose("unknown")


def test_preempt_for_picks_the_lowest_priority_running_job() -> None:
    s = sched([("s0", "n0"), ("s1", "n1"), ("s2", "n2")])
    for job, prio in (("x", 1), ("y", 0), ("z", 2), ("urgent", 5)):
        s.add_job(job, priority=prio)
    for job, slot in (("x", "s0"), ("y", "s1"), ("z", "s2")):
        s.slice_started(job, slot)
    assert s.preempt_for("urgent") == "y"
    assert s.preempt_for("z") is None           # z is running
    s.add_job("two", priority=2)
    assert s.preempt_for("two") == "y"          # strictly below 2: x or y
    s.add_job("one", priority=1)
    assert s.preempt_for("one") == "y"
    s.add_job("zero", priority=0)
    assert s.preempt_for("zero") is None        # nothing strictly below 0
    s.slice_finished("y", "s1")
    assert s.preempt_for("urgent") is None      # a slot is free now


def test_preempt_for_ties_go_to_most_slices_then_latest() -> None:
    def busy_cluster(extra_slices_for: str | None) -> Scheduler:
        s = sched([("s0", "n0"), ("s1", "n0"), ("s2", "n1")], jobs="abc")
        s.add_job("vip", priority=1)
        if extra_slices_for:
            run(s, extra_slices_for, "s1")
        for job, slot in (("a", "s0"), ("b", "s1"), ("c", "s2")):
            s.slice_started(job, slot)
        return s

    assert busy_cluster("b").preempt_for("vip") == "b"    # most slices
    assert busy_cluster(None).preempt_for("vip") == "c"   # all level: the latest submitted


def test_preempt_for_ignores_draining_slots() -> None:
    s = sched([("s0", "n0"), ("s1", "n1")])
    s.add_job("low", priority=0)
    s.add_job("other", priority=0)
    s.add_job("vip", priority=3)
    s.slice_started("low", "s0")
    s.set_draining("n1")                # s1 is free but takes no work
    assert s.preempt_for("vip") == "low"
    s.slice_started("other", "s1")
    s.set_draining("n0")
    s.set_draining("n1", False)
    # only s1 is live; its job is the victim, not the one on draining s0
    assert s.preempt_for("vip") == "other"


# -- properties ------------------------------------------------------------------------------


@st.composite
def workloads(draw: st.DrawFn, equal_priorities: bool) -> Workload:
    """Jobs, slots over 1-3 nodes, late arrivals, one disturbance, rebalancing or not."""
    n = draw(st.integers(1, 8))
    prios = [0] * n if equal_priorities else draw(st.lists(st.integers(0, 2), min_size=n,
                                                           max_size=n))
    jobs = [(f"j{i}", prios[i], draw(st.integers(1, 8))) for i in range(n)]
    nnodes = draw(st.integers(1, 3))
    slots = [(f"s{i}", f"n{i % nnodes}") for i in range(draw(st.integers(1, 4)))]
    arrivals = {j: draw(st.integers(0, 6)) for j, _, _ in jobs if draw(st.booleans())}
    # A disturbance at some tick: drain n0 or lose s0, keeping a live slot somewhere.
    event = draw(st.sampled_from(["none", "drain", "lose"]) if len(slots) > 1 and nnodes > 1
                 else st.just("none"))
    at = draw(st.integers(0, 8))
    rebalance = draw(st.booleans())
    return jobs, slots, arrivals, event, at, rebalance


def run_workload(jobs: list[tuple[str, int, int]], slots: list[tuple[str, str]],
                 arrivals: dict[str, int], event: str, at: int, rebalance: bool) -> SimResult:
    """Simulate a workload and check what must hold for any workload."""
    def disturb(tick: int, s: Scheduler) -> None:
        if tick == at and event == "drain":
            s.set_draining("n0")
        elif tick == at and event == "lose":
            s.remove_slot("s0")

    res = simulate(jobs, slots, arrivals=arrivals, rebalance=rebalance, on_tick=disturb,
                   max_ticks=1000)
    per_tick: dict[int, list[SliceRun]] = defaultdict(list)
    for r in res.order:
        per_tick[r.tick].append(r)
    for runs in per_tick.values():
        assert len({r.slot_id for r in runs}) == len(runs), "a slot ran two jobs at once"
        assert len({r.job_id for r in runs}) == len(runs), "a job ran on two slots at once"
    need = {j: n for j, _, n in jobs}
    assert set(res.completion) == set(need), "a job never finished"
    done: dict[str, int] = defaultdict(int)
    for r in res.order:
        done[r.job_id] += 1
        assert r.tick >= arrivals.get(r.job_id, 0)
    assert done == need
    return res


@settings(max_examples=150, deadline=None)
@given(workloads(equal_priorities=False))
def test_every_job_finishes_and_nothing_runs_twice(w: Workload) -> None:
    jobs, slots, arrivals, event, at, rebalance = w
    res = run_workload(*w)
    if event == "none":
        # work-conserving: no slot idles while a job waits
        prio = {j: p for j, p, _ in jobs}
        for tick in range(res.ticks):
            present = [j for j in prio if arrivals.get(j, 0) <= tick < res.completion[j]]
            ran = [r for r in res.order if r.tick == tick]
            assert len(ran) == min(len(slots), len(present))
            # and never a lower priority while a higher one waits
            if len(present) > len(slots):
                waiting = set(present) - {r.job_id for r in ran}
                assert min(prio[r.job_id] for r in ran) >= max(prio[j] for j in waiting)


@settings(max_examples=150, deadline=None)
@given(workloads(equal_priorities=True))
def test_equal_jobs_never_wait_more_than_a_round(w: Workload) -> None:
    jobs, _, arrivals, _, _, _ = w
    res = run_workload(*w)
    assert max(gaps(res, arrivals).values()) <= len(jobs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6)), min_size=1, max_size=8),
       st.integers(1, 3))
def test_jobs_of_the_top_waiting_priority_never_wait_more_than_a_round(jobs, nslots) -> None:
    """With mixed priorities, a job never waits more than (number of jobs) slices'
    time while it is of the highest priority still waiting."""
    res = run_workload([(f"j{i}", prio, n) for i, (prio, n) in enumerate(jobs)],
                       [(f"s{i}", f"n{i % 2}") for i in range(nslots)], {}, "none", 0, False)
    prio = {f"j{i}": p for i, (p, _) in enumerate(jobs)}
    since = {j: -1 for j in prio}           # its last slice, or when a higher priority last waited
    for tick in range(res.ticks):
        present = [j for j in prio if tick < res.completion[j]]
        top = max(prio[j] for j in present)
        for j in present:
            if prio[j] < top:
                since[j] = tick
        for r in (r for r in res.order if r.tick == tick):
            assert tick - since[r.job_id] <= len(jobs), f"{r.job_id} waited {tick - since[r.job_id]}"
            since[r.job_id] = tick


def test_simulate_rejects_bad_workloads() -> None:
    with pytest.raises(ValueError):
        simulate([("a", 0, 0)], [("s0", "n0")])
    with pytest.raises(ValueError):
        simulate([("a", 0, 1), ("a", 0, 1)], [("s0", "n0")])
    with pytest.raises(RuntimeError):
        simulate([("a", 0, 1)], [("s0", "n0")], on_tick=lambda t, s: s.set_draining("n0"),
                 max_ticks=50)
