"""The typed config of the online replay and its sampler, a doc line per field; `deploy/` composes it as `replay.*`."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ReplayConfig:
    url: str = ""
    """Redis URL (`redis://:password@host:port/0`); empty = $VID2ACT_REDIS_URL if set, else an embedded
    redis-server on loopback. Saved configs mask the password."""
    capacity: int = 500_000
    """Replay capacity in env steps (FIFO eviction)."""
    batch: int = 16
    """Sequences per training batch."""
    seq_len: int = 32
    """Steps per training sequence (paper: 50; the `cpu` preset's 32 keeps its updates cheap on a CPU)."""
    samples_per_insert: float = 0.0
    """Sampled steps per inserted step the limiter enforces; 0 = derived from train.train_every."""
    prefetch: int = 4
    """Batches the learner-side sampler keeps ready."""
