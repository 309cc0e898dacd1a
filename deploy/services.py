"""The run's services and its Ray-side actor classes: Redis, env actors that pull broadcast weights, run control.

    with replay_service(cfg, run_dir) as url: ...      # embedded redis-server, or cfg.replay.url
    env = remote(EnvActor, **placement.env_actor(i)).remote(task, env_kwargs, K, spec, url, capacity, seed, i)
    env.step.remote(steps, version, [weights_ref])     # pulls the weights object only when `version` moved
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from collections.abc import Iterator

import ray

from actors.env_worker import EnvWorker
from deploy.config import Config
from deploy.redis_server import RedisServer, maxmemory_for
from replay.client import connect
from replay.redis_replay import RedisReplay

log = logging.getLogger(__name__)
CONTROL_NAMESPACE = "vid2act"


@contextlib.contextmanager
def replay_service(cfg: Config, run_dir: Path, action_dim: int) -> Iterator[str]:
    """Yield the Redis URL of the run's replay: `replay.url`, else $VID2ACT_REDIS_URL (a cluster's Redis, password
    kept out of configs), else an embedded redis-server in run_dir/redis."""
    url = cfg.replay.url or os.environ.get("VID2ACT_REDIS_URL", "")
    if url:
        connect(url).ping()  # fails now, clearly, if unreachable or the password is wrong
        yield url
        return
    server = RedisServer(run_dir / "redis", maxmemory_bytes=maxmemory_for(cfg.replay.capacity, cfg.env.size,
                                                                          action_dim))
    with server:
        log.info("embedded redis-server on %s (data in %s)", server.url.split("@")[-1], run_dir / "redis")
        yield server.url


class EnvActor(EnvWorker):
    """An EnvWorker as a Ray actor: streams episodes into the Redis replay, pulls weights when the version moves.

    The weights travel as one object in the object store per version; a list wraps its ref so Ray does not fetch
    it for every call, only when this actor's version is behind.
    """

    def __init__(self, task: str, env_kwargs: dict, num_envs: int, spec: dict, replay_url: str, capacity: int,
                 seed: int, worker: int):
        replay = RedisReplay(connect(replay_url), capacity)
        super().__init__(task, env_kwargs, num_envs, spec, replay.insert, seed, worker)

    def step(self, steps: int, version: int, weights: list) -> dict[str, float]:
        if weights and version > self.version:
            self.set_weights(ray.get(weights[0]), version)
        metrics = self.run(steps)
        metrics["actor/pid"] = float(os.getpid())  # a new pid = the actor was restarted
        return metrics


class RunControl:
    """A named actor through which `vid2act scale` asks a running job for a different number of env actors."""

    def __init__(self, actors: int):
        self.actors = actors

    def set_actors(self, n: int) -> int:
        if n < 1:
            raise ValueError(f"need at least one env actor, got {n}")
        self.actors = n
        return n

    def get_actors(self) -> int:
        return self.actors


def control_name(run_name: str) -> str:
    return f"control-{run_name}"
