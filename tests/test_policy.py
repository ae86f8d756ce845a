"""The control plane without Ray: the placement policy, node agents run in
this process, and the real controller against simulated nodes with
hypothesis-generated churn."""

from __future__ import annotations

import contextlib
import pickle
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rvdist
from rvdist.cluster.agent import NodeAgent
from rvdist.cluster.control import Controller
from rvdist.cluster.jobs import Job, JobSpec, JobState
from rvdist.cluster.policy import Evict, Place, Placement, Release
from rvdist.cluster.sim import SimCluster, SimJob, run
from rvdist.cluster.store import DirStore
from support.guests import GUESTS


def placement(*nodes: tuple[str, int], **kw) -> Placement:
    p = Placement(**kw)
    for node, slots in nodes:
        p.add_node(node, slots)
    return p


def places(actions) -> dict[str, str]:
    return {a.job_id: a.node_id for a in actions if isinstance(a, Place)}


# -- placement ------------------------------------------------------------------


def test_admission_spreads_jobs_by_share_of_slots() -> None:
    p = placement(("a", 2), ("b", 1))
    for i in range(6):
        p.add_job(f"j{i}")
    got = places(p.decide(0))
    per_node = {n: sum(1 for v in got.values() if v == n) for n in "ab"}
    assert per_node == {"a": 4, "b": 2}, got        # 2 jobs per slot everywhere


def test_higher_priority_is_admitted_first_where_it_gets_most() -> None:
    p = placement(("a", 1), ("b", 1))
    p.add_job("low0")
    p.add_job("low1")
    assert set(places(p.decide(0)).values()) == {"a", "b"}
    p.add_job("high", priority=5)
    (node,) = places(p.decide(0)).values()
    # either node gives it a whole slot: the tie goes to the one with fewer jobs, then the id
    assert node in ("a", "b") and p.nodes[node].share(5) == 1.0


def test_memory_budget_limits_what_a_node_takes() -> None:
    p = Placement()
    p.add_node("small", 4, memory=100)
    p.add_node("big", 1, memory=1000)
    for i in range(3):
        p.add_job(f"j{i}", memory=80)
    got = places(p.decide(0))
    assert sum(1 for n in got.values() if n == "small") == 1


def test_jobs_that_fit_nowhere_wait_while_smaller_ones_behind_them_start() -> None:
    p = Placement()
    p.add_node("a", 1, memory=100)
    p.add_job("first", memory=60)
    for i in range(50):
        p.add_job(f"big{i}", memory=60)         # none fits beside "first"
    p.add_job("small", memory=30)
    p.add_job("tiny", memory=10)
    p.add_job("bigger", memory=90)
    assert places(p.decide(0)) == {"first": "a", "small": "a", "tiny": "a"}
    assert places(p.decide(1)) == {}
    p.remove_job("first")
    p.remove_job("small")
    p.remove_job("tiny")
    # the oldest waiting job goes first once there is room, whatever its size
    assert places(p.decide(2)) == {"big0": "a"}
    p.remove_job("big0")
    assert places(p.decide(3)) == {"big1": "a"}


def test_a_removed_job_makes_room_for_the_next_tier() -> None:
    p = Placement()
    p.add_node("a", 1, memory=100)
    p.add_job("high", priority=5, memory=80)
    p.add_job("low", memory=80)
    assert places(p.decide(0)) == {"high": "a"}     # low does not fit beside it: it waits
    p.remove_job("high")
    assert places(p.decide(1)) == {"low": "a"}


def test_a_drain_evicts_every_job_and_releases_the_empty_node() -> None:
    p = placement(("a", 1), ("b", 1))
    for i in range(4):
        p.add_job(f"j{i}")
    got = places(p.decide(0))
    on_a = sorted(j for j, n in got.items() if n == "a")
    p.drain_node("a")
    acts = p.decide(1)
    evicts = [a for a in acts if isinstance(a, Evict)]
    assert sorted(e.job_id for e in evicts) == on_a
    assert all(e.reason == "drain" and e.to == "b" for e in evicts)
    assert not any(isinstance(a, Release) for a in acts)     # not empty yet
    for e in evicts:
        assert p.left(e.job_id) == "b"
    assert p.decide(2) == [Release("a")]
    assert p.live_nodes() == ["b"] and p.holds("b") == 4


def test_a_lost_node_sends_its_jobs_back_to_wait_in_submission_order() -> None:
    p = placement(("a", 1), ("b", 1))
    for i in range(4):
        p.add_job(f"j{i}")
    got = places(p.decide(0))
    lost = p.remove_node("a")
    assert lost == sorted(j for j, n in got.items() if n == "a")
    assert all(p.where(j) is None for j in lost)
    assert places(p.decide(1)) == {j: "b" for j in lost}


def test_an_idle_node_that_joins_takes_its_share() -> None:
    p = placement(("a", 1), balance_interval=0.0, move_cooldown=0.0, settle=0.0)
    for i in range(4):
        p.add_job(f"j{i}")
    p.decide(0)
    p.add_node("b", 1)
    moves = [a for a in p.decide(1) if isinstance(a, Evict)]
    assert moves and all(m.node_id == "a" and m.to == "b" and m.reason == "balance" for m in moves)
    for m in moves:
        p.left(m.job_id)
    assert p.holds("a") == p.holds("b") == 2
    # the moved jobs stay where they landed (no cooldown holds them): no ping-pong
    assert not [a for a in p.decide(2) if isinstance(a, Evict)]


def test_balance_leaves_an_even_cluster_alone_and_respects_the_cooldown() -> None:
    p = placement(("a", 1), ("b", 1), balance_interval=0.0, move_cooldown=100.0, settle=0.0)
    for i in range(4):
        p.add_job(f"j{i}")
    p.decide(0)
    assert not [a for a in p.decide(1) if isinstance(a, Evict)]
    p.remove_job(next(j for j in p.jobs if p.where(j) == "a"))
    p.remove_job(next(j for j in p.jobs if p.where(j) == "a"))   # a idle, b holds 2
    (m,) = [a for a in p.decide(2) if isinstance(a, Evict)]
    p.left(m.job_id)
    p.remove_job(next(j for j in p.jobs if p.where(j) == "b"))   # now b is idle
    assert not [a for a in p.decide(3) if isinstance(a, Evict) and a.job_id == m.job_id]


def test_high_priority_work_pushes_lower_jobs_to_free_slots() -> None:
    p = placement(("a", 1), balance_interval=0.0, move_cooldown=0.0, settle=0.0)
    p.add_job("low")
    p.decide(0)
    p.add_node("b", 1)
    p.add_job("high", priority=9)
    got = places(p.decide(1))
    assert got == {"high": "b"}     # the empty node gives it a whole slot
    p.remove_node("b")              # b dies: high comes back to a, low then gets nothing there
    p.add_node("c", 1)
    acts = p.decide(2)
    assert places(acts) == {"high": "c"}


def asked_to_move() -> tuple[Placement, str, str]:
    """Two nodes of one slot and job ``j`` placed on one, asked to move to the
    other: the placement, the job's node and the other node."""
    p = placement(("a", 1), ("b", 1))
    p.add_job("j")
    (node,) = places(p.decide(0)).values()
    other = "b" if node == "a" else "a"
    p.request_move("j", other)
    return p, node, other


def test_requested_moves_and_contradictions() -> None:
    p, node, other = asked_to_move()
    (e,) = p.decide(1)
    assert e == Evict("j", node, "request", other)
    assert p.left("j") == other and p.where("j") == other
    with pytest.raises(ValueError):
        p.add_job("j")
    with pytest.raises(KeyError):
        p.request_move("j", "nowhere")
    with pytest.raises(ValueError):
        p.add_node("a", 1)


# -- node agents in this process ---------------------------------------------------


def spec(job_id: str, relpath: str, args=(), priority: int = 0, **config) -> JobSpec:
    prog = rvdist.Program.from_file(GUESTS / relpath)
    return JobSpec(job_id, job_id, prog.digest, prog, {"args": list(args), **config}, priority)


def collect(agent: NodeAgent, until, timeout: float = 60.0):
    """Poll an agent until ``until(events, progress)`` holds; returns both."""
    events, progress = [], {}
    deadline = time.monotonic() + timeout
    while not until(events, progress):
        assert time.monotonic() < deadline, f"timed out; events so far {[e[:2] for e in events]}"
        rep = pickle.loads(agent.poll(0.05))
        events += rep["events"]
        for job_id, _, cycles, slices in rep["progress"]:
            progress[job_id] = progress.get(job_id, 0) + slices
    return events, progress


@contextlib.contextmanager
def running_agent(tmp_path, slice_cycles: int):
    """One agent of one slot, on a store under ``tmp_path``, stopped afterwards."""
    agent = NodeAgent("n", 1, DirStore(tmp_path), slice_cycles=slice_cycles)
    try:
        yield agent
    finally:
        agent.stop()


def assert_equal_turns(progress, jobs) -> None:
    """One slot, round-robin slice by slice: turns differ by at most the slices
    run between two polls of a job's count (one report apart)."""
    counts = [progress.get(j, 0) for j in jobs]
    assert min(counts) > 0 and max(counts) - min(counts) <= 2, counts


def test_an_agent_gives_equal_jobs_equal_turns(tmp_path) -> None:
    with running_agent(tmp_path, 200_000) as agent:
        agent.command([("assign", spec(f"j{i}", "faults/infinite_loop.elf"), 1, None)
                       for i in range(3)])
        _, progress = collect(agent, lambda ev, pr: sum(pr.values()) >= 60)
        assert_equal_turns(progress, [f"j{i}" for i in range(3)])


def test_an_agent_runs_higher_priority_first_and_says_whom_it_preempted(tmp_path) -> None:
    with running_agent(tmp_path, 200_000) as agent:
        agent.command([("assign", spec("low", "faults/infinite_loop.elf"), 1, None)])
        collect(agent, lambda ev, pr: pr.get("low", 0) >= 3)
        agent.command([("assign", spec("high", "c/primes.elf", ["3000"], priority=5), 1, None)])
        events, _ = collect(agent, lambda ev, pr: any(e[0] == "finished" for e in ev))
    kinds = [(e[0], e[1]) for e in events]
    assert ("preempt", "low") in kinds and kinds.index(("preempt", "low")) < \
        kinds.index(("finished", "high"))
    assert next(e for e in events if e[0] == "preempt")[3] == {"by": "high"}


def test_the_top_priority_takes_turns_and_the_next_tier_runs_once_it_is_gone(tmp_path) -> None:
    high, low = ["h0", "h1", "h2"], ["l0", "l1"]
    with running_agent(tmp_path, 100_000) as agent:
        agent.command([("assign", spec(j, "faults/infinite_loop.elf"), 1, None) for j in low] +
                      [("assign", spec(j, "faults/infinite_loop.elf", priority=5), 1, None)
                       for j in high])
        _, progress = collect(agent, lambda ev, pr: sum(pr.get(j, 0) for j in high) >= 45)
        # one slot: while the top tier is runnable it takes every slice, round-robin
        assert not any(progress.get(j) for j in low), progress
        assert_equal_turns(progress, high)
        agent.command([("drop", j, 1) for j in high])
        events, progress = collect(agent, lambda ev, pr: min(pr.get(j, 0) for j in low) >= 5)
    assert sorted(e[1] for e in events if e[0] == "dropped") == high
    assert_equal_turns(progress, low)


def test_checkpoints_form_a_chain_and_an_evicted_job_finishes_elsewhere_identically(tmp_path):
    store = DirStore(tmp_path)
    ref = rvdist.Machine(GUESTS / "c/memsort.elf", args=["16"], memory_size=32 << 20)
    ref.run()
    a = NodeAgent("a", 1, store, slice_cycles=300_000)
    b = NodeAgent("b", 1, store, slice_cycles=300_000)
    try:
        a.command([("assign", spec("m", "c/memsort.elf", ["16"], memory_size=32 << 20), 1, 5_000_000)])
        events, _ = collect(a, lambda ev, pr: sum(e[0] == "checkpoint" for e in ev) >= 3)
        ckpts = [e[3] for e in events if e[0] == "checkpoint"]
        assert ckpts[0]["full"] and not all(c["full"] for c in ckpts)   # increments follow
        a.command([("evict", "m", 1)])
        events, _ = collect(a, lambda ev, pr: any(e[0] == "left" for e in ev))
        left = next(e for e in events if e[0] == "left")[3]
        assert 0 < left["cycles"] < ref.cycles
        assert len(store.read("m")) >= 2        # a full snapshot and increments
        b.command([("assign", spec("m", "c/memsort.elf", ["16"], memory_size=32 << 20), 2, 5_000_000)])
        events, _ = collect(b, lambda ev, pr: any(e[0] == "finished" for e in ev))
        started = next(e for e in events if e[0] == "started")[3]
        assert started["restored"] and started["cycles"] == left["cycles"]
        fin = next(e for e in events if e[0] == "finished")[3]
        assert (fin["exit_code"], fin["stdout"], fin["cycles"]) == (0, ref.stdout, ref.cycles)
    finally:
        a.stop()
        b.stop()


def test_a_dropped_job_is_reported_and_forgotten(tmp_path) -> None:
    with running_agent(tmp_path, 100_000) as agent:
        agent.command([("assign", spec("x", "faults/infinite_loop.elf"), 3, None)])
        collect(agent, lambda ev, pr: pr.get("x", 0) >= 1)
        agent.command([("drop", "x", 2)])         # another placement's: ignored
        agent.command([("drop", "x", 3)])
        collect(agent, lambda ev, pr: any(e[0] == "dropped" for e in ev))
        assert pickle.loads(agent.poll(0))["jobs"] == 0


# -- the controller, driven report by report ---------------------------------------------


class Wire:
    """A transport driven by hand: it keeps the commands sent and hands out the news given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple]] = []
        self.news: list[tuple] = []

    def now(self) -> float:
        return 0.0

    def poll(self, timeout: float) -> list[tuple]:
        news, self.news = self.news, []
        return news

    def send(self, node_id: str, commands: list[tuple]) -> None:
        self.sent += [(node_id, c) for c in commands]

    def release(self, node_id: str) -> None:
        pass


def test_a_job_drained_while_it_loads_lands_with_the_drains_reason() -> None:
    wire, lock = Wire(), threading.Condition()
    control = Controller(wire, Placement(checkpoint_cycles=None), lock)

    def news(*items) -> None:
        wire.news = list(items)
        control.step(0)

    def report(node: str, kind: str, epoch: int, **data) -> tuple:
        return ("report", node, {"events": [(kind, "j", epoch, data)], "progress": [], "jobs": 1})

    news(("join", "a", 1, None))
    job = Job(JobSpec("j", "j", "", None, {}), lock)
    with lock:
        control.submit(job)
        control.decide()
    news(("join", "b", 1, None))
    assert wire.sent == [("a", ("assign", job.spec, 1, None, False))]   # nothing to restore
    with lock:
        control.drain("a", 10.0)
        control.decide()
    assert wire.sent[-1] == ("a", ("evict", "j", 1))
    # the agent had loaded the job when the eviction came: it reports the start, then the leave
    news(report("a", "started", 1, cycles=0, restored=False))
    news(report("a", "left", 1, cycles=500, bytes=100))
    assert wire.sent[-1] == ("b", ("assign", job.spec, 2, None, True))  # its chain, stored
    news(report("b", "started", 2, cycles=500, restored=True))
    start, moved = job.events()
    assert (start["event"], start["node"]) == ("start", "a")
    assert (moved["event"], moved["node"], moved["source"], moved["reason"]) == \
        ("migrate", "b", "a", "drain")
    assert job.progress()["preemptions"] == 1 and control.stats()["preemptions"] == 1


# -- the controller against simulated nodes ----------------------------------------------


def simulate(lengths, priorities, churn, slots=2, nodes=3, checkpoints=True):
    jobs = {f"j{i}": SimJob(f"j{i}", n * 10**9, 8 << 20, 4 << 20, 0.3, p)
            for i, (n, p) in enumerate(zip(lengths, priorities))}
    sim = SimCluster(jobs, report_interval=1.0, store=checkpoints)
    for i in range(nodes):
        sim.add_node(f"n{i}", slots)
    fresh = nodes
    for t, kind, which in churn:
        victim = f"n{which % fresh}"
        if kind == "join":
            sim.add_node(f"n{fresh}", slots, at=t)
            fresh += 1
        elif kind == "drain":
            sim.drain_node(victim, t, 20.0)
        else:
            sim.kill_node(victim, t)
    # never leave the cluster empty for good
    sim.add_node(f"n{fresh}", slots, at=max([t for t, _, _ in churn], default=0) + 30)
    lock = threading.Condition()
    control = Controller(sim, Placement(checkpoint_cycles=5 * 10**9 if checkpoints else None,
                                        balance_interval=1.0, move_cooldown=5.0), lock)
    arrivals = [(i * 0.5, Job(JobSpec(j.job_id, j.job_id, "", None, {}, j.priority, j.memory), lock))
                for i, j in enumerate(jobs.values())]
    run(sim, control, arrivals, max_time=1e6)
    return sim, control, jobs, [job for _, job in arrivals]


churn_events = st.lists(st.tuples(st.floats(0, 200), st.sampled_from(["join", "drain", "kill"]),
                                  st.integers(0, 50)), max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=14), st.data(), churn_events)
def test_every_job_finishes_exactly_once_through_churn(lengths, data, churn) -> None:
    priorities = data.draw(st.lists(st.integers(0, 2), min_size=len(lengths),
                                    max_size=len(lengths)))
    sim, control, specs, jobs = simulate(lengths, priorities, churn)
    # the simulator raises if a job is resident on two live nodes or a node
    # runs more than its slots; here: one result each, of the right length
    assert sim.finished == {j: 1 for j in specs}
    for job in jobs:
        r = job.result(timeout=0)
        assert (r.status, r.cycles) == ("done", specs[job.id].length)
        assert r.count("finish") == 1 and job.state is JobState.DONE
    assert control.placement.jobs == {}
    assert all(not n.jobs for n in control.placement.nodes.values())


def test_checkpoints_bound_the_work_lost_to_a_kill() -> None:
    sim, control, specs, jobs = simulate([100] * 6, [0] * 6, [(50.0, "kill", 0)])
    lost = [ev for j in jobs for ev in j.result().history if ev["event"] == "lost"]
    assert lost and all(ev["cycles_lost"] <= 5 * 10**9 for ev in lost)
    scratch, *_ = simulate([100] * 6, [0] * 6, [(50.0, "kill", 0)], checkpoints=False)
    assert sim.cycles_lost < scratch.cycles_lost


def test_drained_jobs_move_without_losing_work() -> None:
    sim, control, specs, jobs = simulate([100] * 6, [0] * 6, [(30.0, "drain", 1)])
    assert sim.cycles_lost == 0 and sim.notice_to_empty and max(sim.notice_to_empty) < 20
    assert any(r.migrations for r in (j.result() for j in jobs))


def test_a_node_that_just_got_a_job_is_left_to_settle() -> None:
    p = placement(("a", 1), ("b", 1), balance_interval=0.0, move_cooldown=0.0, settle=5.0)
    for i in range(4):
        p.add_job(f"low{i}")
    p.decide(0)
    p.add_job("urgent", priority=9)
    (node,) = places(p.decide(10)).values()
    assert not [a for a in p.decide(11) if isinstance(a, Evict)]   # settling
    p.remove_job("urgent")      # a short urgent job: its node's jobs never moved
    assert not [a for a in p.decide(16) if isinstance(a, Evict)]


def test_equal_jobs_share_the_whole_cluster_equally() -> None:
    # 10 equal jobs on nodes of 2, 1 and 2 slots: placement gives every job
    # half a slot, whichever node it is on, so they all end together
    jobs = {f"j{i}": SimJob(f"j{i}", 100 * 10**9) for i in range(10)}
    sim = SimCluster(jobs, report_interval=1.0)
    for node, slots in (("a", 2), ("b", 1), ("c", 2)):
        sim.add_node(node, slots)
    lock = threading.Condition()
    control = Controller(sim, Placement(checkpoint_cycles=None), lock)
    arrivals = [(0.1 * i, Job(JobSpec(j, j, "", None, {}, 0, 0), lock)) for i, j in enumerate(jobs)]
    run(sim, control, arrivals)
    ends = sorted(sim.finished_at.values())
    assert ends[0] >= 0.9 * ends[-1], ends          # 200 s each, give or take
    assert 190 <= ends[-1] <= 215
    assert control.counters["migrations"] == 0


def test_a_node_lost_while_its_job_leaves_frees_the_destination() -> None:
    p, node, other = asked_to_move()
    p.decide(1)
    assert p.holds(other) == 1                  # reserved for the move
    assert p.remove_node(node) == ["j"]
    assert p.holds(other) == 0 and p.where("j") is None
    assert places(p.decide(2)) == {"j": other}
    p.request_move("j", None)
    p.add_node("c", 1)
    (e,) = p.decide(3)
    assert e.to == "c" and p.remove_node("c") == [] and p.left("j") is None   # re-queued
