"""A sweep trial's placement group fits what its run's actors ask for (plain arithmetic, no cluster needed)."""
import pytest

from deploy import placement


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
