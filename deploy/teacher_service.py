"""The frozen teacher pool behind Ray actors. The learner puts a batch in the object store once; each actor (a
group of the teachers with its own CPU/GPU share) computes its teachers' features; the results concatenate.

    handles = start_teacher_actors(dirs, groups=2, num_cpus=1, num_gpus=0.25)
    feat_NBTF = remote_features(handles, batch)      # (N, B, T, F) float32 numpy, teachers in `dirs` order

`TeacherService` is a plain class; `deploy.ray_runtime.remote` makes it an actor (as deploy/train.py does).
Domain logic stays in teachers.TeacherPool; this file only decides where it runs.
"""
from __future__ import annotations

import numpy as np
import ray
import torch

from deploy.ray_runtime import remote
from teachers import TeacherPool

BATCH_KEYS = ("image", "action", "is_first")


class TeacherService:
    """Actor body: a TeacherPool over a group of teacher directories; numpy in, numpy out."""

    def __init__(self, dirs: list[str], device: str = "cpu", threads: int = 0):
        if threads:
            torch.set_num_threads(threads)
        self.pool = TeacherPool.load(dirs, device)

    def describe(self) -> dict:
        return {"n": self.pool.n, "feature_size": self.pool.feature_size, "action_dim": self.pool.action_dim,
                "kwargs": self.pool.kwargs, "tasks": self.pool.tasks}

    def features(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(N_group, B, T, F) float32 for a dict of (B, T, ...) arrays (an object-store ref resolves to it)."""
        return self.pool.features(batch["image"], batch["action"], batch["is_first"]).float().cpu().numpy()


def start_teacher_actors(dirs: list[str], *, groups: int = 1, num_cpus: float = 1, num_gpus: float = 0,
                         device: str = "cpu", name: str = "teachers") -> list:
    """`groups` named actors (`{name}-{g}`) splitting `dirs` into contiguous groups; returns their handles."""
    if not dirs:
        raise ValueError("no teacher directories given (train.teachers is empty)")
    split = np.array_split(np.arange(len(dirs)), max(1, min(groups, len(dirs))))
    threads = max(1, int(num_cpus))
    return [remote(TeacherService, name=f"{name}-{g}", num_cpus=num_cpus, num_gpus=num_gpus)
            .remote([str(dirs[i]) for i in idx], device, threads) for g, idx in enumerate(split)]


def remote_features(handles: list, batch: dict) -> np.ndarray:
    """Put the batch's image/action/is_first in the object store once, ask every actor, concatenate: (N, B, T, F)."""
    ref = ray.put({k: np.asarray(batch[k]) for k in BATCH_KEYS})
    return np.concatenate(ray.get([handle.features.remote(ref) for handle in handles]), 0)
