"""Shared fixtures: a real redis-server on loopback, and tiny episodes in the replay convention."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "support")
sys.path.insert(0, SUPPORT)  # toy_envs: a user's own gymnasium envs for `gym/<module>:<factory>` targets

from deploy.redis_server import RedisServer  # noqa: E402


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray with 2 CPUs for the module's tests (workers render headless); shut down after."""
    import ray

    from deploy.ray_runtime import local_ray

    local_ray(log_to_driver=True)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def redis_server(tmp_path):
    """A fresh password-protected redis-server (AOF on) in a tmp dir; stopped after the test."""
    server = RedisServer(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


def _episode(length: int = 20, size: int = 16, action_dim: int = 3, seed: int = 0, terminal: bool = False,
             task: str = "walker_walk") -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    ep = {
        "image": rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (length, action_dim)).astype(np.float32),
        "reward": rng.uniform(0, 1, length).astype(np.float32),
        "is_first": np.arange(length) == 0,
        "is_last": np.arange(length) == length - 1,
        "is_terminal": (np.arange(length) == length - 1) & terminal,
        "success": np.zeros(length, bool),
    }
    ep["action"][0] = 0
    ep["reward"][0] = 0
    meta = {"suite": "dmc", "task": task, "policy": "random", "seed": seed,
            "return": float(ep["reward"].sum(dtype=np.float64)), "length": length, "render_mode": "fast",
            "size": size, "action_repeat": 2, "action_dim": action_dim}
    return ep, meta


@pytest.fixture
def make_episode():
    """`make_episode(length=20, size=16, action_dim=3, seed=0, terminal=False, task=...) -> (ep, meta)`."""
    return _episode


def _batch(B: int, T: int, size: int, action_dim: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    first = np.zeros((B, T), bool)
    first[:, 0] = True
    return dict(image=rng.integers(0, 255, (B, T, size, size, 3), dtype=np.uint8),
                action=rng.uniform(-1, 1, (B, T, action_dim)).astype(np.float32),
                reward=rng.random((B, T)).astype(np.float32), is_first=first, is_last=np.zeros((B, T), bool),
                is_terminal=np.zeros((B, T), bool))


@pytest.fixture
def make_batch():
    """`make_batch(B, T, size, action_dim, seed=0)` -> a training batch of random (B, T, ...) arrays."""
    return _batch
