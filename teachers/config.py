"""The typed config of teacher pretraining (Eq. 2), a doc line per field; `deploy/` composes it as `teacher.*`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TeacherConfig:
    steps: int = 5_000
    """Gradient steps per teacher (paper: 200K)."""
    batch: int = 16
    """Sequences per batch."""
    seq_len: int = 50
    """Steps per sequence."""
    lr: float = 3e-4
    """Adam learning rate."""
    eps: float = 1e-5
    """Adam epsilon."""
    clip: float = 100.0
    """Gradient-norm clip."""
    log_every: int = 50
    """Updates between logged metrics."""
    checkpoint_every: int = 500
    """Updates between checkpoints (resume point after a kill)."""
    heldout: int = 2
    """Episodes held out for the open-loop prediction report."""
