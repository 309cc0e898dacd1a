"""The Ray client of the teacher-features protocol: teacher actors (each a `teachers.TeacherService` over a group
of the teachers, with its own CPU/GPU share) seen by the learner as one `teachers.Teachers`.

    handles = start_teacher_actors(dirs, groups=2, num_cpus=1, num_gpus=0.25)
    teachers = RemoteTeachers(handles)                # request puts the batch in the object store once
    feat_NBTF = remote_features(handles, batch)      # (N, B, T, F) float32 numpy, teachers in `dirs` order

Domain logic stays in `teachers/`; this file only decides where it runs.
"""
from __future__ import annotations

import numpy as np
import ray
import torch

from deploy.ray_runtime import remote
from teachers import BATCH_KEYS, TeacherService, domain_names


def start_teacher_actors(dirs: list[str], *, groups: int = 1, num_cpus: float = 1, num_gpus: float | None = None,
                         name: str | None = None, cluster: dict | None = None) -> list:
    """`groups` actors splitting `dirs` into contiguous groups; returns their handles.

    Placement (custom resources, GPU share of `cluster`, default `placement.available()`) comes from
    `deploy.placement.teacher_actor` unless `num_gpus` is given;
    an actor granted a GPU evaluates its teachers on CUDA. Names: `teacher-pool-<g>` (or `{name}-{g}`).
    """
    from deploy import placement

    if not dirs:
        raise ValueError("no teacher directories given (train.teachers is empty)")
    split = np.array_split(np.arange(len(dirs)), max(1, min(groups, len(dirs))))
    threads = max(1, int(num_cpus))
    handles = []
    for g, idx in enumerate(split):
        options = placement.teacher_actor(g, cluster, teacher_pools=len(split), num_cpus=num_cpus)
        if num_gpus is not None:
            options["num_gpus"] = num_gpus
        if name:
            options["name"] = f"{name}-{g}"
        device = "cuda" if options.get("num_gpus") else "cpu"
        handles.append(remote(TeacherService, **options, max_restarts=3, max_task_retries=-1).remote(  # stateless
            [str(dirs[i]) for i in idx], device, threads))
    return handles


class RemoteTeachers:
    """Teacher actors seen as one pool: `request` puts the batch in the object store once and asks every actor;
    `resolve` waits and concatenates, so the learner can train on one batch while the next one's features compute.
    The learner holds no teacher itself: compatibility checks and the action VAE's source features run remotely."""

    def __init__(self, handles: list):
        self.handles = handles
        described = ray.get([h.describe.remote() for h in handles])
        self.feature_size = described[0]["feature_size"]
        self.domains = domain_names([task for d in described for task in d["tasks"]])
        self._where = [(h, i) for h, d in zip(handles, described) for i in range(d["n"])]  # teacher -> (actor, i)

    def check_compatible(self, student_kwargs: dict) -> None:
        ray.get([h.check_compatible.remote(student_kwargs) for h in self.handles])

    def source_pairs(self, index: int, dataset_dir: str, max_steps: int, seed: int):
        handle, local = self._where[index]
        feats, actions = ray.get(handle.source_pairs.remote(local, dataset_dir, max_steps, seed))
        return torch.tensor(feats), torch.tensor(actions)  # copies: Ray hands back read-only arrays

    def videos(self, sequence: dict) -> dict[str, np.ndarray]:
        return {name: video for part in ray.get([h.videos.remote(sequence) for h in self.handles])
                for name, video in part.items()}

    def request(self, batch: dict) -> list:
        ref = ray.put({k: np.asarray(batch[k]) for k in BATCH_KEYS})
        return [handle.features.remote(ref) for handle in self.handles]

    def resolve(self, pending: list) -> np.ndarray:
        return np.concatenate(ray.get(pending), 0)  # (N, B, T, F), teachers in `dirs` order


def remote_features(handles: list, batch: dict) -> np.ndarray:
    """One synchronous round trip: (N, B, T, F) float32."""
    teachers = RemoteTeachers(handles)
    return teachers.resolve(teachers.request(batch))
