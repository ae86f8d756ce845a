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


def test_cluster_yaml_installs_the_cluster_extra_and_blocks_its_workers() -> None:
    config = load()
    assert any("rvdist[cluster]" in cmd for cmd in config["setup_commands"]), \
        "ray job submit needs ray[default], which rvdist[cluster] pulls in"
    starts = [c for c in config["worker_start_ray_commands"] if "ray start" in c]
    assert starts and all("--block" in c for c in starts), \
        "without --block a worker's SIGTERM does not drain it"


def test_cluster_yaml_example_writes_results_to_absolute_paths() -> None:
    text = CONFIG.read_text()
    example = " ".join(line.lstrip("# ").rstrip("\\ ") for line in text.splitlines()
                       if line.startswith("#") and ("rvdist batch" in line or line.startswith("#    ")))
    assert "rvdist batch" in example
    for option in ("--out", "--events", "--checkpoint-dir"):
        words = example.split()
        assert option in words, option
        path = words[words.index(option) + 1]
        assert path.startswith("/"), f"{option} {path}: lost in Ray's temporary copy of the working dir"
        assert any(path.startswith(d) for cmd in load()["head_setup_commands"]
                   for d in cmd.split() if d.startswith("/")), f"{path} is not created on the head"
