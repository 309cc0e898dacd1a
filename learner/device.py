"""Device choice and mixed precision: one code path for CPU and CUDA.

    device = pick_device("auto")
    with autocast(device):
        loss, post, metrics = model.loss(batch)
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import sys

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def tune_cpu_allocator() -> bool:
    """Keep freed activation memory in the process (glibc): large tensors are otherwise mmap'd fresh and
    page-faulted on every allocation, which on a small CPU costs as much as the convs themselves (10x on a 50 MB
    clone). Returns whether the setting took (False off glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def pick_device(name: str = "auto") -> torch.device:
    """`auto` -> CUDA when present else CPU; `cpu`, `cuda`, `cuda:N` as given (CUDA missing -> RuntimeError).

    Choosing the CPU also applies `tune_cpu_allocator` (once per process).
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available; use `auto` or `cpu`")
    if device.type == "cpu":
        tune_cpu_allocator()
    return device


def autocast(device: torch.device | str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (where the GPU supports bf16); a no-op on CPU, where we stay fp32.

    bf16 needs no loss scaling, so the training loop is identical with and without it.
    """
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
