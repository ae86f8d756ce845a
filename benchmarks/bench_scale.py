"""The control plane at a thousand nodes, simulated (issue 12).

    python benchmarks/bench_scale.py [--nodes 1000] [--slots 16] [--jobs 50000]
        [--drain-rate 0.05] [--kill-rate 0.01] [--json] [--plot scale.png]

Runs the real control plane -- :class:`rvdist.cluster.control.Controller`
and :class:`rvdist.cluster.policy.Placement`, the classes the executor
uses -- against simulated nodes (:class:`rvdist.cluster.sim.SimCluster`) in
virtual time. Jobs of mixed lengths (log-uniform, seconds to hours of
guest time at 1e9 cycles/s) and guest memory sizes (log-uniform, 1 to 256
MiB) arrive over the first ``--arrivals`` seconds. Spot churn: each hour,
``--drain-rate`` of the nodes get a drain notice of ``--notice`` seconds
(then die) and ``--kill-rate`` die without notice; a replacement joins
``--replace-after`` seconds later. The same trace runs twice: with
checkpoints (every ``--checkpoint-s`` seconds of guest time, incremental,
evicted on notice) and with restart-from-scratch (no store).

Reports driver CPU per simulated hour (the controller's process time, the
simulator's own excluded), goodput (cycles that count toward results over
all cycles run), migrated and checkpoint bytes per hour, notice-to-empty
p50/p99, and a plot of slot utilisation and goodput over simulated time
(matplotlib: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import threading
import time
from typing import Any, Optional

from rvdist.cluster.control import Controller
from rvdist.cluster.jobs import Job, JobSpec
from rvdist.cluster.policy import Placement
from rvdist.cluster.sim import SimCluster, SimJob, run

MIB = 1 << 20


def workload(rng: random.Random, n: int, speed: float, arrivals: float,
             min_s: float, max_s: float) -> list[tuple[float, SimJob]]:
    out = []
    for i in range(n):
        seconds = math.exp(rng.uniform(math.log(min_s), math.log(max_s)))
        memory = int(math.exp(rng.uniform(math.log(1), math.log(256))) * MIB) // 4096 * 4096
        written = int(memory * rng.uniform(0.3, 1.0))
        job = SimJob(f"job{i:06d}", int(seconds * speed), memory, written, rng.uniform(0.02, 0.3),
                     priority=1 if rng.random() < 0.05 else 0)
        out.append((rng.uniform(0, arrivals), job))
    return out


def churn(rng: random.Random, sim: SimCluster, nodes: int, slots: int, horizon: float,
          drain_rate: float, kill_rate: float, notice: float, replace_after: float) -> int:
    """Schedule notices, deaths and replacements up to ``horizon`` seconds.
    Victims are picked among the nodes alive at that point of the trace."""
    live = [f"n{i:05d}" for i in range(nodes)]
    for node in live:
        sim.add_node(node, slots)
    events = []
    t, rate = 0.0, (drain_rate + kill_rate) * nodes / 3600
    fresh = nodes
    if rate <= 0:
        return 0
    while True:
        t += rng.expovariate(rate)
        if t > horizon:
            break
        events.append((t, "drain" if rng.random() < drain_rate / (drain_rate + kill_rate)
                       else "kill"))
    joins: list[tuple[float, str]] = []
    for t, kind in events:
        while joins and joins[0][0] <= t:
            live.append(joins.pop(0)[1])
        victim = live.pop(rng.randrange(len(live)))
        if kind == "drain":
            sim.drain_node(victim, t, notice)
            gone = t + notice
        else:
            sim.kill_node(victim, t)
            gone = t
        new = f"n{fresh:05d}"
        fresh += 1
        sim.add_node(new, slots, at=gone + replace_after)
        joins.append((gone + replace_after, new))
        joins.sort()
    return len(events)


def simulate(a: argparse.Namespace, checkpoints: bool) -> dict[str, Any]:
    rng = random.Random(a.seed)
    jobs = workload(rng, a.jobs, a.speed, a.arrivals, a.min_job_s, a.max_job_s)
    sim = SimCluster({j.job_id: j for _, j in jobs}, speed=a.speed,
                     report_interval=a.report_interval, bandwidth=a.bandwidth * MIB,
                     store=checkpoints, seed=a.seed)
    n_churn = churn(random.Random(a.seed + 1), sim, a.nodes, a.slots, a.horizon, a.drain_rate,
                    a.kill_rate, a.notice, a.replace_after)
    lock = threading.Condition()
    placement = Placement(checkpoint_cycles=int(a.checkpoint_s * a.speed) if checkpoints else None,
                          balance_interval=a.balance_interval, move_cooldown=a.move_cooldown)
    control = Controller(sim, placement, lock)
    arrivals = [(t, Job(JobSpec(j.job_id, j.job_id, "", None, {}, j.priority, j.memory), lock))
                for t, j in jobs]
    wall = time.perf_counter()
    cpu = run(sim, control, arrivals, step=a.step, max_time=a.horizon * 4,
              sample_every=a.sample_every)
    wall = time.perf_counter() - wall
    results = [job.result() for _, job in arrivals]
    wrong = [r.job_id for r in results if r.status != "done" or
             r.cycles != sim.jobs[r.job_id].length]
    if wrong or any(n != 1 for n in sim.finished.values()) or len(sim.finished) != len(jobs):
        raise SystemExit(f"wrong results: {wrong[:5]}, finishes {set(sim.finished.values())}")
    useful = sum(j.length for _, j in jobs)
    hours = sim.t / 3600
    ne = sorted(sim.notice_to_empty)
    return {"sim_hours": hours, "churn_events": n_churn, "driver_cpu_s": cpu,
            "driver_cpu_s_per_sim_hour": cpu / hours, "simulator_cpu_s": sim.cpu,
            "wall_s": wall, "goodput": useful / sim.cycles_run,
            "migrated_bytes_per_hour": sim.migrated_bytes / hours,
            "checkpoint_bytes_per_hour": sim.checkpoint_bytes / hours,
            "restored_bytes_per_hour": sim.restored_bytes / hours,
            "migrations": control.counters["migrations"],
            "recoveries": control.counters["recoveries"],
            "notice_to_empty_p50_s": ne[len(ne) // 2] if ne else None,
            "notice_to_empty_p99_s": ne[min(len(ne) - 1, int(len(ne) * 0.99))] if ne else None,
            "samples": sim.samples, "useful": useful}


def plot(path: str, ckpt: dict[str, Any], scratch: dict[str, Any]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for rep, label in ((ckpt, "checkpoints + migration"), (scratch, "restart from scratch")):
        s = rep["samples"]
        t = [x[0] / 3600 for x in s]
        ax1.plot(t, [x[1] / x[2] if x[2] else 0 for x in s], label=label)
        ax2.plot(t, [1 - x[4] / x[3] if x[3] else 1.0 for x in s], label=label)
    ax1.set_ylabel("slot utilisation")
    ax1.set_ylim(0, 1.05)
    ax1.legend(loc="lower left")
    ax2.set_ylabel("goodput so far\n(1 - lost / run cycles)")
    ax2.set_xlabel("simulated hours")
    fig.suptitle(f"goodput {ckpt['goodput']:.4f} with checkpoints, "
                 f"{scratch['goodput']:.4f} restarting from scratch")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--slots", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=50_000)
    ap.add_argument("--drain-rate", type=float, default=0.05, help="notices per node per hour")
    ap.add_argument("--kill-rate", type=float, default=0.01, help="deaths without notice per node per hour")
    ap.add_argument("--notice", type=float, default=120.0, help="drain notice, seconds")
    ap.add_argument("--replace-after", type=float, default=180.0)
    ap.add_argument("--arrivals", type=float, default=3600.0, help="jobs arrive over this many seconds")
    ap.add_argument("--min-job-s", type=float, default=5.0)
    ap.add_argument("--max-job-s", type=float, default=4 * 3600.0)
    ap.add_argument("--checkpoint-s", type=float, default=300.0, help="guest seconds between checkpoints")
    ap.add_argument("--report-interval", type=float, default=10.0,
                    help="seconds between a node's progress reports (state changes go at once)")
    ap.add_argument("--balance-interval", type=float, default=5.0)
    ap.add_argument("--move-cooldown", type=float, default=300.0)
    ap.add_argument("--step", type=float, default=0.1, help="control loop wait, seconds")
    ap.add_argument("--bandwidth", type=float, default=200.0, help="store link per node, MiB/s")
    ap.add_argument("--speed", type=float, default=1e9, help="cycles per second per slot")
    ap.add_argument("--horizon", type=float, default=12 * 3600.0, help="churn trace length, s")
    ap.add_argument("--sample-every", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--plot", default="bench_scale.png", help="PNG to write ('' for none)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    a = ap.parse_args(argv)

    ckpt = simulate(a, checkpoints=True)
    scratch = simulate(a, checkpoints=False)
    if a.plot:
        plot(a.plot, ckpt, scratch)
    report = {"nodes": a.nodes, "slots": a.nodes * a.slots, "jobs": a.jobs,
              "goodput": ckpt["goodput"], "goodput_restart_from_scratch": scratch["goodput"],
              "driver_cpu_s_per_sim_hour": ckpt["driver_cpu_s_per_sim_hour"],
              "driver_cpu_s_per_sim_hour_restart_from_scratch": scratch["driver_cpu_s_per_sim_hour"],
              "notice_to_empty_p50_s": ckpt["notice_to_empty_p50_s"],
              "notice_to_empty_p99_s": ckpt["notice_to_empty_p99_s"],
              "migrated_bytes_per_hour": ckpt["migrated_bytes_per_hour"],
              "checkpoint_bytes_per_hour": ckpt["checkpoint_bytes_per_hour"],
              "restored_bytes_per_hour": ckpt["restored_bytes_per_hour"],
              "sim_hours": ckpt["sim_hours"], "sim_hours_restart_from_scratch": scratch["sim_hours"],
              "churn_events": ckpt["churn_events"], "migrations": ckpt["migrations"],
              "recoveries": ckpt["recoveries"], "wall_s": ckpt["wall_s"] + scratch["wall_s"],
              "report_interval_s": a.report_interval, "plot": a.plot or None}
    if a.json:
        print(json.dumps(report))
        return 0
    gib = 1 << 30
    print(f"{a.nodes} nodes x {a.slots} slots, {a.jobs} jobs, {report['churn_events']} churn events; "
          f"{ckpt['sim_hours']:.2f} simulated hours ({scratch['sim_hours']:.2f} restarting from scratch)")
    print(f"driver CPU: {report['driver_cpu_s_per_sim_hour']:.1f} s per simulated hour "
          f"(target <= 360)")
    print(f"goodput: {report['goodput']:.4f} (target >= 0.97); restart from scratch "
          f"{report['goodput_restart_from_scratch']:.4f}")
    print(f"per hour: {report['migrated_bytes_per_hour'] / gib:.1f} GiB migrated, "
          f"{report['checkpoint_bytes_per_hour'] / gib:.1f} GiB checkpointed, "
          f"{report['restored_bytes_per_hour'] / gib:.1f} GiB restored; "
          f"{report['migrations']} migrations, {report['recoveries']} recoveries")
    if report["notice_to_empty_p50_s"] is not None:
        print(f"notice to empty node: p50 {report['notice_to_empty_p50_s']:.1f} s, "
              f"p99 {report['notice_to_empty_p99_s']:.1f} s")
    if a.plot:
        print(f"plot: {a.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
