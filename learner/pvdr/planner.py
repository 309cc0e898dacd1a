"""Planning toward a visual goal (PVDR, Luo et al., 2024, Sec. 4.2, Eq. 2): sample N representations from the prior,
decode each into a visual plan, keep the one whose plan is closest (L1) to the goal image.

    plan = plan_toward(model, tokenizer, x_BmHW, goal_BHWC, candidates=16)
    plan.z (B, h, w, Z), plan.tokens (B, l, h, w), plan.frames (B, l, H, W, 3) in [0, 1], plan.distance (B,)

`distance` is Eq. 2's ||y_hat - g||_1 per plan, as the mean absolute pixel difference ([0, 1] scale) over the l
predicted frames, each compared with the goal.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from learner.pvdr.cvae import VisualDynamicsModel
from learner.pvdr.tokenizer import Tokenizer


class Plan(NamedTuple):
    z: torch.Tensor
    tokens: torch.Tensor
    frames: torch.Tensor
    distance: torch.Tensor


def goal_distance(frames_BlHWC: torch.Tensor, goal_BHWC: torch.Tensor) -> torch.Tensor:
    """Mean |frame - goal| over a plan's frames and pixels ([0, 1] scale): (B, l, H, W, 3), (B, H, W, 3) -> (B,)."""
    return (frames_BlHWC - goal_BHWC[:, None]).abs().flatten(1).mean(1)


@torch.no_grad()
def plan_toward(model: VisualDynamicsModel, tokenizer: Tokenizer, x_BmHW: torch.Tensor, goal_BHWC: torch.Tensor,
                candidates: int, random_z: bool = False) -> Plan:
    """Eq. 2 for each of B contexts: the best of `candidates` z ~ P(z | x) (z ~ N(0, I) and no choice when
    `random_z`: the `pvdr_random_z` ablation). `goal_BHWC` float in [0, 1]."""
    B, N = len(x_BmHW), 1 if random_z else candidates  # a random z is not chosen: one plan per context
    x = x_BmHW.repeat_interleave(N, 0)  # (B*N, m, h, w), candidate-minor
    if random_z:
        z = torch.randn(B, model.cfg.grid, model.cfg.grid, model.cfg.z_dim, device=x.device)
    else:
        mean, std = model.prior(x)
        z = mean + std * torch.randn_like(std)
    tokens = model.generate(x, z)  # (B*N, l, h, w)
    frames = tokenizer.decode(tokens.flatten(0, 1)).unflatten(0, tokens.shape[:2])
    return choose(Plan(*(v.unflatten(0, (B, N)) for v in (z, tokens, frames)), None), goal_BHWC)


def choose(drawn: Plan, goal_BHWC: torch.Tensor) -> Plan:
    """Eq. 2's argmin: of N candidate plans per context ((B, N, ...) z, tokens, frames; `distance` unused), the one
    whose frames are nearest the goal (B, H, W, 3)."""
    B, N = drawn.frames.shape[:2]
    distance = goal_distance(drawn.frames.flatten(0, 1), goal_BHWC.repeat_interleave(N, 0)).view(B, N)
    best, rows = distance.argmin(1), torch.arange(B)
    return Plan(drawn.z[rows, best], drawn.tokens[rows, best], drawn.frames[rows, best], distance[rows, best])
