"""A sweep on a simulated two-node Ray cluster: trials run on both nodes.

All nodes of ``ray.cluster_utils.Cluster`` share this machine's IP, so nodes are
told apart by the node id the trainable reports with every record.
"""

from __future__ import annotations

import pytest
import ray
from ray.cluster_utils import Cluster

from tune_seeds.tables import load_results
from tune_seeds.tuning.connect import check_address
from tune_seeds.tuning.spec import SchedulerSpec
from tune_seeds.tuning.sweep import run_sweep

from .test_sweep import tiny_spec

pytestmark = pytest.mark.ray


@pytest.fixture
def two_nodes():
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()


def test_trials_land_on_both_nodes(two_nodes, glue_fixture_dir, tmp_path):
    address = check_address(two_nodes.address)
    spec = tiny_spec(glue_fixture_dir, tmp_path, "cluster", num_samples=4,
                     scheduler=SchedulerSpec("fifo"))
    lines: list[str] = []
    run_sweep(spec, address=address, verbose=0, out=lines.append)
    assert not ray.is_initialized()  # the sweep disconnected from the cluster it joined
    assert lines[0].startswith(f"Ray: {address}")
    trials, _ = load_results(spec.tables_dir)
    assert set(trials.stopped_by) == {"completed"}
    node_ids = {node.node_id for node in two_nodes.list_all_nodes()}
    used = set(trials.node_id)
    assert len(used) == 2
    assert used == node_ids
