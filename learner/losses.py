"""World-model losses as pure functions (Eq. 2 and the model terms of Eq. 5).

Every function takes tensors and plain numbers and returns tensors; nothing here owns parameters.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_gaussian(mean_p, std_p, mean_q, std_q) -> torch.Tensor:
    """KL[N(mean_p, std_p) || N(mean_q, std_q)] summed over the last dim: (..., D) -> (...)."""
    var_ratio = (std_p / std_q) ** 2
    term = ((mean_p - mean_q) / std_q) ** 2
    return 0.5 * (var_ratio + term - 1.0 - torch.log(var_ratio)).sum(-1)


def kl_categorical(logits_p, logits_q) -> torch.Tensor:
    """KL[Cat(logits_p) || Cat(logits_q)] summed over variables: (..., S, K) -> (...)."""
    logp, logq = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_q, -1)
    return (logp.exp() * (logp - logq)).sum((-2, -1))


def state_kl(lhs: dict, rhs: dict) -> torch.Tensor:
    """KL[lhs || rhs] between two RSSM state distributions (Gaussian or discrete), per (B, T)."""
    if "logits" in lhs:
        return kl_categorical(lhs["logits"].float(), rhs["logits"].float())
    return kl_gaussian(lhs["mean"].float(), lhs["std"].float(), rhs["mean"].float(), rhs["std"].float())


def _detached(state: dict) -> dict:
    return {k: v.detach() for k, v in state.items()}


def balanced_kl_loss(post: dict, prior: dict, balance: float, free_nats: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The KL term of Eq. 2 with DreamerV2's balancing and free nats on the batch mean.

    loss = balance * max(mean KL[sg(post) || prior], free) + (1 - balance) * max(mean KL[post || sg(prior)], free):
    `balance` (0.8) trains the prior toward the posterior faster than the posterior toward the prior.
    Returns (loss, the batch-mean KL value).
    """
    lhs = state_kl(_detached(post), prior).mean()
    rhs = state_kl(post, _detached(prior)).mean()
    free = torch.tensor(free_nats, device=lhs.device)
    loss = balance * torch.maximum(lhs, free) + (1.0 - balance) * torch.maximum(rhs, free)
    return loss, lhs.detach()  # the KL's value: which side is stopped changes gradients only


def image_nll(recon_BTHWC: torch.Tensor, target_BTHWC: torch.Tensor) -> torch.Tensor:
    """-ln p(o_t | s_t) for a unit-variance Gaussian, summed over pixels, mean over (B, T), up to a constant."""
    frames = recon_BTHWC.shape[0] * recon_BTHWC.shape[1]
    return 0.5 * F.mse_loss(recon_BTHWC.float(), target_BTHWC.float(), reduction="sum") / frames


def reward_nll(pred_BT: torch.Tensor, reward_BT: torch.Tensor) -> torch.Tensor:
    """-ln p(r_t | s_t) for a unit-variance Gaussian, mean over (B, T), up to a constant (Eq. 5)."""
    return 0.5 * (pred_BT.float() - reward_BT.float()).pow(2).mean()
