"""PVDR's typed config (`pvdr.*`): the tokenizer (PVDR Table 1), the visual dynamics CVAE and the action alignment
module (Table 2), planning (Eq. 2), online adaptation (Eq. 3-6) and PPO (Table 3). The defaults are this project's
`cpu` sizes (64x64 frames, 8x8 tokens, shallow transformers); the `paper` preset sets the paper's."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PvdrConfig:
    grid: int = 8
    """Visual tokens per side of a frame (paper: 16 at 128x128)."""
    codebook: int = 256
    """Codebook size, the visual token vocabulary (paper: 256)."""
    code_dim: int = 32
    """Code vector width (paper: 1024)."""
    channels: int = 32
    """Width of the tokenizer's conv encoder and decoder."""
    context: int = 2
    """m: context frames of a snippet (paper: 2)."""
    future: int = 6
    """l: future frames of a snippet (paper: 6)."""
    z_dim: int = 8
    """Channels of the visual dynamics representation z, a (grid, grid, z_dim) grid (paper: 32)."""
    dim: int = 64
    """Attention and token-embedding width of the spatial-temporal transformers (paper: 512 / 1024)."""
    heads: int = 4
    """Attention heads (paper: 4)."""
    encoder_depth: int = 2
    """Spatial-temporal blocks of the encoder E (paper: 6)."""
    prior_depth: int = 2
    """Blocks of the prior P (paper: 6)."""
    decoder_depth: int = 2
    """Blocks of the decoder D, temporally causal (paper: 3)."""
    align_depth: int = 1
    """Blocks of the action alignment module Pi and its critic (paper: 3)."""
    window: int = 4
    """Side of the local spatial window of temporal attention (paper: 4x4)."""
    lambda1: float = 1e-3
    """Weight of KL(E || N(0, I)) in Eq. 1."""
    lambda2: float = 0.8
    """Weight of the goal-oriented term of the prior's loss, Eq. 4 (paper: 0.8 Meta-World)."""
    lambda3: float = 1.0
    """Weight of plan adherence in the alignment reward, Eq. 6 (paper: 1.0 Meta-World)."""
    candidates: int = 16
    """N: representations sampled from the prior per planning step (Eq. 2)."""
    replan_every: int = 1
    """Agent steps between plans (1 = every step, the paper); the chosen z* is kept in between."""
    max_lag: int = 50
    """PPO trains on actions of weights at most this many versions (updates) old: the on-policy window."""
    tokenizer_steps: int = 2_000
    """Tokenizer pretraining steps."""
    steps: int = 2_000
    """CVAE pretraining steps (paper: 350K)."""
    batch: int = 16
    """Snippets (or frames x 4 for the tokenizer) per pretraining batch."""
    lr: float = 1e-4
    """Pretraining Adam learning rate of the tokenizer and the CVAE (paper: 1e-4)."""
    finetune_lr: float = 1e-5
    """Online fine-tuning rate of E, D and P (paper: 1e-5)."""
    actor_lr: float = 3e-4
    """PPO actor rate (paper Table 3)."""
    critic_lr: float = 1e-3
    """PPO critic rate (paper Table 3)."""
    ppo_clip: float = 0.6
    """PPO's clip epsilon (paper Table 3, task set 1 with reach and window-open: 0.6; sets 2-3: 0.2, 0.5)."""
    ppo_entropy: float = 1e-2
    """PPO's entropy coefficient (Table 3, task set 1: 1e-2; sets 2-3: 2e-4, 5e-3)."""
    ppo_value_clip: float = 10.0
    """Clip of the critic's loss around its old values (Table 3's epsilon_value 10); its weight is 0.5."""
    gae_lambda: float = 0.92
    """GAE lambda (paper Table 3)."""
    discount: float = 0.99
    """gamma (paper Table 3)."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip of PPO (paper Table 3)."""
    ppo_minibatch: int = 100
    """Transitions per PPO minibatch (paper Table 3: 100)."""
    ppo_epochs: int = 1
    """Passes of PPO over each learner update's on-policy batch. Table 3's 200 epochs count passes over a PPO
    collection; here every update samples a fresh batch from the window of the last `max_lag` versions, so a
    transition is already revisited by each update while it stays in that window."""

    @property
    def snippet(self) -> int:
        """Frames per snippet, m + l."""
        return self.context + self.future


SIZES = ("grid", "codebook", "code_dim", "channels", "context", "future", "z_dim", "dim", "heads", "encoder_depth",
         "prior_depth", "decoder_depth", "align_depth", "window")
"""The fields that shape PVDR's modules: a pretrained model fits a run only with the same values."""
ACTING = ("candidates", "replan_every")
"""The fields an acting player reads; with SIZES they make a PVDR agent spec (learning settings stay out of it, so a
run resumes with new rates)."""
