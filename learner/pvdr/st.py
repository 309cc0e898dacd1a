"""Spatial-Temporal Transformer (PVDR Appendix A.1, Fig. 9; MaskViT-style): cross-stacked spatial and temporal
attention blocks with interleaved feed-forward layers, over a (B, T, h, w, D) grid of token embeddings.

    st = STTransformer(dim=64, heads=4, depth=2, window=4, causal=False)
    out_BThwD = st(x_BThwD)

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

    def forward(self, x_NLD: torch.Tensor, mask_LL: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x_NLD)
        return x_NLD + self.attn(h, h, h, attn_mask=mask_LL, need_weights=False)[0]


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, h, w, D = x.shape
        b = min(self.window, h, w)
        if h % b or w % b:
            raise ValueError(f"a {h}x{w} token grid does not split into {b}x{b} temporal-attention windows")
        x = self.ff1(self.spatial(x.reshape(B * T, h * w, D))).view(B, T, h, w, D)
        # (B, T, h/b, b, w/b, b, D) -> one row per window: its b*b tokens in every frame, frame-major
        rows = x.view(B, T, h // b, b, w // b, b, D).permute(0, 2, 4, 1, 3, 5, 6).reshape(-1, T * b * b, D)
        mask = None
        if self.causal:
            frame = torch.arange(T, device=x.device).repeat_interleave(b * b)
            mask = frame[None, :] > frame[:, None]  # True = not attended: a later frame
        rows = self.ff2(self.temporal(rows, mask))
        x = rows.view(B, h // b, w // b, T, b, b, D).permute(0, 3, 1, 4, 2, 5, 6)
        return x.reshape(B, T, h, w, D)


class STTransformer(nn.Module):
    def __init__(self, dim: int, heads: int, depth: int, window: int, causal: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(STBlock(dim, heads, window, causal) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x_BThwD: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x_BThwD = block(x_BThwD)
        return self.norm(x_BThwD)
