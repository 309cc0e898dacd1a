"""Teacher quality report: open-loop video prediction on held-out episodes.

Per episode: the posterior filters `context` frames (5), then the dynamics alone predict the next `horizon` (45)
frames from the recorded actions (Eq. 1, p(s_t | s_{t-1}, a_{t-1}), decoded by p(o_t | s_t)). Both shrink to fit
short episodes. Writes into `out`:
    openloop.png           rows truth / model / |error| for the first held-out episode, labelled, the context's end
                           marked (the model row's context frames are posterior reconstructions)
    openloop.json          MSE and PSNR (pixels in [0, 1]) per predicted step, averaged over episodes
    openloop_metrics.png   the two curves
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from learner import WorldModel, to_torch


@torch.no_grad()
def open_loop(model: WorldModel, episode: dict, context: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """(truth, model) float frames in [0, 1], each (context + horizon, H, W, 3), for one episode dict of (L, ...):
    the model's first `context` frames are its posterior reconstructions, the rest its open-loop prediction."""
    device = next(model.parameters()).device
    data = to_torch({k: episode[k][None, :context + horizon] for k in ("image", "action", "is_first")}, device)
    post, _ = model.observe(model.encode(data["image"][:, :context]), data["action"][:, :context].float(),
                            data["is_first"][:, :context], sample=False)
    last = {k: v[:, -1] for k, v in post.items()}
    prior = model.predict(last, data["action"][:, context:].float(), sample=False)
    feats = torch.cat([model.features(post), model.features(prior)], 1)
    pred = (model.decode(feats)[0] + 0.5).clamp(0, 1)
    truth = data["image"][0].float() / 255.0
    return truth.cpu().numpy(), pred.cpu().numpy()


def openloop_video(model: WorldModel, sequence: dict, context: int = 5) -> np.ndarray:
    """(T, H, 3W, 3) uint8 frames of one sequence dict of (T, ...) arrays: truth | model | |error| side by side, the
    first `context` model frames posterior reconstructions, the rest predicted open loop (TensorBoard's videos)."""
    truth, pred = open_loop(model, sequence, context, len(sequence["is_first"]) - context)
    return (np.concatenate([truth, pred, np.abs(truth - pred)], 2) * 255).round().astype(np.uint8)


def strip(truth: np.ndarray, pred: np.ndarray, context: int, out: Path, title: str, every: int = 1,
          actions: bool = True) -> Path:
    """The labelled strip: rows truth / model / |error| over time (every `every`-th frame), a line where the
    context (posterior reconstructions) ends and the open-loop prediction begins; `actions=False` for an
    action-free model (its prediction reads no actions)."""
    frames = np.arange(0, len(truth), every)
    rows = [np.concatenate(list(x[frames]), 1) for x in (truth, pred, np.abs(truth - pred))]
    size = truth.shape[1]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(frames)), 2.2))
    ax.imshow(np.concatenate(rows, 0), interpolation="nearest")
    edge = np.searchsorted(frames, context) * size - 0.5  # between the last context frame and the first predicted
    ax.axvline(edge, color="red", linewidth=1.5)
    ax.text(edge + 2, -4, "open loop from here", color="red", fontsize=7, va="bottom")
    ax.set_yticks([size * 0.5, size * 1.5, size * 2.5], ["truth", "model", "|error|"])
    ticks = np.arange(0, len(frames), max(1, len(frames) // 10))
    ax.set_xticks(ticks * size + size / 2, [str(int(frames[t])) for t in ticks], fontsize=7)
    rest = "predicted from actions alone" if actions else "predicted by the action-free dynamics, no actions"
    ax.set_xlabel(f"frame (first {context} filtered by the posterior, the rest {rest})", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def write_report(model: WorldModel, episodes: list[dict], out: str | Path, context: int = 5,
                 horizon: int = 45, title: str = "open-loop prediction") -> dict:
    """Run `open_loop` on each episode and write the strip, the JSON and the plot (`title` names the model and the
    data, e.g. `teacher walker_walk, 2000 steps: held-out episodes`); returns the JSON dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    length = min(len(ep["reward"]) for ep in episodes)
    context = max(1, min(context, length // 2))
    horizon = min(horizon, length - context)
    was_training = model.training
    model.eval()
    pairs = [open_loop(model, ep, context, horizon) for ep in episodes]
    model.train(was_training)
    mse_EH = np.stack([((t - p)[context:] ** 2).mean((1, 2, 3)) for t, p in pairs])  # (episodes, horizon)
    mse_H = mse_EH.mean(0)
    psnr_H = 10.0 * np.log10(1.0 / np.maximum(mse_H, 1e-10))
    result = {"context": context, "horizon": horizon, "episodes": len(episodes),
              "mse": mse_H.tolist(), "psnr": psnr_H.tolist(),
              "mse_mean": float(mse_H.mean()), "psnr_mean": float(psnr_H.mean())}
    (out / "openloop.json").write_text(json.dumps(result, indent=1))
    strip(*pairs[0], context, out / "openloop.png", f"{title}: first episode (of {len(episodes)})",
          actions=model.action_dim > 0)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    steps = np.arange(1, horizon + 1)
    axes[0].plot(steps, mse_H)
    axes[0].set(xlabel="frames predicted open loop", ylabel="MSE per pixel ([0, 1] scale)")
    axes[1].plot(steps, psnr_H)
    axes[1].set(xlabel="frames predicted open loop", ylabel="PSNR (dB)")
    fig.suptitle(textwrap.fill(f"{title}: mean over {len(episodes)} episodes, after {context} context frames", 100),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "openloop_metrics.png", dpi=80)
    plt.close(fig)
    return result
