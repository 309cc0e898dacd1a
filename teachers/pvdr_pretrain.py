"""Pretrain PVDR's video models on source frames (Luo et al., 2024, Sec. 4.1; Algorithm 1, lines 3-5): first the
visual tokenizer, then the visual dynamics CVAE (Eq. 1) on token snippets of m + l frames. No actions are read.

    trainer = PvdrPretrainer(out, episodes, info, PvdrConfig(...), image_size=64, device="cpu", seed=0)
    summary = trainer.run()        # resumes from `out` if it holds a checkpoint (stage, steps, optimisers, RNGs)
    report = trainer.report(out / "report")   # snippets: truth / from the posterior / planned from the prior

Held out: the last `heldout` episodes, for the report.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from learner import CheckpointError, checkpoint_exists, load_checkpoint, pick_device, restore_checkpoint, \
    save_checkpoint
from learner import PVDR_SIZES, PvdrConfig, Tokenizer, VisualDynamicsModel
from replay import sample_windows
from teachers.pvdr_report import write_snippet_report

RESUME_HINT = "delete the directory to pretrain PVDR's models over, or restore it from a copy"
CHECKPOINT_EVERY = 200


def _fingerprint(info: dict) -> dict:
    """What a resumed pretraining must share with its checkpoint: the module sizes, the frame size and the data."""
    return {"sizes": {k: info["pvdr"].get(k) for k in PVDR_SIZES}, "image_size": info.get("image_size"),
            "manifest_hash": info.get("manifest_hash")}


class PvdrPretrainer:
    def __init__(self, out: str | Path, episodes: list[dict], info: dict, cfg: PvdrConfig, *, image_size: int,
                 heldout: int = 2, device: str = "cpu", seed: int = 0, config: dict | None = None,
                 progress: bool = True):
        if len(episodes) <= heldout:
            raise ValueError(f"{len(episodes)} episodes cannot hold out {heldout} for the report and still train; "
                             f"collect more episodes or lower teacher.heldout")
        self.out, self.cfg, self.progress = Path(out), cfg, progress
        self.device = pick_device(device)
        self.train_eps, self.heldout_eps = episodes[:-heldout], episodes[-heldout:]
        self.info = {**info, "pvdr": asdict(cfg), "image_size": image_size, "config": config or {}, "seed": seed,
                     "heldout": heldout}
        torch.manual_seed(seed)
        self.tokenizer = Tokenizer(image_size, cfg.grid, cfg.codebook, cfg.code_dim, cfg.channels).to(self.device)
        self.model = VisualDynamicsModel(cfg).to(self.device)
        self.tok_opt = torch.optim.Adam(self.tokenizer.parameters(), lr=cfg.lr)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.rng = np.random.default_rng(seed)
        self.tokenizer_step, self.step = 0, 0
        if checkpoint_exists(self.out):
            self._resume()

    def _parts(self) -> dict:
        return {"tokenizer": self.tokenizer, "tokenizer_opt": self.tok_opt, "model": self.model, "model_opt": self.opt}

    def _resume(self) -> None:
        info, tensors = load_checkpoint(self.out, RESUME_HINT)
        saved, here = _fingerprint(info), _fingerprint(self.info)
        for key in here:  # the shapes and the data must match; steps and rates may change on resume
            if saved[key] != here[key]:
                raise CheckpointError(f"{self.out}: holds PVDR models with {key} {saved[key]}, not {here[key]} "
                                      f"(another config or dataset); use a fresh --out directory")
        restore_checkpoint(self._parts(), info, tensors, self.out)
        for opt in (self.tok_opt, self.opt):  # what the config says is what runs, not the saved rates
            for group in opt.param_groups:
                group.update(lr=self.cfg.lr)
        torch.set_rng_state(tensors["rng/torch"])
        self.rng.bit_generator.state = info["rng_numpy"]
        self.tokenizer_step, self.step = info["tokenizer_step"], info["step"]

    def save(self) -> None:
        info = {**self.info, "step": self.step, "tokenizer_step": self.tokenizer_step,
                "rng_numpy": self.rng.bit_generator.state}
        save_checkpoint(self.out, self._parts(), info, extra={"rng/torch": torch.get_rng_state()})

    def tokens(self, frames_BTHWC: np.ndarray) -> torch.Tensor:
        """uint8 frames (B, T, H, W, 3) -> token indices (B, T, grid, grid) by the (frozen) tokenizer."""
        frames = torch.as_tensor(frames_BTHWC, device=self.device)
        return self.tokenizer.encode(frames.flatten(0, 1)).unflatten(0, frames.shape[:2])

    def tokenizer_update(self) -> dict[str, float]:
        frames = sample_windows(self.train_eps, 4 * self.cfg.batch, 1, self.rng)["image"][:, 0]
        loss, metrics = self.tokenizer.loss(torch.as_tensor(frames, device=self.device))
        self.tok_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.tok_opt.step()
        self.tokenizer_step += 1
        return {f"pvdr/tokenizer_{k}": float(v) for k, v in metrics.items()}

    def cvae_update(self) -> dict[str, float]:
        snippet = self.tokens(sample_windows(self.train_eps, self.cfg.batch, self.cfg.snippet, self.rng)["image"])
        m = self.cfg.context
        loss, metrics = self.model.loss(snippet[:, :m], snippet[:, m:])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 100.0)
        self.opt.step()
        self.step += 1
        return {f"pvdr/{k}": float(v) for k, v in metrics.items()}

    def run(self) -> dict[str, float]:
        """The tokenizer to `tokenizer_steps`, then the CVAE to `steps`; logs and checkpoints on the way."""
        writer = SummaryWriter(str(self.out / "tb"))
        metrics: dict[str, float] = {}
        try:
            for name, total, update, done in (
                    ("tokenizer", self.cfg.tokenizer_steps, self.tokenizer_update, lambda: self.tokenizer_step),
                    ("dynamics CVAE", self.cfg.steps, self.cvae_update, lambda: self.step)):
                bar = tqdm(total=total, initial=done(), desc=f"PVDR {name}", disable=not self.progress,
                           dynamic_ncols=True)
                while done() < total:
                    metrics = update()
                    bar.update(1)
                    if done() % 10 == 0 or done() == total:
                        for key, value in metrics.items():
                            writer.add_scalar(key, value, self.tokenizer_step + self.step)
                        bar.set_postfix({k.split("/")[-1]: f"{v:.3g}" for k, v in list(metrics.items())[:3]})
                    if done() % CHECKPOINT_EVERY == 0 or done() == total:
                        self.save()
                bar.close()
        finally:
            writer.close()
        return metrics

    def report(self, out: str | Path) -> dict:
        """Predicted snippets beside the truth on the held-out episodes (`teachers/pvdr_report.py`)."""
        return write_snippet_report(self.tokenizer, self.model, self.heldout_eps, out,
                                    title=f"PVDR on {self.info.get('task', '?').replace(',', ', ')} after "
                                          f"{self.step} CVAE steps, held-out episodes")
