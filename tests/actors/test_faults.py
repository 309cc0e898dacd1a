"""Faulty environments (real dm_control, real divergence): an env's fault costs its unfinished episode, not the run."""
import numpy as np
import pytest

from actors import EnvFaultError, EnvLoop, EnvWorker, FaultInjectEnv, make_env

TASK, ENV = "dmc/walker_walk", {"size": 16, "time_limit": 40}  # 20 agent steps: 21-frame episodes
SPEC = {"model": dict(image_size=16, action_dim=6, depth=4, stoch=8, discrete=0, deter=16, hidden=16, min_std=0.1,
                      units=16, reward_layers=2, kl_balance=0.8, free_nats=1.0, kl_scale=1.0, reward_head=True,
                      reward_scale=1.0),
        "action_dim": 6, "method": "dreamerv2", "n_domains": 0, "units": 16, "actor_layers": 2, "value_layers": 2,
        "vae_latent": 4, "vae_hidden": 16}


def random_policy(obs, info):
    return np.random.default_rng(0).uniform(-1, 1, (len(obs["image"]), 6)).astype(np.float32)


def test_a_diverged_simulation_discards_its_episode_and_the_loop_goes_on():
    """dm_control's own PhysicsError at the 30th step of env 0 (joint velocities of 1e11)."""
    envs = [FaultInjectEnv(make_env(TASK, **ENV, seed=0), diverge_at=[30]), make_env(TASK, **ENV, seed=1)]
    episodes = []
    loop = EnvLoop(envs, random_policy, episodes.append)
    for _ in range(60):
        loop.step()
    assert loop.faults == 1
    assert all(len(ep["reward"]) == 21 and ep["is_first"][0] and ep["is_last"][-1] for ep in episodes)
    # env 1: 3 whole episodes in 60 steps; env 0 lost the one in progress at its 30th step and still finished 2
    assert len(episodes) == 5


def test_an_env_that_fails_every_reset_stops_the_loop_naming_its_task():
    env = FaultInjectEnv(make_env(TASK, **ENV, seed=0), raise_at=[5], reset_faults=3)
    loop = EnvLoop([env], random_policy, lambda ep: None, max_faults=3)
    with pytest.raises(EnvFaultError, match="dmc/walker_walk: the environment failed 3 times in a row.*injected"):
        for _ in range(10):
            loop.step()


def test_an_env_worker_counts_env_faults_from_the_injection_schedule(monkeypatch):
    """`VID2ACT_INJECT` is how a fault reaches an env actor in another process (bench/faults.py)."""
    monkeypatch.setenv("VID2ACT_INJECT", "worker=1,env=0,diverge_at=10")
    stored = []
    healthy = EnvWorker(TASK, ENV, 1, SPEC, lambda ep, meta: stored.append(meta), seed=0, worker=0)
    faulty = EnvWorker(TASK, ENV, 1, SPEC, lambda ep, meta: stored.append(meta), seed=0, worker=1)
    try:
        assert healthy.step(30, -1, None)["actor/env_faults"] == 0
        assert faulty.step(30, -1, None)["actor/env_faults"] == 1
        assert faulty.step(30, -1, None)["actor/env_faults"] == 0
    finally:
        healthy.close()
        faulty.close()
    assert all(meta["length"] == 21 for meta in stored)


def test_an_env_whose_every_step_fails_stops_the_loop_instead_of_spinning():
    env = FaultInjectEnv(make_env(TASK, **ENV, seed=0), raise_at=range(2, 10_000))  # resets work, steps never do
    loop = EnvLoop([env], random_policy, lambda ep: None, max_faults=3)
    with pytest.raises(EnvFaultError, match="failed 3 times in a row"):
        for _ in range(50):
            loop.step()
