"""Env actors with weight broadcast (real Ray, real redis-server, real MuJoCo): whole episodes only, restarts."""
import time

import pytest
import ray

from deploy.ray_runtime import remote
from deploy.services import EnvActor
from learner import AgentSpec, Learner
from replay import RedisReplay, connect

TASK = "dmc/walker_walk"
ENV = {"size": 32, "action_repeat": 2, "time_limit": 40, "camera": "", "render_mode": "fast"}  # 21-frame episodes


def spec() -> dict:
    model = dict(image_size=32, action_dim=6, depth=4, stoch=6, discrete=0, deter=12, hidden=12, min_std=0.1,
                 units=12, reward_layers=2, kl_balance=0.8, free_nats=1.0, kl_scale=1.0, reward_head=True,
                 reward_scale=2.0)
    return AgentSpec(model=model, action_dim=6, method="dreamerv2", n_domains=0, units=12, actor_layers=2,
                     value_layers=2, vae_latent=4, vae_hidden=16).to_dict()


def test_actor_streams_whole_episodes_and_adopts_broadcast_weights(ray_local, redis_server):
    actor = remote(EnvActor, num_cpus=1).remote(TASK, ENV, 2, spec(), redis_server.url, 10_000, 0, 0)
    metrics = ray.get(actor.step.remote(25, -1, []))
    assert metrics["actor/version"] == -1 and metrics["actor/episodes"] == 2  # 2 envs x one 20-step episode
    replay = RedisReplay(connect(redis_server.url), 10_000)
    assert replay.counters()["inserted_episodes"] == 2
    weights, _ = Learner(AgentSpec(**spec())).policy_weights()
    ref = ray.put(weights)  # one object per version, every actor pulls the same one
    metrics = ray.get(actor.step.remote(5, 1, [ref]))
    assert metrics["actor/version"] == 1
    assert ray.get(actor.step.remote(5, 1, None))["actor/version"] == 1  # no new version: the policy is kept
    ray.get(actor.close.remote())
    ray.kill(actor)


def test_killed_actor_leaves_no_partial_episode_and_is_restarted(ray_local, redis_server):
    actor = remote(EnvActor, num_cpus=1, max_restarts=1, max_task_retries=0).remote(
        TASK, ENV, 1, spec(), redis_server.url, 10_000, 0, 0)
    first = ray.get(actor.step.remote(30, -1, []))  # one whole episode (20 steps) and 10 steps of the next
    pending = actor.step.remote(10_000, -1, [])
    ray.kill(actor, no_restart=False)  # dies mid-episode
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(pending)
    replay = RedisReplay(connect(redis_server.url), 10_000)
    for episode_id in replay.episode_ids():
        ep, meta = replay.get(episode_id)
        assert len(ep["reward"]) == 21 and ep["is_first"][0] and ep["is_last"][-1]  # only whole episodes
    again = None
    for _ in range(60):  # the restarted actor works once Ray has brought it back
        try:
            again = ray.get(actor.step.remote(25, -1, []))
            break
        except ray.exceptions.ActorUnavailableError:
            time.sleep(1)
    assert again["actor/pid"] != first["actor/pid"]
    ray.get(actor.close.remote())
    ray.kill(actor)
