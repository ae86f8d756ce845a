"""Fixtures of the rvdist tests: the session's Ray cluster and the guests directory.

Helpers the tests share live in tests/support/ (see its __init__)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cluster import OBJECT_STORE
from support.guests import GUESTS


@pytest.fixture(scope="session")
def cluster():
    """One real local Ray for the whole session: a head and 2 nodes, 1 CPU each,
    with fast health checks so that a killed node is noticed in about 2 s.
    Tests may add nodes but must remove what they add, and never the head."""
    import os
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "object_store_memory": OBJECT_STORE,
        "_system_config": {"health_check_period_ms": 500, "health_check_timeout_ms": 500,
                           "health_check_failure_threshold": 3}})
    for _ in range(2):
        c.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="session")
def guests() -> Path:
    """The tests/guests directory."""
    return GUESTS
