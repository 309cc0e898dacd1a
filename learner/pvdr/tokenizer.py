"""The visual tokenizer: a VQ-VAE whose codebook is vector-quantize-pytorch's `VectorQuantize` (PVDR Sec. 3.2 and
Table 1 use a VQGAN; this is its reconstruction-and-codebook core, without the adversarial term).

    tok = Tokenizer(image_size=64, grid=8, codebook=256, code_dim=32, channels=32)
    tokens_NHW = tok.encode(frames_NHWC)            # uint8 (N, 64, 64, 3) -> long (N, 8, 8) in [0, codebook)
    frames = tok.decode(tokens_NHW)                  # float (N, 64, 64, 3) in [0, 1]
    loss, metrics = tok.loss(frames_NHWC)            # pixel MSE + the codebook's commitment loss

The conv encoder halves the resolution log2(image_size / grid) times; the decoder mirrors it.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _to_input(frames_NHWC: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-0.5, 0.5]."""
    return frames_NHWC.permute(0, 3, 1, 2).float().div(255.0).sub(0.5)


class Tokenizer(nn.Module):
    def __init__(self, image_size: int, grid: int, codebook: int, code_dim: int, channels: int):
        from vector_quantize_pytorch import VectorQuantize  # ~1.7 s to import: only where a tokenizer is built

        super().__init__()
        downs = int(round(math.log2(image_size // grid)))
        if grid * 2 ** downs != image_size:
            raise ValueError(f"a {grid}x{grid} token grid does not tile {image_size}x{image_size} frames by halvings")
        self.kwargs = dict(image_size=image_size, grid=grid, codebook=codebook, code_dim=code_dim, channels=channels)
        self.image_size, self.grid, self.codebook = image_size, grid, codebook
        enc, dec = [], []
        for i in range(downs):
            enc += [nn.Conv2d(3 if i == 0 else channels, channels, 4, 2, 1), nn.ELU()]
            dec += [nn.ConvTranspose2d(channels, channels, 4, 2, 1), nn.ELU()]
        self.encoder = nn.Sequential(*enc, nn.Conv2d(channels, code_dim, 1))
        self.decoder = nn.Sequential(nn.Conv2d(code_dim, channels, 3, 1, 1), nn.ELU(), *dec,
                                     nn.Conv2d(channels, 3, 3, 1, 1))
        self.vq = VectorQuantize(dim=code_dim, codebook_size=codebook, decay=0.9, commitment_weight=1.0,
                                 accept_image_fmap=True, kmeans_init=True, threshold_ema_dead_code=2)

    @torch.no_grad()
    def encode(self, frames_NHWC: torch.Tensor) -> torch.Tensor:
        """uint8 frames (N, H, W, 3) -> token indices (N, grid, grid), long. Never moves the codebook (in training
        mode `VectorQuantize` would: EMA updates and dead-code replacement), so tokens keep their meaning."""
        _, indices, _ = self.vq(self.encoder(_to_input(frames_NHWC)), freeze_codebook=True)
        return indices

    def decode(self, tokens_NHW: torch.Tensor) -> torch.Tensor:
        """Token indices (N, grid, grid) -> frames (N, H, W, 3) in [0, 1] (differentiable in the decoder only)."""
        codes = self.vq.get_output_from_indices(tokens_NHW)  # (N, code_dim, grid, grid)
        return (self.decoder(codes) + 0.5).clamp(0, 1).permute(0, 2, 3, 1)

    def decode_soft(self, probs_NhwK: torch.Tensor) -> torch.Tensor:
        """A distribution over codes per token (N, grid, grid, codebook) -> the frames of its expected code vectors
        (N, H, W, 3) in [0, 1], differentiable in the probabilities (PVDR's goal loss, Eq. 4, reaches the prior
        through it)."""
        codes = probs_NhwK @ self.vq.codebook.to(probs_NhwK.dtype)  # (N, grid, grid, code_dim)
        return (self.decoder(codes.permute(0, 3, 1, 2)) + 0.5).clamp(0, 1).permute(0, 2, 3, 1)

    def loss(self, frames_NHWC: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pixel MSE of the reconstruction + the codebook's commitment loss (EMA codebook updates in training)."""
        x = _to_input(frames_NHWC)
        quantized, indices, commit = self.vq(self.encoder(x))
        mse = (self.decoder(quantized) - x).pow(2).mean()
        used = torch.unique(indices).numel() / self.codebook
        return mse + commit, {"recon_mse": mse.detach(), "commit": commit.detach(),
                              "codebook_use": torch.tensor(used)}
