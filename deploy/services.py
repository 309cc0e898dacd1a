"""The run's services and the thin Ray layer over runtime/'s objects: Redis, actor wrappers, the Ray executor.

    with replay_service(cfg, run_dir, action_dim) as url: ...   # embedded redis-server, or cfg.replay.url
    env = remote(EnvActor, **placement.env_actor(i)).remote(*env_worker_args(cfg, plan, url, i))
    learner = remote(LearnerActor, **placement.learner()).remote(**learner_args(cfg, plan, url), teachers=...)
    Driver(cfg, plan, learner, spawn_env, executor=RayExecutor(), ...)     # the same driver as `--local`
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray

from deploy.config import Config
from deploy.redis_server import RedisServer, RedisServerError, maxmemory_for
from actors import EvalWorker
from replay import connect
from runtime import LearnerWorker, ReplayEnvWorker, WorkerLost

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
    with server, supervised(server):
        log.info("embedded redis-server on %s (data in %s)", server.url.split("@")[-1], run_dir / "redis")
        yield server.url


@contextlib.contextmanager
def supervised(server: RedisServer, every_s: float = 0.5, restarts: int = 5) -> Iterator[None]:
    """Restart `server` on its append-only file whenever its process dies (at most `restarts` times), while the
    block runs; clients ride out the gap on their retries, and no acknowledged episode is lost."""
    stop = threading.Event()

    def watch() -> None:
        left = restarts
        while not stop.wait(every_s):
            code = server.process.poll() if server.process is not None else None
            if code is None:
                continue
            if left == 0:
                log.error("redis-server died (exit code %s) and its restart budget (%d) is spent", code, restarts)
                return
            left -= 1
            log.warning("redis-server died (exit code %s); restarting it on its append-only file (%d restarts left)",
                        code, left)
            try:
                server.start()
            except RedisServerError as error:
                log.error("redis-server could not be restarted: %s", error)
                return

    thread = threading.Thread(target=watch, name="redis-supervisor", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class EnvActor(ReplayEnvWorker):
    """A ReplayEnvWorker as a Ray actor: weights arrive as `[ref]` (one object per version, pulled only when this
    actor is behind), and each result carries the process id so the driver counts restarts."""

    def pid(self) -> int:
        """This actor's process id (the dashboard's view; fault injection)."""
        return os.getpid()

    def step(self, steps: int, version: int, weights: list | None) -> dict[str, float]:
        behind = bool(weights) and version != self.version
        metrics = super().step(steps, version, ray.get(weights[0]) if behind else None)
        metrics["actor/pid"] = float(os.getpid())
        return metrics


class EvalActor(EvalWorker):
    """An EvalWorker as a Ray actor beside the env actors: weights arrive as `[ref]`, as the env actors' do."""

    def evaluate(self, weights: list, version: int) -> dict[str, float]:
        return super().evaluate(ray.get(weights[0]), version)


class LearnerActor(LearnerWorker):
    """A LearnerWorker as a Ray actor (restarted by Ray from its checkpoint when its process dies); says so when
    Ray assigned a GPU that torch cannot see; each result carries the process id so the driver counts restarts."""

    def __init__(self, *args, teacher_actors: list | None = None, **kwargs):
        """`teacher_actors`: the teacher pools' handles (plain arguments Ray keeps inline, so a restart always has
        them), seen as one `RemoteTeachers`."""
        from deploy.teacher_service import RemoteTeachers

        super().__init__(*args, teachers=RemoteTeachers(teacher_actors) if teacher_actors else None, **kwargs)
        if ray.get_gpu_ids() and self.device.type == "cpu":
            log.warning("Ray assigned GPU %s to the learner, but torch sees no CUDA device: training on CPU",
                        ray.get_gpu_ids())

    def train(self, n_updates: int, env_steps: int = 0) -> dict[str, float]:
        return {**super().train(n_updates, env_steps), "learner/pid": float(os.getpid())}

    pid = EnvActor.pid


class RayExecutor:
    """The driver's calls as Ray actor calls: futures are object refs; weights are broadcast as one object."""

    def call(self, worker: Any, method: str, *args) -> ray.ObjectRef:
        return getattr(worker, method).remote(*args)

    def wait(self, futures: list, timeout: float) -> list:
        return ray.wait(futures, num_returns=1, timeout=timeout)[0]

    def get(self, future: ray.ObjectRef) -> Any:
        try:
            return ray.get(future)
        except ray.exceptions.RayActorError as error:  # dead, restarts spent
            raise WorkerLost(death_cause(error)) from error

    def publish(self, learner: Any) -> tuple[list, int]:
        """One object in the store per version; env actors receive its ref (in a list, so Ray does not resolve it
        for every call) and pull it when they are behind."""
        weights_ref, version_ref = learner.publish.options(num_returns=2).remote()
        return [weights_ref], ray.get(version_ref)

    def retire(self, worker: Any) -> None:
        try:
            ray.get(worker.close.remote(), timeout=30)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as error:
            log.debug("closing %s: %s", worker, error)  # already gone, or stuck: killed below
        finally:
            ray.kill(worker)


def death_cause(error: Exception) -> str:
    """One line for an actor's death: the exception its creation task raised when there was one (the last
    `SomeError: message` line of Ray's text), else the first line Ray gives."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[\w.]+(Error|Exception): ", line)]
    return raised[-1] if raised else lines[0]


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


def control_name(run_dir: Path) -> str:
    """The control actor's name for the run in `run_dir`: its name plus a hash of its full path, so two runs with
    the same directory name on one cluster never share one."""
    return f"control-{run_dir.name}-{hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:8]}"
