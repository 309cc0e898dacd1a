"""Spatial-Temporal Transformer (PVDR Appendix A.1, Fig. 9; MaskViT-style): cross-stacked spatial and temporal
attention blocks with interleaved feed-forward layers, over a (B, T, h, w, D) grid of token embeddings.

    st = STTransformer(dim=64, heads=4, depth=2, window=4, causal=False)
    out_BThwD = st(x_BThwD)
    inputs = FrameEmbedding(codebook=256, z_dim=8, dim=64, grid=8, positions=9)   # what st reads
    x_BThwD = inputs.prompted(z_BhwZ, tokens_BThw)

Spatial attention: every token attends to the h*w tokens of its own frame. Temporal attention: a token attends to
the tokens of its local (window x window) spatial block in every frame (in frames k' <= k when `causal`, the
decoder's mask; PVDR writes k' < k, which leaves the first frame's rows empty: its own frame is kept here).
Pre-norm residual blocks; torch's `nn.MultiheadAttention` computes every attention.
"""
from __future__ import annotations

import torch
from torch import nn


class _Attention(nn.Module):
    """Pre-norm multi-head self-attention with a residual, over (N, L, D) rows."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, q_NLD: torch.Tensor, kv_NSD: torch.Tensor | None = None,
                mask_LS: torch.Tensor | None = None) -> torch.Tensor:
        """Rows `q` attend to rows `kv` (to themselves when None); `mask` True where not attended."""
        h = self.norm(q_NLD)
        kv = h if kv_NSD is None else self.norm(kv_NSD)
        return q_NLD + self.attn(h, kv, kv, attn_mask=mask_LS, need_weights=False)[0]


class _FeedForward(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class STBlock(nn.Module):
    """Spatial attention, feed-forward, local temporal attention, feed-forward."""

    def __init__(self, dim: int, heads: int, window: int, causal: bool):
        super().__init__()
        self.window, self.causal = window, causal
        self.spatial, self.temporal = _Attention(dim, heads), _Attention(dim, heads)
        self.ff1, self.ff2 = _FeedForward(dim), _FeedForward(dim)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, h, w, D) frames -> (their outputs, this block's temporal-attention inputs of every frame so far).
        `past`: those inputs of earlier frames (a causal block's cache): the new frames attend to them as well, so
        decoding a frame at a time gives what one pass over all frames gives."""
        B, T, h, w, D = x.shape
        b = min(self.window, h, w)
        if h % b or w % b:
            raise ValueError(f"a {h}x{w} token grid does not split into {b}x{b} temporal-attention windows")
        x = self.ff1(self.spatial(x.reshape(B * T, h * w, D))).view(B, T, h, w, D)
        seen = x if past is None else torch.cat([past, x], 1)
        S = seen.shape[1]

        def rows(frames):  # (B, F, h/b, b, w/b, b, D) -> a row per window: its b*b tokens in every frame
            F = frames.shape[1]
            return frames.reshape(B, F, h // b, b, w // b, b, D).permute(0, 2, 4, 1, 3, 5, 6).reshape(-1, F * b * b, D)

        mask = None
        if self.causal:  # query frame S - T + i sees frames up to itself
            frame = torch.arange(S, device=x.device).repeat_interleave(b * b)
            mask = frame[None, :] > frame[-T * b * b:, None]
        out = self.ff2(self.temporal(rows(x), None if past is None else rows(seen), mask))
        out = out.view(B, h // b, w // b, T, b, b, D).permute(0, 3, 1, 4, 2, 5, 6)
        return out.reshape(B, T, h, w, D), seen


class STTransformer(nn.Module):
    def __init__(self, dim: int, heads: int, depth: int, window: int, causal: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(STBlock(dim, heads, window, causal) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x_BThwD: torch.Tensor) -> torch.Tensor:
        return self.extend(x_BThwD)[0]

    def extend(self, x_BThwD: torch.Tensor, cache: list[torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Outputs of new frames after the frames a `cache` (from an earlier call) holds, and the cache grown by
        them: a causal transformer decodes a frame at a time at the cost of the new frame alone."""
        grown = []
        for i, block in enumerate(self.blocks):
            x_BThwD, seen = block(x_BThwD, None if cache is None else cache[i])
            grown.append(seen)
        return self.norm(x_BThwD), grown


class FrameEmbedding(nn.Module):
    """Transformer inputs from code frames and a z prompt (PVDR Appendix A.1): each token's code embedding plus a
    learned position in space (its grid cell) and in time (frame index; index 0 is the prompt frame that z becomes).

    `frames(tokens_BThw, first)` -> (B, T, h, w, D) at time positions first..first+T-1;
    `prompted(z_BhwZ, tokens_BThw)` -> (B, 1 + T, h, w, D): z projected to D at position 0, then the frames.
    """

    def __init__(self, codebook: int, z_dim: int, dim: int, grid: int, positions: int):
        super().__init__()
        self.embed = nn.Embedding(codebook, dim)
        self.prompt = nn.Linear(z_dim, dim)
        self.space = nn.Parameter(torch.randn(grid * grid, dim) * 0.02)
        self.time = nn.Parameter(torch.zeros(positions, dim))

    def frames(self, tokens_BThw: torch.Tensor, first: int = 1) -> torch.Tensor:
        B, T, h, w = tokens_BThw.shape
        return (self.embed(tokens_BThw.long()) + self.space.view(1, 1, h, w, -1)
                + self.time[first:first + T].view(1, T, 1, 1, -1))

    def prompted(self, z_BhwZ: torch.Tensor, tokens_BThw: torch.Tensor) -> torch.Tensor:
        prompt = self.prompt(z_BhwZ) + self.space.view(1, *z_BhwZ.shape[1:3], -1) + self.time[0]
        return torch.cat([prompt[:, None], self.frames(tokens_BThw)], 1)
