"""Batch conventions shared by the learner, the teachers and the replay: action padding, numpy -> torch, pixels.

A batch is a dict of (B, T, ...) arrays: `image` uint8 (B, T, H, W, 3), `action` float32 (B, T, A) where action[t]
led to image[t], `reward` (B, T), `is_first`, `is_last`, `is_terminal` (B, T) bool.
"""
from __future__ import annotations

import numpy as np
import torch


def pad_action(action, width: int):
    """Zero-pad the last dim of an action array/tensor to `width`; wider than `width` -> ValueError."""
    have = action.shape[-1]
    if have > width:
        raise ValueError(f"action has {have} dims but the model accepts at most {width} "
                         f"(model.action_pad / the suite's widest action); rebuild the model wider")
    if have == width:
        return action
    pad = [(0, 0)] * (action.ndim - 1) + [(0, width - have)]
    if isinstance(action, torch.Tensor):
        return torch.nn.functional.pad(action, (0, width - have))
    return np.pad(action, pad)


def to_torch(batch: dict, device: torch.device | str) -> dict[str, torch.Tensor]:
    """numpy or torch (B, T, ...) arrays -> tensors on `device` (uint8 images stay uint8 until `preprocess`)."""
    out = {}
    for key, value in batch.items():
        if not isinstance(value, torch.Tensor):
            value = np.ascontiguousarray(value)
            value = torch.from_numpy(value if value.flags.writeable else value.copy())  # object-store arrays
        out[key] = value.to(device, non_blocking=True)
    return out


def preprocess(image_BTHWC: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B*T, 3, H, W) in [-0.5, 0.5], channels-last memory (no copy of layout)."""
    x = image_BTHWC.flatten(0, 1).permute(0, 3, 1, 2)  # NHWC data seen as NCHW: already channels-last
    return x.float().div_(255.0).sub_(0.5)


def postprocess(image_NCHW: torch.Tensor, B: int, T: int) -> torch.Tensor:
    """float (B*T, 3, H, W) in model space -> (B, T, H, W, 3) in the same space."""
    return image_NCHW.permute(0, 2, 3, 1).unflatten(0, (B, T))
