"""Pretrain one teacher F^i on one source dataset D_i by Eq. 2 (image log-likelihood + beta * KL, no reward head).

    trainer = Pretrainer(out, episodes, info, model_kwargs, TeacherConfig(steps=...), device="cpu", seed=0)
    summary = trainer.run()

`episodes` is a list of episode dicts (L, ...) from the dataset reader; `info` holds suite, task, action_dim and
manifest_hash of the dataset and is saved with every checkpoint. The last `heldout` episodes are kept out of
training for the quality report. Constructing a Pretrainer on a directory that holds a checkpoint resumes from it:
model, optimiser, step counter and both RNG streams continue exactly where the checkpoint was taken.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from learner import (
    CheckpointError,
    WorldModel,
    autocast,
    checkpoint_exists,
    load_checkpoint,
    pad_action,
    pick_device,
    restore_checkpoint,
    save_checkpoint,
)
from replay import sample_windows
from teachers.config import TeacherConfig

log = logging.getLogger(__name__)
RESUME_HINT = "delete the directory to start this teacher over, or restore it from a copy"


class Pretrainer:
    def __init__(self, out: str | Path, episodes: list[dict], info: dict, model_kwargs: dict, cfg: TeacherConfig, *,
                 device: str = "cpu", seed: int = 0, config: dict | None = None, progress: bool = True):
        """`config`: the run's whole resolved config, saved in the sidecar for the record."""
        heldout = cfg.heldout
        if len(episodes) <= heldout:
            raise ValueError(f"{len(episodes)} episodes cannot hold out {heldout} for the report and still train; "
                             f"collect more episodes or lower teacher.heldout")
        self.out = Path(out)
        self.cfg, self.progress = cfg, progress
        self.device = pick_device(device)
        width = model_kwargs["action_dim"]
        split = len(episodes) - heldout

        def pad(ep):
            return {**ep, "action": pad_action(ep["action"], width)}

        self.train_eps = [pad(ep) for ep in episodes[:split]]
        self.heldout_eps = [pad(ep) for ep in episodes[split:]]
        self.info = {**info, "kwargs": dict(model_kwargs, reward_head=False), "config": config or {}, "seed": seed,
                     "heldout": heldout}
        torch.manual_seed(seed)
        self.model = WorldModel(**self.info["kwargs"]).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, eps=cfg.eps)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        if checkpoint_exists(self.out):
            self._resume()

    def _resume(self) -> None:
        info, tensors = load_checkpoint(self.out, RESUME_HINT)
        for key in ("kwargs", "manifest_hash"):
            if info.get(key) != self.info.get(key):
                raise CheckpointError(
                    f"{self.out}: holds a teacher with {key} {info.get(key)}, not {self.info.get(key)} "
                    f"(another model config or dataset); use a fresh --out directory")
        restore_checkpoint(self._parts(), info, tensors, self.out)
        for group in self.optimizer.param_groups:  # what the config says is what runs, not the saved rates
            group.update(lr=self.cfg.lr, eps=self.cfg.eps)
        torch.set_rng_state(tensors["rng/torch"])
        self.rng.bit_generator.state = info["rng_numpy"]
        self.step = info["step"]
        if info.get("optimiser_moments") == "dropped" and self.step < self.cfg.steps:
            log.warning("%s: a copy without Adam's moments (bench/sources_pack.py); training on from step %d "
                        "restarts them from zero", self.out, self.step)

    def _parts(self) -> dict:
        return {"model": self.model, "optim": self.optimizer}

    def save(self) -> None:
        """Checkpoint now (model, optimiser, step, RNG streams) into `out`."""
        info = {**self.info, "step": self.step, "rng_numpy": self.rng.bit_generator.state}
        save_checkpoint(self.out, self._parts(), info, extra={"rng/torch": torch.get_rng_state()})

    def update(self) -> dict[str, float]:
        """One gradient step of Eq. 2 on a freshly sampled batch; returns `teacher/...` metrics."""
        batch = sample_windows(self.train_eps, self.cfg.batch, self.cfg.seq_len, self.rng)
        with autocast(self.device):
            loss, _, metrics = self.model.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.optimizer.step()
        self.step += 1
        metrics["grad_norm"] = grad_norm
        return {f"teacher/{k}": float(v) for k, v in metrics.items()}

    def run(self) -> dict[str, float]:
        """Train until `steps`, logging every `log_every` and checkpointing every `checkpoint_every` and at the end."""
        writer = SummaryWriter(str(self.out / "tb"), purge_step=self.step)
        kind = "video model" if self.info.get("action_free") else "teacher"
        bar = tqdm(total=self.cfg.steps, initial=self.step, desc=f"{kind} {self.info.get('task', '')}",
                   disable=not self.progress, dynamic_ncols=True)
        metrics: dict[str, float] = {}
        tick, ticked = time.perf_counter(), self.step
        try:
            while self.step < self.cfg.steps:
                metrics = self.update()
                bar.update(1)
                if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                    now = time.perf_counter()
                    metrics["teacher/updates_per_s"] = (self.step - ticked) / max(now - tick, 1e-9)
                    tick, ticked = now, self.step
                    for key, value in metrics.items():
                        writer.add_scalar(key, value, self.step)
                    bar.set_postfix(loss=f"{metrics['teacher/loss']:.1f}", img=f"{metrics['teacher/image_nll']:.1f}",
                                    kl=f"{metrics['teacher/kl']:.2f}", ups=f"{metrics['teacher/updates_per_s']:.2f}")
                if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps:
                    writer.flush()
                    self.save()
        finally:
            bar.close()
            writer.close()
        return metrics
