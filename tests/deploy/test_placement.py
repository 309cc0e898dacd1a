"""Each part lands where the cluster's custom resources say; the learner says when it trains on CPU."""
from __future__ import annotations

import logging

import pytest
import ray
import torch
from ray.cluster_utils import Cluster

from deploy import placement


def test_options_use_custom_resources_when_declared_and_plain_cpus_otherwise():
    gpu_head = {"CPU": 10, "GPU": 1, "learner": 1, "teacher": 1, "env": 8}
    assert placement.env_actor(3, gpu_head) == {"name": "env-actor-3", "num_cpus": 1, "resources": {"env": 1}}
    assert placement.learner(gpu_head) == {"name": "learner", "num_cpus": 1, "num_gpus": 0.5,
                                           "resources": {"learner": 1}}
    assert placement.teacher_actor(0, gpu_head)["num_gpus"] == 0.5
    laptop = {"CPU": 2}
    assert placement.env_actor(0, laptop) == {"name": "env-actor-0", "num_cpus": 1}
    assert placement.learner(laptop) == {"name": "learner", "num_cpus": 1}
    assert placement.teacher_actor(1, laptop) == {"name": "teacher-pool-1", "num_cpus": 1}


@pytest.mark.parametrize("gpus, pools, split", [(0, 2, (0, 0)), (1, 1, (0.5, 0.5)), (1, 2, (0.5, 0.25)),
                                                (2, 1, (1, 1)), (3, 3, (1, 0.5)), (5, 2, (1, 1))])
def test_gpu_split_gives_the_learner_a_gpu_and_fits_the_teacher_pools(gpus, pools, split):
    assert placement.gpu_split(gpus, pools) == split


def test_learner_device_falls_back_to_cpu_and_says_so(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    log = logging.getLogger("learner-test")
    with caplog.at_level(logging.INFO, logger="learner-test"):
        assert placement.learner_device(log).type == "cpu"
    assert "no GPU visible to the learner: training on CPU" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="learner-test"):
        assert placement.learner_device(log, "cpu").type == "cpu"
    assert "as configured" in caplog.text and "no GPU" not in caplog.text


@pytest.fixture
def gpu_head_and_two_env_nodes():
    """A three-node Ray cluster on this machine: a head with a logical GPU and the learner and teacher
    resources, and two CPU nodes with the env resource."""
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 2, "num_gpus": 1, "resources": {"learner": 1, "teacher": 1}, "include_dashboard": False})
    env_nodes = [cluster.add_node(num_cpus=1, resources={"env": 1}) for _ in range(2)]
    try:
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, configure_logging=False)
        yield cluster.head_node.node_id, {node.node_id for node in env_nodes}
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_parts_land_on_their_nodes_and_the_learner_falls_back_to_cpu(gpu_head_and_two_env_nodes):
    head, env_nodes = gpu_head_and_two_env_nodes
    where = {w["name"]: w for w in placement.check(num_env_actors=2, teacher_pools=1, timeout=120)}
    assert set(where) == {"learner", "teacher-pool-0", "env-actor-0", "env-actor-1"}
    assert where["learner"]["node_id"] == head and where["teacher-pool-0"]["node_id"] == head
    assert {where["env-actor-0"]["node_id"], where["env-actor-1"]["node_id"]} == env_nodes
    # Ray hands the learner the logical GPU; torch on this machine sees no CUDA, so it trains on CPU.
    assert where["learner"]["gpu_ids"] == ["0"] and where["learner"]["device"] == "cpu"
    assert where["env-actor-0"]["gpu_ids"] == []

    with pytest.raises(placement.PlacementError, match=r"env-actor-\d was not placed.*'env': 1"):
        placement.check(num_env_actors=3, teacher_pools=1, timeout=40)


@pytest.mark.parametrize("cluster, gpus", [({"CPU": 2.0}, 0), ({"CPU": 64.0, "GPU": 4.0, "env": 32.0, "learner": 1.0,
                                                                 "teacher": 2.0}, 1)])
def test_every_actor_of_a_run_fits_a_bundle_of_its_trial(cluster, gpus):
    actors, pools = 2, 1
    bundles = placement.trial_bundles(actors, pools, evaluator=True, cpus=2.0, gpus=gpus, cluster=cluster)
    assert len(bundles) == 2 + pools + actors + 1
    group = {}
    for bundle in bundles[1:]:  # what `placement.available()` reports inside the group
        for key, value in bundle.items():
            group[key] = group.get(key, 0.0) + value
    cpus = placement.cpu_share(2 + pools + max(2 * actors, 2), group)  # the request deploy/train.py makes
    requests = [placement.learner(group, pools, cpus), placement.teacher_actor(0, group, pools, cpus),
                *[placement.env_actor(i, group, cpus) for i in range(actors + 1)]]
    for request, bundle in zip(requests, bundles[1:]):
        assert request["num_cpus"] <= bundle["CPU"] + 1e-9
        assert request.get("num_gpus", 0) <= bundle.get("GPU", 0) + 1e-9
        assert all(bundle.get(k, 0) >= v for k, v in request.get("resources", {}).items())
    assert sum(b.get("GPU", 0) for b in bundles) == gpus
