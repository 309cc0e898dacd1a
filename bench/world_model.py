"""World-model updates/s (loss of Eq. 2 + reward NLL, backward, clip, Adam) on B16 x T50 at 64x64, at the `cpu`
and `paper` preset sizes.

    .venv/bin/python bench/world_model.py [--cpu-updates 5] [--paper-updates 2]

The last line is the headline: updates/s at both sizes. No goal here (issue 5 compares the full learner to a peer).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deploy.config import load_config
from learner import WorldModel, autocast, pick_device

B, T, SIZE, A = 16, 50, 64, 6


def make_batch(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    first = np.zeros((B, T), bool)
    first[:, 0] = True
    return {"image": rng.integers(0, 256, (B, T, SIZE, SIZE, 3), dtype=np.uint8),
            "action": rng.uniform(-1, 1, (B, T, A)).astype(np.float32),
            "reward": rng.random((B, T)).astype(np.float32), "is_first": first,
            "is_last": np.zeros((B, T), bool), "is_terminal": np.zeros((B, T), bool)}


def updates_per_s(preset: str, updates: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model = WorldModel(**load_config(preset).model.kwargs(SIZE, A, reward_head=True)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4, eps=1e-5)
    batch = make_batch()

    def update():
        with autocast(device):
            loss, _, _ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
        opt.step()

    update()  # warm-up
    start = time.perf_counter()
    for _ in range(updates):
        update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = updates / (time.perf_counter() - start)
    params = sum(p.numel() for p in model.parameters())
    print(f"{preset:6s} {params / 1e6:6.2f}M params  {rate:7.3f} updates/s  ({1 / rate:6.2f} s/update)")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cpu-updates", type=int, default=5)
    parser.add_argument("--paper-updates", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"world model update, B{B} x T{T}, {SIZE}x{SIZE}, {device}, {torch.get_num_threads()} threads")
    cpu = updates_per_s("cpu", args.cpu_updates, device)
    paper = updates_per_s("paper", args.paper_updates, device)
    print(f"headline: world-model updates/s cpu {cpu:.3f}, paper {paper:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
