"""The learner process: replay batches in, updates and versioned policy weights out.

    worker = LearnerWorker(spec, hyper, replay_url=..., teachers=RemoteTeachers(handles), ...)  # or in-process
    metrics = worker.train(n_updates)        # teacher features for batch k+1 are requested while batch k trains
    weights, version = worker.publish()
    worker.save(env_steps)                   # everything needed to resume, in safetensors + JSON

Plain Python around the domain `Learner`: the Redis sampler feeds it, a teacher client (in-process pool or Ray
teacher actors) supplies the frozen teachers' features, and `deploy/train.py` runs it as a Ray actor placed on
the GPU node when there is one.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from deploy.placement import learner_device
from deploy.teacher_service import LocalTeachers
from learner import checkpoint
from learner.learner import AgentSpec, Hyper, Learner
from replay.client import connect
from replay.redis_replay import RedisReplay
from replay.sampler import Sampler
from teachers.pool import TeacherPool

log = logging.getLogger(__name__)


class LearnerWorker:
    def __init__(self, spec: dict, hyper: dict, *, replay_url: str, capacity: int, batch: int, seq_len: int,
                 prefetch: int, teacher_dirs: list[str], source_dirs: list[str], checkpoint_dir: str,
                 teachers=None, device: str = "cpu", seed: int = 0, vae_source_steps: int = 20_000,
                 init_from: str = "", threads: int = 0):
        self.spec = AgentSpec(**spec)
        self.device = learner_device(log, device)
        if self.device.type == "cpu":  # Ray starts actors with one torch thread; the CPU learner is the bottleneck
            torch.set_num_threads(threads or os.cpu_count() or 1)
            log.info("learner: %d torch threads", torch.get_num_threads())
        self.checkpoint_dir = Path(checkpoint_dir)
        pairs, teacher_feature = None, 0
        if self.spec.n_domains:
            teachers = teachers or LocalTeachers(TeacherPool.load(teacher_dirs, self.device))
            teachers.check_compatible(self.spec.model)
            teacher_feature = teachers.feature_size
            if self.spec.guided:
                pairs = [teachers.source_pairs(i, d, vae_source_steps, seed) for i, d in enumerate(source_dirs)]
        self.teachers = teachers
        self.learner = Learner(self.spec, Hyper(**hyper), teacher_feature, pairs, self.device, seed)
        self.replay = RedisReplay(connect(replay_url), capacity)
        self.sampler = Sampler(self.replay, batch, seq_len, seed=seed, prefetch=prefetch)
        self.version, self.env_steps = 0, 0
        self._next: tuple | None = None  # (batch, pending teacher features) one update ahead
        if checkpoint.exists(self.checkpoint_dir):
            self._restore()
        elif init_from:  # the pretrained-DreamerV2 baseline: start from a pretrained world model
            _, tensors = checkpoint.load(init_from, hint="pass a teacher directory from `vid2act pretrain`")
            self.learner.init_world_model(tensors, init_from)
            log.info("student world model initialised from %s", init_from)

    def _fetch(self) -> tuple:
        batch = self.sampler.next()
        return batch, (self.teachers.request(batch) if self.teachers is not None else None)

    def train(self, n_updates: int) -> dict[str, float]:
        """`n_updates` updates; returns the mean of each metric plus `fps/updates`."""
        started, sums = time.perf_counter(), {}
        for _ in range(n_updates):
            batch, pending = self._next or self._fetch()
            self._next = self._fetch()  # overlap: the next batch's teacher features compute while this one trains
            features = self.teachers.resolve(pending) if pending is not None else None
            for key, value in self.learner.update(batch, features).items():
                sums[key] = sums.get(key, 0.0) + value
        metrics = {k: v / max(n_updates, 1) for k, v in sums.items()}
        metrics["fps/updates"] = n_updates / (time.perf_counter() - started)
        metrics["train/updates"] = float(self.learner.updates)
        metrics.update({k: float(v) for k, v in self.replay.stats().items()})
        return metrics

    def publish(self) -> tuple[dict[str, np.ndarray], int]:
        """The current policy weights and their new version number."""
        self.version += 1
        return self.learner.policy_weights(), self.version

    def domain_weights(self) -> list[float]:
        return self.learner.running.value.tolist()

    def save(self, env_steps: int) -> str:
        """Models, optimisers and counters; the replay's own position lives in Redis."""
        self.env_steps = env_steps
        info = {"step": self.learner.updates, "version": self.version, "env_steps": env_steps,
                "ac_updates": self.learner.ac.updates, "running_weights": self.learner.running.value.tolist(),
                "spec": self.spec.to_dict()}
        checkpoint.save(self.checkpoint_dir, self.learner.modules(), info)
        return str(self.checkpoint_dir)

    def _restore(self) -> None:
        info, tensors = checkpoint.load(self.checkpoint_dir, hint="delete it to start the run over")
        if info["spec"] != self.spec.to_dict():
            raise checkpoint.CheckpointError(f"{self.checkpoint_dir}: saved for another model/method "
                                             f"({info['spec']}); use a fresh logdir")
        checkpoint.restore(self.learner.modules(), info, tensors, self.checkpoint_dir)
        self.learner.updates, self.learner.ac.updates = info["step"], info["ac_updates"]
        self.learner.running.value = torch.tensor(info["running_weights"])
        self.version, self.env_steps = info["version"], info["env_steps"]
        log.info("learner resumed from %s at update %d (env step %d)", self.checkpoint_dir, info["step"],
                 info["env_steps"])

    def counters(self) -> dict[str, int]:
        return {"updates": self.learner.updates, "version": self.version, "env_steps": self.env_steps}

    def close(self) -> None:
        self.sampler.close()
