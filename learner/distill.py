"""Domain-selective distillation (Eq. 3-4): which teachers the student should listen to, and how hard.

    distiller = DomainDistiller(teacher_feature=F_s, student_feature=F_e, n_teachers=N, cfg=DistillConfig())
    loss, weights_NBT, metrics = distiller(teacher_NBTF, student_BTF, dominant=0)

Eq. 3: w_t^i = softmax_i( f_weight(concat(s_t^i, e_t)) ), per (batch, time), one linear layer to a scalar (in
which e_t cancels under the softmax over i; the `bilinear` option scores s_t^i W e_t instead).
Eq. 4: L_distill = sum_i mean_{b,t}( max(w_floor, w_t^i) * mean_d (u_t^i - e_t)^2 ),  u_t^i = f_distill(s_t^i).
Neither the weights nor e_t are detached: f_weight learns to favour the teacher whose distilled features sit
closest to the student, and the student's encoder and RSSM are pulled toward the teachers. Teacher features
arrive detached (the teachers are frozen).
"""
from __future__ import annotations

import torch
from torch import nn

from learner.config import DistillConfig


class DomainDistiller(nn.Module):
    """f_weight (Eq. 3) and f_distill (Eq. 4) with the weighted distillation loss; the release's form by default,
    the variants of `DistillConfig` (per-teacher heads, mean target, floor placement, distance weights) as options."""

    def __init__(self, teacher_feature: int, student_feature: int, n_teachers: int, cfg: DistillConfig | None = None,
                 uniform: bool = False, domains: list[str] | None = None):
        """`uniform`: Eq. 3 weights fixed at 1/N (`no_domain_weights`); `domains`: the teachers' source task names
        for the metric keys (default 0..N-1)."""
        super().__init__()
        self.cfg = cfg or DistillConfig()
        self.n_teachers, self.uniform = n_teachers, uniform
        self.domains = list(domains) if domains else [str(i) for i in range(n_teachers)]
        if len(self.domains) != n_teachers:
            raise ValueError(f"{len(self.domains)} domain names for {n_teachers} teachers")
        self.f_weight = nn.Bilinear(teacher_feature, student_feature, 1) if self.cfg.weights == "bilinear" else \
            nn.Linear(teacher_feature + student_feature, 1)
        heads = n_teachers if self.cfg.heads == "per_teacher" else 1
        self.f_distill = nn.ModuleList(nn.Linear(teacher_feature, student_feature) for _ in range(heads))

    def weights(self, teacher_NBTF: torch.Tensor, student_BTF: torch.Tensor, dist_NBT: torch.Tensor) -> torch.Tensor:
        """Eq. 3: (N, B, T) domain weights that sum to one over N at every (b, t)."""
        N = teacher_NBTF.shape[0]
        if self.uniform:  # the `no_domain_weights` ablation
            return torch.full(teacher_NBTF.shape[:3], 1.0 / N, device=teacher_NBTF.device)
        if self.cfg.weights == "distance":  # the teacher whose distilled features sit closest to the student
            return torch.softmax(-dist_NBT.detach() / self.cfg.tau, dim=0)
        if self.cfg.weights == "bilinear":  # s^i W e + b: a score that compares each teacher with the student
            student_NBTF = student_BTF.expand(N, *student_BTF.shape).contiguous()
            return torch.softmax(self.f_weight(teacher_NBTF, student_NBTF).squeeze(-1).float(), dim=0)
        pair_NBTX = torch.cat([teacher_NBTF, student_BTF.expand(N, *student_BTF.shape)], -1)
        return torch.softmax(self.f_weight(pair_NBTX).squeeze(-1).float(), dim=0)

    def distill(self, teacher_NBTF: torch.Tensor, domain: int | None = None) -> torch.Tensor:
        """u_t^i = f_distill(s_t^i): teacher features in the student's feature space, (N, B, T, F_e) for all N
        teachers, or (..., F_e) for the features of one `domain`."""
        if len(self.f_distill) == 1:
            return self.f_distill[0](teacher_NBTF)
        if domain is not None:
            return self.f_distill[domain](teacher_NBTF)
        return torch.stack([head(x) for head, x in zip(self.f_distill, teacher_NBTF)])

    def forward(self, teacher_NBTF: torch.Tensor, student_BTF: torch.Tensor, dominant: int = 0):
        """Eq. 4 (the floor on every weight, or only the `dominant` domain's, or none). Returns (loss, weights_NBT,
        metrics)."""
        if teacher_NBTF.shape[0] != self.n_teachers:
            raise ValueError(f"got features of {teacher_NBTF.shape[0]} teachers, the distiller was built for "
                             f"{self.n_teachers}")
        teacher_NBTF = teacher_NBTF.detach()
        dist_NBT = (self.distill(teacher_NBTF) - student_BTF.unsqueeze(0)).float().pow(2).mean(-1)
        weights_NBT = self.weights(teacher_NBTF, student_BTF, dist_NBT)
        floored_NBT = weights_NBT
        if self.cfg.floor == "all":
            floored_NBT = torch.clamp(weights_NBT, min=self.cfg.weight_floor)
        elif self.cfg.floor == "dominant":
            floor_N = torch.zeros(self.n_teachers, device=weights_NBT.device)
            floor_N[dominant] = self.cfg.weight_floor
            floored_NBT = torch.maximum(weights_NBT, floor_N[:, None, None])
        loss = (floored_NBT * dist_NBT).mean((1, 2)).sum()
        mean_N = weights_NBT.detach().mean((1, 2))
        metrics = {"train/distill_loss": loss.detach(),
                   **{f"train/domain_weight/{name}": mean_N[i] for i, name in enumerate(self.domains)},
                   **{f"train/distill_dist/{name}": dist_NBT.detach()[i].mean() for i, name in enumerate(self.domains)}}
        return loss, weights_NBT, metrics


class RunningWeights:
    """Running average of the domain weights: picks the dominant domain and G's source batch (Alg. 1, line 9)."""

    def __init__(self, n: int, decay: float = 0.99):
        self.decay = decay
        self.value = torch.full((n,), 1.0 / n)

    @classmethod
    def of(cls, value: list[float]) -> RunningWeights:
        """Running weights restored from their saved values."""
        running = cls(len(value))
        running.value = torch.tensor(value, dtype=torch.float32)
        return running

    def update(self, weights_NBT: torch.Tensor) -> torch.Tensor:
        mean_N = weights_NBT.detach().float().mean((1, 2)).cpu()
        self.value = self.decay * self.value + (1.0 - self.decay) * mean_N
        return self.value

    def mixture(self, soft: bool) -> torch.Tensor:
        """(N,) weights of each domain's h_G for the actor: the running weights normalised (`soft`) or the dominant
        domain's one-hot (the release's hard switch)."""
        if soft:
            return self.value / self.value.sum()
        return torch.nn.functional.one_hot(torch.tensor(self.dominant()), len(self.value)).float()

    def dominant(self) -> int:
        """"The domain with the highest confidence": argmax of the running weights."""
        return int(self.value.argmax())

    def draw(self, generator: torch.Generator | None = None) -> int:
        """A source domain drawn with probability equal to its running weight (Alg. 1, line 9)."""
        return int(torch.multinomial(self.value / self.value.sum(), 1, generator=generator))
