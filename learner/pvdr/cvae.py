"""PVDR's visual dynamics model (Luo et al., 2024, Sec. 4.1, Eq. 1): a CVAE over token snippets whose three modules
are spatial-temporal transformers.

    model = VisualDynamicsModel(PvdrConfig())
    loss, metrics = model.loss(x_BmHW, y_BlHW)              # Eq. 1 on context tokens x (m frames), future y (l)
    mean, std = model.prior(x_BmHW)                          # P(z | x), z of shape (B, grid, grid, z_dim)
    y_BlHW = model.generate(x_BmHW, z_BhwZ)                  # D(y | x, z), greedy frame by frame

Encoder E(z | x, y): the transformer over the embedded m + l frames, averaged over time per token position, to the
mean and std of z (a (grid, grid, z_dim) grid, the token grid's shape). Prior P(z | x): the same over the m context
frames. Decoder D(y | x, z): z projected to a prompt frame, then [prompt, x_1..x_m, y_1..y_{l-1}] through a
temporally causal transformer; the output at frame k gives logits over the codebook for frame k + 1 (teacher forcing
in training; PVDR decodes greedily, the most probable code per token, no beam search). Loss (Eq. 1):
-log D(y | x, z ~ E) + lambda1 KL(E || N(0, I)) + KL(P || sg[E]), the log-likelihood summed over a snippet's tokens
and the KLs over z's entries, each averaged over the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from learner.pvdr.config import PvdrConfig
from learner.pvdr.st import FrameEmbedding, STTransformer

MIN_STD = 0.1


def kl_normal(mean_p, std_p, mean_q, std_q) -> torch.Tensor:
    """KL[N(mean_p, std_p) || N(mean_q, std_q)] summed over every dim but the first: (B, ...) -> (B,)."""
    var_ratio = (std_p / std_q) ** 2
    term = ((mean_p - mean_q) / std_q) ** 2
    return 0.5 * (var_ratio + term - 1.0 - torch.log(var_ratio)).flatten(1).sum(1)


class _Gaussian(nn.Module):
    """Transformer outputs (B, T, h, w, D) -> time-averaged (mean, std) of z, each (B, h, w, z_dim)."""

    def __init__(self, dim: int, z_dim: int):
        super().__init__()
        self.head = nn.Linear(dim, 2 * z_dim)

    def forward(self, h_BThwD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = self.head(h_BThwD.mean(1)).chunk(2, -1)
        return mean, F.softplus(std) + MIN_STD


class VisualDynamicsModel(nn.Module):
    def __init__(self, cfg: PvdrConfig):
        super().__init__()
        self.cfg = cfg
        g, d = cfg.grid, cfg.dim
        self.inputs = FrameEmbedding(cfg.codebook, cfg.z_dim, d, g, cfg.snippet + 1)  # the prompt, then a snippet
        self.encoder = STTransformer(d, cfg.heads, cfg.encoder_depth, cfg.window)
        self.posterior_head = _Gaussian(d, cfg.z_dim)
        self.prior_net = STTransformer(d, cfg.heads, cfg.prior_depth, cfg.window)
        self.prior_head = _Gaussian(d, cfg.z_dim)
        self.decoder = STTransformer(d, cfg.heads, cfg.decoder_depth, cfg.window, causal=True)
        self.logits = nn.Linear(d, cfg.codebook)

    def posterior(self, x_BmHW: torch.Tensor, y_BlHW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E(z | x, y): (mean, std), each (B, grid, grid, z_dim)."""
        frames = self.inputs.frames(torch.cat([x_BmHW, y_BlHW], 1))
        return self.posterior_head(self.encoder(frames))

    def prior(self, x_BmHW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """P(z | x): (mean, std), each (B, grid, grid, z_dim)."""
        return self.prior_head(self.prior_net(self.inputs.frames(x_BmHW)))

    def decode_logits(self, x_BmHW: torch.Tensor, z_BhwZ: torch.Tensor, y_BkHW: torch.Tensor) -> torch.Tensor:
        """Teacher-forced D(y | x, z): logits (B, k + 1, grid, grid, codebook) for future frames 1..k+1 given the
        first k of them (k = 0..l-1; the causal mask keeps frame j's logits blind to frames after j)."""
        out = self.decoder(self.inputs.prompted(z_BhwZ, torch.cat([x_BmHW, y_BkHW], 1)))
        return self.logits(out[:, x_BmHW.shape[1]:])  # the outputs at x_m, y_1, ..., y_k

    @torch.no_grad()
    def generate(self, x_BmHW: torch.Tensor, z_BhwZ: torch.Tensor) -> torch.Tensor:
        """Greedy decoding of the l future frames: token indices (B, l, grid, grid). The decoder's causal cache
        makes each frame cost one frame's pass (the same tokens as `decode_logits` over the growing prefix)."""
        m = x_BmHW.shape[1]
        out, cache = self.decoder.extend(self.inputs.prompted(z_BhwZ, x_BmHW))
        frames = []
        for k in range(self.cfg.future):
            frames.append(self.logits(out[:, -1:]).argmax(-1))  # (B, 1, h, w)
            if k + 1 < self.cfg.future:
                out, cache = self.decoder.extend(self.inputs.frames(frames[-1], first=1 + m + k), cache)
        return torch.cat(frames, 1)

    def loss(self, x_BmHW: torch.Tensor, y_BlHW: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 1: (loss, metrics) on context tokens (B, m, h, w) and future tokens (B, l, h, w)."""
        rec, mean, std = self.reconstruction(x_BmHW, y_BlHW)
        info = kl_normal(mean, std, torch.zeros_like(mean), torch.ones_like(std)).mean()
        prior_kl = self.prior_kl(x_BmHW, mean, std)
        loss = rec + self.cfg.lambda1 * info + prior_kl
        return loss, {"rec_nll": rec.detach(), "kl_posterior": info.detach(), "kl_prior": prior_kl.detach(),
                      "loss": loss.detach()}

    def reconstruction(self, x_BmHW, y_BlHW) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-log D(y | x, z ~ E(x, y)) summed over a snippet's tokens, batch-mean (Eq. 1 and Eq. 3), with E's (mean,
        std)."""
        mean, std = self.posterior(x_BmHW, y_BlHW)
        z = mean + std * torch.randn_like(std)
        logits = self.decode_logits(x_BmHW, z, y_BlHW[:, :-1])
        nll = F.cross_entropy(logits.flatten(0, -2), y_BlHW.flatten(), reduction="sum") / len(y_BlHW)
        return nll, mean, std

    def prior_kl(self, x_BmHW, mean, std) -> torch.Tensor:
        """KL(P(z | x) || sg[E(z | x, y)]), batch-mean: the prior learns toward the encoder, never the reverse."""
        p_mean, p_std = self.prior(x_BmHW)
        return kl_normal(p_mean, p_std, mean.detach(), std.detach()).mean()
