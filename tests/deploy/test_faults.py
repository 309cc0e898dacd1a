"""A long run survives its faults (real Ray, redis-server, dm_control): a diverged simulation, a corrupt payload and
`kill -9` of an env actor, of redis-server and of the learner, all in one smoke run; nothing acknowledged is lost."""
import os
from pathlib import Path

import pytest
import ray

from deploy.config import load_config
from deploy.faults import INJECT, run_with_faults
from deploy.ray_runtime import local_ray
from deploy.stats import read_history


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    os.environ[INJECT] = "worker=1,env=0,diverge_at=60"  # env actor 1's simulation diverges at its 60th step
    try:
        local_ray(log_to_driver=False)
    finally:
        del os.environ[INJECT]
    try:
        cfg = load_config("smoke", ["train.method=dreamerv2", f"logdir={tmp_path_factory.mktemp('faults') / 'run'}",
                                    "train.steps=2400", "train.num_actors=2",
                                    "train.checkpoint_every=30"]).validate()
        yield cfg, run_with_faults(cfg, inject=True, pause_s=4.0)
    finally:
        ray.shutdown()


def test_the_run_completes_through_every_fault_and_loses_no_acknowledged_episode(faulty_run):
    cfg, outcome = faulty_run
    assert outcome.injected == ["corrupt payload", "kill -9 env-actor-0", "kill -9 redis-server", "kill -9 learner"]
    assert outcome.summary["env_steps"] >= cfg.train.steps and outcome.summary["updates"] > 0
    assert outcome.stored >= outcome.acknowledged > 0, (outcome.stored, outcome.acknowledged)


def test_each_fault_was_met_and_counted(faulty_run):
    cfg, outcome = faulty_run
    c = outcome.counts
    assert c["env_faults"] >= 1, c  # the PhysicsError: episode discarded, env reset, run on
    assert c["actor_restarts"] >= 1 and c["learner_restarts"] >= 1, c  # Ray brought both back
    assert c["corrupt_episodes"] >= 1, c  # the restarted learner met the corrupt payload and skipped it
    log = (Path(cfg.logdir) / "vid2act.log").read_text()
    assert "redis-server died" in log and "restarting it on its append-only file" in log
    assert "the learner's process died and was restarted" in log
    # the updates its kill undid are made up: batches counted as sampled match the updates made (+ prefetch, lag)
    last = [r for r in read_history(Path(cfg.logdir)) if "train/updates" in r][-1]
    sample = cfg.replay.batch * cfg.replay.seq_len
    assert last["replay/sampled_steps"] / sample - last["train/updates"] <= cfg.train.sync_every + 2, last
    assert not (Path(cfg.logdir) / "ray.json").exists()  # the run's address is gone with the run
