"""The run's services and the thin Ray layer over runtime/'s objects: Redis, actor wrappers, the Ray executor.

    with replay_service(cfg, run_dir, action_dim) as url: ...   # embedded redis-server, or cfg.replay.url
    env = remote(EnvActor, **placement.env_actor(i)).remote(*env_worker_args(cfg, plan, url, i))
    learner = remote(LearnerActor, **placement.learner()).remote(**learner_args(cfg, plan, url), teachers=...)
    Driver(cfg, plan, learner, spawn_env, executor=RayExecutor(), ...)     # the same driver as `--local`
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray

from deploy.config import Config
from deploy.redis_server import RedisServer, maxmemory_for
from replay import connect
from runtime import LearnerWorker, ReplayEnvWorker

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


class EnvActor(ReplayEnvWorker):
    """A ReplayEnvWorker as a Ray actor: weights arrive as `[ref]` (one object per version, pulled only when this
    actor is behind), and each result carries the process id so the driver counts restarts."""

    def step(self, steps: int, version: int, weights: list | None) -> dict[str, float]:
        behind = bool(weights) and version > self.version
        metrics = super().step(steps, version, ray.get(weights[0]) if behind else None)
        metrics["actor/pid"] = float(os.getpid())
        return metrics


class LearnerActor(LearnerWorker):
    """A LearnerWorker as a Ray actor; says so when Ray assigned a GPU that torch cannot see."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if ray.get_gpu_ids() and self.device.type == "cpu":
            log.warning("Ray assigned GPU %s to the learner, but torch sees no CUDA device: training on CPU",
                        ray.get_gpu_ids())


class RayExecutor:
    """The driver's calls as Ray actor calls: futures are object refs; weights are broadcast as one object."""

    def call(self, worker: Any, method: str, *args) -> ray.ObjectRef:
        return getattr(worker, method).remote(*args)

    def wait(self, futures: list, timeout: float) -> list:
        return ray.wait(futures, num_returns=1, timeout=timeout)[0]

    def get(self, future: ray.ObjectRef) -> Any:
        return ray.get(future)

    def publish(self, learner: Any) -> tuple[list, int]:
        """One object in the store per version; env actors receive its ref (in a list, so Ray does not resolve it
        for every call) and pull it when they are behind."""
        weights_ref, version_ref = learner.publish.options(num_returns=2).remote()
        return [weights_ref], ray.get(version_ref)

    def retire(self, worker: Any) -> None:
        try:
            ray.get(worker.close.remote(), timeout=30)
        finally:
            ray.kill(worker)


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
