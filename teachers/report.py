"""Teacher quality report: open-loop video prediction on held-out episodes.

Per episode: the posterior filters `context` frames (5), then the dynamics alone predict the next `horizon` (45)
frames from the recorded actions (Eq. 1, p(s_t | s_{t-1}, a_{t-1}), decoded by p(o_t | s_t)). Both shrink to fit
short episodes. Writes into `out`:
    openloop.png           rows truth / model / |difference| for the first held-out episode
    openloop.json          MSE and PSNR (pixels in [0, 1]) per predicted step, averaged over episodes
    openloop_metrics.png   the two curves
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from learner import WorldModel, to_torch


@torch.no_grad()
def open_loop(model: WorldModel, episode: dict, context: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(truth, prediction) float frames in [0, 1], each (horizon, H, W, 3), for one episode dict of (L, ...)."""
    device = next(model.parameters()).device
    data = to_torch({k: episode[k][None, :context + horizon] for k in ("image", "action", "is_first")}, device)
    post, _ = model.observe(model.encode(data["image"][:, :context]), data["action"][:, :context].float(),
                            data["is_first"][:, :context], sample=False)
    last = {k: v[:, -1] for k, v in post.items()}
    prior = model.predict(last, data["action"][:, context:].float(), sample=False)
    pred = (model.decode(model.features(prior))[0] + 0.5).clamp(0, 1)
    truth = data["image"][0, context:].float() / 255.0
    return truth.cpu().numpy(), pred.cpu().numpy()


def write_report(model: WorldModel, episodes: list[dict], out: str | Path, context: int = 5,
                 horizon: int = 45) -> dict:
    """Run `open_loop` on each episode and write the strip, the JSON and the plot; returns the JSON dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    length = min(len(ep["reward"]) for ep in episodes)
    context = max(1, min(context, length // 2))
    horizon = min(horizon, length - context)
    was_training = model.training
    model.eval()
    pairs = [open_loop(model, ep, context, horizon) for ep in episodes]
    model.train(was_training)
    mse_EH = np.stack([((t - p) ** 2).mean((1, 2, 3)) for t, p in pairs])  # (episodes, horizon)
    mse_H = mse_EH.mean(0)
    psnr_H = 10.0 * np.log10(1.0 / np.maximum(mse_H, 1e-10))
    result = {"context": context, "horizon": horizon, "episodes": len(episodes),
              "mse": mse_H.tolist(), "psnr": psnr_H.tolist(),
              "mse_mean": float(mse_H.mean()), "psnr_mean": float(psnr_H.mean())}
    (out / "openloop.json").write_text(json.dumps(result, indent=1))
    truth, pred = pairs[0]
    rows = [np.concatenate(list(x), 1) for x in (truth, pred, np.abs(truth - pred))]  # each (H, horizon*W, 3)
    plt.imsave(out / "openloop.png", np.concatenate(rows, 0))
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    steps = np.arange(1, horizon + 1)
    axes[0].plot(steps, mse_H)
    axes[0].set(xlabel="steps after context", ylabel="MSE")
    axes[1].plot(steps, psnr_H)
    axes[1].set(xlabel="steps after context", ylabel="PSNR (dB)")
    fig.tight_layout()
    fig.savefig(out / "openloop_metrics.png", dpi=80)
    plt.close(fig)
    return result
