"""Optimiser steps that never apply a non-finite gradient, and the error a diverged learner stops with."""
from __future__ import annotations

import torch
from torch import nn


class DivergenceError(RuntimeError):
    """Training diverged (non-finite losses, gradients or weights); the message says what happened and what to do."""


def finite_step(opt: torch.optim.Optimizer, loss: torch.Tensor, params: list, clip: float) -> bool:
    """Backward `loss`, clip the gradient norm to `clip` (DreamerV2) and step, unless that norm is non-finite (a
    NaN/inf loss or gradient): then no parameter or optimiser state moves. Returns whether it stepped."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(params, clip)
    if not torch.isfinite(norm):
        opt.zero_grad(set_to_none=True)
        return False
    opt.step()
    return True
