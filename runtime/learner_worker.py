"""The learner's process: replay batches in, updates and versioned policy weights out.

    worker = LearnerWorker(**learner_args(cfg, plan, url), teachers=None)   # teachers in this process, or a client
    metrics = worker.train(n_updates, env_steps)  # teacher features for batch k+1 computed while batch k trains
    weights, version = worker.publish()
    worker.save(env_steps)                   # the learner's whole state, in safetensors + JSON

Plain Python around the domain `Learner`: the Redis sampler feeds it and a `teachers.Teachers` implementation (the
pool in this process, or deploy's client of teacher actors) supplies the frozen teachers' features. The learner
owns its state: this worker only asks it to save and restore.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
import torch

from learner import AgentSpec, LearnerConfig, checkpoint_exists, pick_device
from replay import RedisReplay, Sampler, connect
from teachers import LocalTeachers, TeacherPool, Teachers, openloop_video, snippet_video

log = logging.getLogger(__name__)
BATCH_WAIT_S = 60.0
"""Seconds without a batch before the learner logs why (and again every as many seconds)."""


def learner_device(name: str = "auto") -> torch.device:
    """The learner's torch device (`auto`, `cpu`, `cuda[:N]`), logged; a warning when `auto` finds no GPU."""
    device = pick_device(name)
    if device.type == "cuda":
        log.info("learner on %s (%s)", device, torch.cuda.get_device_name(device))
    elif name == "auto":
        log.warning("no GPU visible to the learner: training on CPU")
    return device


class LearnerWorker:
    def __init__(self, spec: dict, config: dict, *, replay_url: str, capacity: int, batch: int, seq_len: int,
                 prefetch: int, teacher_dirs: list[str], source_dirs: list[str], checkpoint_dir: str,
                 teachers: Teachers | None = None, device: str = "cpu", seed: int = 0, init_from: str = "",
                 threads: int = 0, suite: str = "dmc"):
        from learner import make_learner  # the training code: loaded where training happens

        self.spec = AgentSpec.from_dict(spec)
        self.device = learner_device(device)
        if self.device.type == "cpu":  # Ray starts actors with one torch thread; the CPU learner is the bottleneck
            torch.set_num_threads(threads or os.cpu_count() or 1)
            log.info("learner: %d torch threads", torch.get_num_threads())
        self.checkpoint_dir = Path(checkpoint_dir)
        config = LearnerConfig.from_dict(config)
        pairs, feature, domains = None, 0, None
        if self.spec.teachers:
            teachers = teachers or LocalTeachers(TeacherPool.load(teacher_dirs, self.device))
            teachers.check_compatible(self.spec.model)
            feature, domains = teachers.feature_size, teachers.domains
            if self.spec.guided:
                pairs = [teachers.source_pairs(i, d, config.vae.source_steps, seed) for i, d in enumerate(source_dirs)]
        self.teachers = teachers if self.spec.teachers else None
        self.learner = make_learner(self.spec, config, feature, pairs, self.device, seed, domains=domains, suite=suite)
        self.replay = RedisReplay(connect(replay_url), capacity)
        self.sampler = Sampler(self.replay, batch, seq_len, seed=seed, prefetch=prefetch)
        self.env_steps = 0
        self._next: tuple | None = None  # (batch, pending teacher features) one update ahead
        self.last: dict | None = None  # the last batch trained on (for the open-loop videos)
        if checkpoint_exists(self.checkpoint_dir):
            self.env_steps = int(self.learner.restore(self.checkpoint_dir).get("env_steps", 0))
            log.info("learner resumed from %s at update %d (env step %d)", self.checkpoint_dir, self.learner.updates,
                     self.env_steps)
        elif init_from:  # pretrained-DreamerV2 (a teacher's world model) or APV (an action-free video model)
            self.learner.init_world_model(init_from)
            log.info("student world model initialised from %s", init_from)

    def _fetch(self) -> tuple:
        while True:  # a learner that gets no batch says why, once a minute, in the run's log
            try:
                batch = self.sampler.next(timeout=BATCH_WAIT_S)
                break
            except TimeoutError as error:
                log.warning("learner: %s", error)
        return batch, (self.teachers.request(batch) if self.teachers is not None else None)

    def train(self, n_updates: int, env_steps: int = 0) -> dict[str, float]:
        """`n_updates` updates at the run's `env_steps` (the learner's schedules read it); returns the mean of each
        metric plus `fps/updates`, `train/updates`, `replay/`."""
        started, sums = time.perf_counter(), {}
        for _ in range(n_updates):
            batch, pending = self._next or self._fetch()
            self.last = batch
            # teacher actors compute the next batch's features while this one trains (in-process teachers, here)
            self._next = self._fetch()
            features = self.teachers.resolve(pending) if pending is not None else None
            for key, value in self.learner.update(batch, features, env_steps).items():
                sums[key] = sums.get(key, 0.0) + value
        metrics = {k: v / max(n_updates, 1) for k, v in sums.items()}
        metrics["fps/updates"] = n_updates / (time.perf_counter() - started)
        metrics["train/updates"] = float(self.learner.updates)
        metrics.update({k: float(v) for k, v in {**self.replay.stats(), **self.sampler.stats()}.items()})
        return metrics

    def videos(self, context: int = 5) -> dict[str, np.ndarray]:
        """Open-loop videos (truth | model | error, (T, H, 3W, 3) uint8) of the first sequence of the last batch:
        `video/openloop/student` and, with teachers, `video/openloop/teacher/<source>`; {} before any batch."""
        if self.last is None:
            return {}
        sequence = {k: np.asarray(self.last[k][0]) for k in ("image", "action", "is_first")}
        if self.spec.uses.pvdr:  # truth | tokenizer | z = E(x, y) | z = P(x) over one snippet
            parts = self.learner.parts
            return {"video/snippet/pvdr": snippet_video(parts.tokenizer, parts.model, sequence["image"])}
        videos = {"video/openloop/student": openloop_video(self.learner.model, sequence, context)}
        if self.teachers is not None:
            videos.update({f"video/openloop/teacher/{name}": video
                           for name, video in self.teachers.videos(sequence).items()})
        return videos

    def publish(self) -> tuple[dict[str, np.ndarray], int]:
        """The current policy weights and their version."""
        return self.learner.policy_weights()

    def save(self, env_steps: int) -> str:
        """The learner's state, with the env steps reached; the replay's own position lives in Redis."""
        self.env_steps = env_steps
        return str(self.learner.save(self.checkpoint_dir, env_steps=env_steps))

    def counters(self) -> dict[str, int]:
        return {"updates": self.learner.updates, "version": self.learner.version, "env_steps": self.env_steps}

    def close(self) -> None:
        self.sampler.close()

