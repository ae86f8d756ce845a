"""cluster.yaml passes Ray's own cluster-launcher validation."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

prep = pytest.importorskip("ray.autoscaler._private.util")

CONFIG = Path(__file__).resolve().parent.parent / "cluster.yaml"


def load() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_cluster_yaml_is_valid_for_ray() -> None:
    config = prep.prepare_config(load())
    prep.validate_config(config)
    workers = config["available_node_types"]["spot_worker"]
    assert workers["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert any("rvdist" in cmd for cmd in config["setup_commands"])


def test_validation_really_checks_something() -> None:
    broken = copy.deepcopy(load())
    del broken["available_node_types"]["head"]["node_config"]
    with pytest.raises(Exception):
        prep.validate_config(prep.prepare_config(broken))
