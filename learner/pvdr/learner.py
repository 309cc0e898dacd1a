"""PVDR's learner: online adaptation and alignment on replay batches (Luo et al., 2024, Eq. 3-6), on the same
protocol as `learner.Learner` (update / policy_weights / save / restore / init_world_model / version).

    learner = PvdrLearner(spec, PvdrConfig(...), device="cpu", seed=0)
    learner.init_world_model(pretrained_dir)       # the tokenizer and the CVAE of `vid2act pretrain --pvdr`
    metrics = learner.update(batch)                 # Eq. 3, Eq. 4, then (behave) Eq. 5 and PPO's minibatches

Fine-tuned: the decoder and the encoder's last layer (Eq. 3; the rest of the encoder, the embeddings and the
tokenizer stay as pretrained, PVDR's footnote 3) at `finetune_lr`; the prior (Eq. 4) at `finetune_lr`; the
alignment module and its critic (Eq. 5 and PPO) at `actor_lr` / `critic_lr`. A method's `drop` removes terms (its
ablations). A non-finite loss skips that step (nothing moves).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from learner import checkpoint
from learner.batch import to_torch
from learner.optim import DivergenceError, finite_step
from learner.pvdr.adapt import goal_term, snippet, trajectories
from learner.pvdr.agent import PRETRAINED_HINT, _flat_weights, build_pvdr_parts
from learner.pvdr.config import PvdrConfig
from learner.pvdr.cvae import kl_normal


class PvdrLearner:
    def __init__(self, spec, config: PvdrConfig, device: str | torch.device = "cpu", seed: int = 0):
        """`spec`: an AgentSpec of a PVDR method (sizes); `config`: the run's `pvdr.*` (rates, lambdas, PPO)."""
        torch.manual_seed(seed)
        self.spec, self.cfg, self.device = spec, config, torch.device(device)
        self.parts = build_pvdr_parts(spec)
        for module in self.parts:
            module.to(self.device)
        self.parts.tokenizer.eval().requires_grad_(False)
        model = self.parts.model
        tuned = [model.decoder, model.logits, model.inputs.prompt, model.posterior_head]
        self.model_opt = torch.optim.Adam([p for m in tuned for p in m.parameters()], lr=config.finetune_lr)
        prior = [*model.prior_net.parameters(), *model.prior_head.parameters()]
        self.prior_opt = torch.optim.Adam(prior, lr=config.finetune_lr)
        self.drop = set(spec.uses.drop)
        self.generator = torch.Generator().manual_seed(seed)
        self.updates = 0

    @property
    def version(self) -> int:
        return self.updates

    def update(self, batch: dict, teacher_NBTF=None, env_steps: int = 0, behave: bool = True) -> dict[str, float]:
        """One round of Algorithm 1's lines 8, 9 and 12 on a batch of (B, T, ...) windows (T >= m + l + 1)."""
        data = to_torch(batch, self.device)
        m, n, model, tok = self.cfg.context, self.cfg.future, self.parts.model, self.parts.tokenizer
        images = data["image"]
        tokens = tok.encode(images.flatten(0, 1)).unflatten(0, images.shape[:2])
        if tokens.shape[1] < m + n + 1:
            raise ValueError(f"PVDR needs windows of at least m + l + 1 = {m + n + 1} steps, got {tokens.shape[1]}: "
                             f"raise replay.seq_len")
        start = int(torch.randint(0, tokens.shape[1] - m - n + 1, (1,), generator=self.generator))
        x, y = snippet(tokens, start, m, n)
        rec, mean, std = model.reconstruction(x, y)  # Eq. 3
        metrics = {"train/rec_nll": float(rec.detach())}
        finite_step(self.model_opt, rec, self.model_opt.param_groups[0]["params"], 100.0)
        p_mean, p_std = model.prior(x)
        prior_loss = kl_normal(p_mean, p_std, mean.detach(), std.detach()).mean()  # Eq. 4: KL(P || sg[E])
        metrics["train/kl_prior"] = float(prior_loss.detach())
        if "prior_opt" not in self.drop and self.cfg.lambda2:
            goal = data["goal"][:, start + m - 1].float() / 255.0
            distance = goal_term(model, tok, x, p_mean + p_std * torch.randn_like(p_std), goal).mean()
            prior_loss = prior_loss + self.cfg.lambda2 * distance
            metrics["train/plan_goal_distance"] = float(distance.detach())
        finite_step(self.prior_opt, prior_loss, self.prior_opt.param_groups[0]["params"], 100.0)
        if behave:
            metrics.update(self._align(data, tokens, x, mean.detach(), start))
        self.updates += 1
        return metrics

    def _align(self, data: dict, tokens: torch.Tensor, x: torch.Tensor, z_E: torch.Tensor, start: int) -> dict:
        """Eq. 5 on the snippet's (E(x, y), a) pairs, then PPO on the batch's recent trajectories."""
        align, metrics = self.parts.align, {}
        if "act_sl" not in self.drop:
            loss, sl = align.supervised_loss(x, z_E, data["action"][:, start + self.cfg.context].float())
            finite_step(align.actor_opt, loss, align.actor_opt.param_groups[0]["params"], self.cfg.max_grad_norm)
            metrics.update({f"train/{k}": float(v) for k, v in sl.items()})
        if "act_rl" not in self.drop:
            batch = trajectories(data, tokens, self.parts.tokenizer, self.cfg, align.log_prob_key,
                                 min_version=max(0, self.version - self.cfg.max_lag))
            if batch is not None:
                metrics.update({f"train/{k}": v for k, v in align.ppo_update(batch, self.generator).items()})
                metrics["train/align_reward"] = float(batch["next", "reward"].mean())
        return metrics

    def policy_weights(self) -> tuple[dict[str, np.ndarray], int]:
        """(weights, version) for `PvdrPlayer.load`; DivergenceError when any is non-finite (never broadcast)."""
        weights = _flat_weights(self.parts)
        bad = [k for k, v in weights.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            raise DivergenceError(f"training diverged: {len(bad)} PVDR weight arrays hold NaN/inf (e.g. {bad[:3]}) "
                                  f"at update {self.updates}; resume from the last checkpoint with lower rates")
        return weights, self.version

    def _state(self) -> dict:
        align = self.parts.align
        return {**self.parts._asdict(), "model_opt": self.model_opt, "prior_opt": self.prior_opt,
                "actor_opt": align.actor_opt, "critic_opt": align.critic_opt}

    def save(self, directory: str | Path, **extra) -> Path:
        self.policy_weights()  # refuses non-finite weights before anything is written
        checkpoint.save(directory, self._state(), {**extra, "step": self.updates, "spec": self.spec.to_dict()},
                        extra=checkpoint.rng_state(self.generator))
        return Path(directory)

    def restore(self, directory: str | Path) -> dict:
        info, tensors = checkpoint.load(directory, hint="use a fresh --logdir, or delete the run directory")
        self.spec.check_saved(info, directory)
        checkpoint.restore(self._state(), info, tensors, directory)
        checkpoint.restore_rng(self.generator, tensors)
        self.updates = int(info["step"])
        return info

    def init_world_model(self, directory: str | Path) -> None:
        """Start from `vid2act pretrain --pvdr`'s tokenizer and CVAE; CheckpointError when they do not fit."""
        _, tensors = checkpoint.load(directory, hint=PRETRAINED_HINT)
        try:
            checkpoint.restore({"tokenizer": self.parts.tokenizer, "model": self.parts.model}, {"param_groups": {}},
                               tensors, directory)
        except checkpoint.CheckpointError as err:
            raise checkpoint.CheckpointError(f"{err}; train with the pvdr.* sizes it was pretrained with") from None
