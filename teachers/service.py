"""The teacher-features protocol: what the learner asks of the frozen teachers, wherever they run.

    teachers = LocalTeachers(TeacherPool.load(dirs, device))   # in the learner's process
    pending = teachers.request(batch)          # start computing features of a (B, T, ...) batch
    feat_NBTF = teachers.resolve(pending)      # (N, B, T, F) float32, teachers in pool order
    feats_MF, actions_MA = teachers.source_pairs(i, dataset_dir, max_steps, seed)    # the action VAE's pairs
    teachers.domains                            # source task names: how metrics of teacher i are named
    teachers.videos(sequence)                   # {source task: open-loop video of a (T, ...) target sequence}

`deploy/` implements the same protocol over Ray teacher actors (each a `TeacherService`, the numpy-speaking
in-process implementation below), so the learner sees one interface whether the teachers share its process or not.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from learner import CheckpointError, read_checkpoint_info
from teachers.pool import TeacherPool
from teachers.report import openloop_video
from teachers.sources import dataset_pairs

BATCH_KEYS = ("image", "action", "is_first")
"""The batch fields teachers read."""


class Teachers(Protocol):
    """Frozen teacher features on request; `request` may return before the features are computed."""

    feature_size: int
    domains: list[str]

    def check_compatible(self, student_kwargs: dict) -> None: ...

    def request(self, batch: dict) -> Any: ...

    def resolve(self, pending: Any) -> torch.Tensor | np.ndarray: ...

    def source_pairs(self, index: int, dataset_dir: str, max_steps: int, seed: int) -> tuple: ...

    def videos(self, sequence: dict) -> dict[str, np.ndarray]: ...


def domain_names(tasks: list[str]) -> list[str]:
    """`dmc/walker_walk` -> `walker_walk`: the names metric keys carry (`train/domain_weight/walker_walk`)."""
    return [task.split("/", 1)[-1] for task in tasks]


class LocalTeachers:
    """The frozen pool in the caller's process (`train.teacher_actors=0`): features computed when requested."""

    def __init__(self, pool: TeacherPool):
        self.pool, self.feature_size, self.domains = pool, pool.feature_size, domain_names(pool.tasks)

    def check_compatible(self, student_kwargs: dict) -> None:
        self.pool.check_compatible(student_kwargs)

    def request(self, batch: dict) -> torch.Tensor:
        return self.pool.features(batch["image"], batch["action"], batch["is_first"])

    def resolve(self, pending: torch.Tensor) -> torch.Tensor:
        return pending

    def source_pairs(self, index: int, dataset_dir: str, max_steps: int, seed: int):
        return dataset_pairs(self.pool, index, dataset_dir, max_steps, seed)

    def videos(self, sequence: dict) -> dict[str, np.ndarray]:
        """{source task: each teacher's open-loop video (`openloop_video`) of one (T, ...) target sequence}: how
        well each teacher predicts the target."""
        return {name: openloop_video(model, sequence) for name, model in zip(self.domains, self.pool.models)}


class TeacherService(LocalTeachers):
    """A group of teachers that speaks numpy in and out: the body of a teacher actor (deploy/ makes it one)."""

    def __init__(self, dirs: list[str], device: str = "cpu", threads: int = 0):
        if threads:
            torch.set_num_threads(threads)
        super().__init__(TeacherPool.load(dirs, device))

    def describe(self) -> dict:
        return {"n": self.pool.n, "feature_size": self.pool.feature_size, "action_dim": self.pool.action_dim,
                "kwargs": self.pool.kwargs, "tasks": self.pool.tasks}

    def features(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """(N_group, B, T, F) float32 for a dict of (B, T, ...) arrays (an object-store ref resolves to it)."""
        return self.request(batch).float().cpu().numpy()

    def source_pairs(self, index: int, dataset_dir: str, max_steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """The action VAE's (features, actions) of this group's teacher `index` on its source dataset."""
        feats, actions = super().source_pairs(index, dataset_dir, max_steps, seed)
        return feats.float().cpu().numpy(), actions.numpy()


def teacher_info(directory: str | Path) -> dict:
    """A teacher checkpoint's sidecar (suite, task, dataset, model kwargs) without loading its tensors.
    CheckpointError naming the file and how to make it when it is missing or unreadable."""
    hint = f"pretrain it with `vid2act pretrain --dataset <source> --out {directory}` or fix train.teachers"
    if (Path(directory) / "manifest.json").is_file():
        hint = (f"{directory} is a source dataset: pretrain a teacher from it (`vid2act pretrain --dataset "
                f"{directory} --out runs/teachers/{Path(directory).name}`) and pass that")
    info = read_checkpoint_info(directory, hint)
    if not isinstance(info.get("kwargs"), dict) or "suite" not in info:
        raise CheckpointError(f"{Path(directory) / 'checkpoint.json'}: not a teacher checkpoint (no suite or model "
                              f"kwargs); {hint}")
    return info
