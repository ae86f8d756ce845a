"""The control plane's reach into a real Ray cluster: agents, reports, membership.

:class:`RayTransport` starts one :class:`~rvdist.cluster.agent.NodeAgent`
actor on every live node (holding the node's CPUs, one slot each), keeps
one long poll in flight per agent, and watches the cluster every
``watch_interval`` seconds for nodes that join, die, or get a drain notice
(``ray drain-node``, the autoscaler, SIGTERM to a ``ray start --block``
worker). It hands all of that to the controller as plain tuples (see
:class:`~rvdist.cluster.control.Transport`), and sends the controller's
commands to the agents, one call per node and step.
"""

from __future__ import annotations

import logging
import pickle
import re
import threading
import time
from typing import Any, Optional

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from rvdist import _origin
from rvdist.cluster.agent import agent_actor

__all__ = ["RayTransport"]

log = logging.getLogger(__name__)


class RayTransport:
    """Agents on the Ray nodes, and the news from them (see the module doc)."""

    def __init__(self, store: Any, slice_cycles: int, slots_per_node: Optional[int] = None,
                 report_interval: float = 0.2, watch_interval: float = 0.2,
                 memory_fraction: float = 0.5) -> None:
        self.store = store
        self.slice_cycles = slice_cycles
        self.slots_per_node = slots_per_node
        self.report_interval = report_interval
        self.watch_interval = watch_interval
        self.memory_fraction = memory_fraction
        self.agents: dict[str, Any] = {}        # node id -> agent (ready or starting)
        self.slots: dict[str, int] = {}
        self.bytes_received = 0                 # report bytes this driver got from agents
        self._polls: dict[Any, str] = {}        # poll ref -> node id
        self._starting: dict[Any, tuple[str, int, Optional[int]]] = {}
        self._commands: set[Any] = set()      # command calls not yet seen through
        self._commands_lock = threading.Lock()  # send() may run on a caller's thread
        self._news: list[tuple] = []
        self._dead: set[str] = set()
        self._held: set[str] = set()            # draining or released: start no agent there
        self._drains_seen: set[str] = set()
        self._last_watch = 0.0
        self._gcs = _gcs_client()
        self.problems: list[str] = []           # why agents failed to start

    # -- start-up ------------------------------------------------------------------

    def start(self, timeout: float = 120) -> tuple[int, list[str]]:
        """Start agents on the live nodes and wait until they are ready;
        returns how many are, and one line for each that failed."""
        self._start_agents(ray.nodes())
        refs = list(self._starting)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        for ref in ready:
            self._started(ref)
        if refs and not ready and not self.problems:
            self.problems.append(f"no agent answered within {timeout:.0f} s")
        return sum(1 for n in self._news if n[0] == "join"), list(self.problems)

    def _start_agents(self, nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            nid = node["NodeID"]
            cpus = int(node.get("Resources", {}).get("CPU", 0))
            if not node.get("Alive") or cpus < 1 or nid in self.agents or nid in self._dead \
                    or nid in self._held:
                continue
            slots = self.slots_per_node or cpus
            memory = node.get("Resources", {}).get("memory")
            budget = int(memory * self.memory_fraction) if memory else None
            actor = agent_actor(min(slots, cpus)).options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False)).remote(
                    nid, slots, self.store, self.slice_cycles, self.report_interval)
            self.agents[nid] = actor
            self.slots[nid] = slots
            self._starting[actor.warm_up.remote()] = (nid, slots, budget)

    def _started(self, ref: Any) -> None:
        entry = self._starting.pop(ref, None)
        if entry is None:
            return
        nid, slots, budget = entry
        try:
            out = ray.get(ref, timeout=60)
        except Exception as e:
            self.problems.append(f"the agent on node {nid} failed: {_root_cause(e)}")
            self._gone(nid, "agent did not start")
            return
        theirs = out.get("origin") if isinstance(out, dict) else None
        ours = _origin.origin()
        if theirs is None or theirs.get("fingerprint") != ours["fingerprint"]:
            where = f"from {theirs.get('path')}" if theirs else "of an older version"
            self.problems.append(f"the agent on node {nid} imported rvdist {where}, whose code "
                                 f"differs from this driver's ({ours['path']})")
            self._gone(nid, "agent runs other rvdist code")
            return
        if nid not in self.agents:
            return
        self._news.append(("join", nid, slots, budget))
        self._polls[self.agents[nid].poll.remote()] = nid

    # -- the Transport interface ---------------------------------------------------------

    def now(self) -> float:
        return time.time()

    def poll(self, timeout: float) -> list[tuple]:
        now = time.monotonic()
        if now - self._last_watch >= self.watch_interval:
            self._last_watch = now
            self._watch()
        with self._commands_lock:
            commands = list(self._commands)
        refs = list(self._polls) + list(self._starting) + commands
        if refs:
            wait = 0 if self._news else timeout
            ready, _ = ray.wait(refs, num_returns=1, timeout=wait, fetch_local=True)
            if ready:
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=True)
            for ref in dict.fromkeys(ready):
                if ref in self._polls:
                    self._reported(ref)
                elif ref in self._starting:
                    self._started(ref)
                else:
                    with self._commands_lock:
                        self._commands.discard(ref)
                    try:
                        ray.get(ref, timeout=0)
                    except Exception:       # its agent died: its poll says so too
                        pass
        elif not self._news:
            time.sleep(timeout)
        news, self._news = self._news, []
        return news

    def send(self, node_id: str, commands: list[tuple]) -> None:
        agent = self.agents.get(node_id)
        if agent is not None:
            ref = agent.command.remote(commands)
            with self._commands_lock:
                self._commands.add(ref)

    def release(self, node_id: str) -> None:
        """Stop the agent of a drained, empty node, so that its drain completes."""
        self._held.add(node_id)
        self._forget(node_id)

    def can_reinstate(self, node_id: str) -> bool:
        """Whether a released node is alive and not drained by Ray."""
        if node_id in self._dead:
            return False
        try:
            alive = any(n["NodeID"] == node_id and n.get("Alive") for n in ray.nodes())
            draining = self._gcs.get_draining_nodes() if self._gcs is not None else {}
        except Exception:
            return False
        ids = {n.hex() if isinstance(n, bytes) else str(n) for n in draining}
        return alive and node_id not in ids

    def reinstate(self, node_id: str) -> None:
        """A released node returns to service: start an agent there again."""
        self._held.discard(node_id)
        self._drains_seen.discard(node_id)
        self._last_watch = 0.0

    def close(self) -> None:
        for nid in list(self.agents):
            self._forget(nid)

    # -- internals -----------------------------------------------------------------------

    def _reported(self, ref: Any) -> None:
        nid = self._polls.pop(ref, None)
        if nid is None:             # forgotten meanwhile (released)
            return
        try:
            data = ray.get(ref, timeout=60)
        except Exception as e:
            if isinstance(e, ray.exceptions.RayActorError):
                self._gone(nid, "node lost")
            else:
                log.warning("rvdist: agent on %s failed to report: %s", nid, e)
                self._gone(nid, "agent lost")
            return
        self.bytes_received += len(data)
        self._news.append(("report", nid, pickle.loads(data)))
        agent = self.agents.get(nid)
        if agent is not None:
            self._polls[agent.poll.remote()] = nid

    def _gone(self, nid: str, reason: str) -> None:
        if nid in self._dead:
            return
        self._dead.add(nid)
        self._forget(nid)
        self._news.append(("lost", nid, reason))

    def _forget(self, nid: str) -> None:
        agent = self.agents.pop(nid, None)
        for ref in [r for r, n in self._polls.items() if n == nid]:
            del self._polls[ref]
        for ref in [r for r, s in self._starting.items() if s[0] == nid]:
            del self._starting[ref]
        if agent is not None:
            try:
                ray.kill(agent)
            except Exception:       # its node may be gone already
                pass

    def _watch(self) -> None:
        try:
            nodes = ray.nodes()
            draining = self._gcs.get_draining_nodes() if self._gcs is not None else {}
        except Exception as e:      # the GCS is briefly unreachable: try again next time
            log.warning("rvdist: cannot read the cluster's nodes: %s", e)
            return
        alive = {n["NodeID"] for n in nodes if n.get("Alive")}
        for node_id, deadline_ms in draining.items():
            node_id = node_id.hex() if isinstance(node_id, bytes) else str(node_id)
            if node_id in self._drains_seen:
                continue
            self._drains_seen.add(node_id)
            self._held.add(node_id)
            if node_id in self.agents:
                self._news.append(("drain", node_id,
                                   deadline_ms / 1000 if deadline_ms else time.time() + 30))
        for nid in list(self.agents):
            if nid not in alive:
                self._gone(nid, "node lost")
        self._start_agents(nodes)


def _gcs_client() -> Any:
    """Ray's GCS client of this driver, to read drain notices; None if unavailable."""
    try:
        return ray._private.worker.global_worker.gcs_client
    except AttributeError:
        log.warning("rvdist: this Ray has no GCS client API; drain notices are not watched")
        return None


def _root_cause(e: BaseException) -> str:
    """The last exception line of a Ray error (whose text holds a remote
    traceback with terminal colours), e.g. the ImportError that kept an
    actor from starting."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    lines = [ln.strip() for ln in text.splitlines()]
    raised = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:", ln)]
    # Ray wraps a failed import in a RuntimeError that quotes the real one after it.
    return raised[-1] if raised else (lines[0] if lines else type(e).__name__)
