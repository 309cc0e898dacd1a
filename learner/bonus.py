"""APV's video-based intrinsic bonus (Seo et al., 2022, Eq. 5-6): reward the diversity of the action-free states.

    bonus = VideoBonus(feature_size=F_af, cfg=ApvConfig().for_suite("dmc"), seed=0)
    target_BT, metrics = bonus.reward_target(af_feat_BTF, reward_BT)    # T' = T - L + 1 steps

Per batch: the action-free model's features (B, T, F) are average-pooled over windows of L steps (B, T', F), mapped
by a fixed random projection to (B, T', D) and pushed into a queue of the most recent projections; r_int of each is
its distance to the k-th nearest neighbour in the queue (itself included, as in the release), divided by a running
mean of |r_int| (DreamerV2's StreamNorm). The reward head then learns r + beta * r_int on the first T' steps (the
release trains it there only). No gradient flows into the bonus or through it. Its state (projection, queue, norm)
lives in buffers, so a learner checkpoint holds it.
"""
from __future__ import annotations

import torch
from torch import nn

from learner.config import ApvConfig


class VideoBonus(nn.Module):
    def __init__(self, feature_size: int, cfg: ApvConfig, seed: int = 0):
        """`cfg` resolved for the suite (`ApvConfig.for_suite`): its beta is used as given."""
        super().__init__()
        if cfg.beta < 0:
            raise ValueError("VideoBonus needs a resolved beta: pass ApvConfig.for_suite(suite)")
        self.window, self.k, self.beta, self.momentum = cfg.window, cfg.k, cfg.beta, cfg.norm_momentum
        generator = torch.Generator().manual_seed(seed)
        self.register_buffer("projection", torch.randn(feature_size, cfg.proj_dim, generator=generator) / cfg.proj_dim)
        self.register_buffer("queue", torch.zeros(cfg.queue, cfg.proj_dim))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("magnitude", torch.ones(()))

    @torch.no_grad()
    def project(self, feat_BTF: torch.Tensor) -> torch.Tensor:
        """Eq. 5: average-pool over windows of L steps, then the fixed projection: (B, T, F) -> (B, T - L + 1, D).
        ValueError when T < L."""
        T = feat_BTF.shape[1]
        if T < self.window:
            raise ValueError(f"sequences of {T} steps are shorter than the bonus window apv.window={self.window}: "
                             f"raise replay.seq_len or lower apv.window")
        pooled = feat_BTF.detach().float().unfold(1, self.window, 1).mean(-1)  # (B, T', F)
        return pooled @ self.projection

    @torch.no_grad()
    def forward(self, feat_BTF: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 6: (B, T, F) action-free features -> normalised r_int (B, T - L + 1) and `intr_*` metrics;
        the queue and the running norm move on, unless a feature is non-finite (NaN r_int then: that batch's update is
        skipped, and the bonus' state stays as it was)."""
        proj = self.project(feat_BTF)
        B, T1, D = proj.shape
        flat = proj.reshape(B * T1, D)
        if not torch.isfinite(flat).all():
            nan = torch.full((B, T1), float("nan"))
            return nan, {"intr_reward_raw": nan.mean(), "intr_reward": nan.mean(), "intr_queue": self.filled.float()}
        size = len(self.queue)
        self.queue.copy_(torch.cat([flat[:size], self.queue])[:size])  # the newest first, as the release's
        self.filled.fill_(min(int(self.filled) + len(flat), size))
        dist = torch.cdist(flat, self.queue[:int(self.filled)])  # (N, M)
        k = min(self.k, dist.shape[1])
        raw = dist.topk(k, dim=1, largest=False).values[:, -1]  # the k-th nearest (Eq. 6)
        self.magnitude.mul_(self.momentum).add_((1 - self.momentum) * raw.abs().mean())
        r_int = (raw / (self.magnitude + 1e-8)).view(B, T1)
        return r_int, {"intr_reward_raw": raw.mean(), "intr_reward": r_int.mean(),
                       "intr_queue": self.filled.float()}

    def reward_target(self, feat_BTF: torch.Tensor, reward_BT: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The reward head's target r + beta * r_int on the first T - L + 1 steps, and the bonus' metrics."""
        r_int, metrics = self(feat_BTF)
        return reward_BT[:, :r_int.shape[1]] + self.beta * r_int.to(reward_BT.dtype), metrics
