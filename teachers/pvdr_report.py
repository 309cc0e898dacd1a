"""PVDR's pretraining report: predicted snippets beside the truth on held-out episodes.

Per episode, the snippet at its start: m context frames, then l future frames. Rows: the truth; the tokenizer's
reconstruction (its ceiling); the CVAE's decoding with z = the posterior mean E(x, y) (what the representation
holds); with z = the prior mean P(x) (what planning starts from). Writes into `out`:
    snippets.png    the rows for the first held-out episode, labelled, the context's end marked
    snippets.json   `<row>_mse` (pixels in [0, 1]) of each row's future frames and `<row>_token_accuracy`, mean over
                    episodes (rows `tokenizer`, `posterior`, `prior`)
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

from learner import Tokenizer, VisualDynamicsModel

ROWS = {"truth": "truth", "tokenizer": "tokenizer", "posterior": "CVAE, z = E(x, y)", "prior": "CVAE, z = P(x)"}
"""The report's rows: JSON key -> figure label."""


@torch.no_grad()
def predict_snippet(tokenizer: Tokenizer, model: VisualDynamicsModel, frames_THWC: np.ndarray) -> dict:
    """The report's rows for one snippet of m + l uint8 frames: float frames in [0, 1] and token accuracies."""
    device = next(model.parameters()).device
    m = model.cfg.context
    frames = torch.as_tensor(frames_THWC, device=device)
    tokens = tokenizer.encode(frames)[None]  # (1, T, h, w)
    x, y = tokens[:, :m], tokens[:, m:]
    rows = {"truth": frames.float() / 255.0, "tokenizer": tokenizer.decode(tokens[0])}
    for name, (mean, _) in (("posterior", model.posterior(x, y)), ("prior", model.prior(x))):
        future = model.generate(x, mean)
        rows[name] = torch.cat([tokenizer.decode(x[0]), tokenizer.decode(future[0])])
        rows[f"{name}_token_accuracy"] = float((future == y).float().mean())
    return {k: v.cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in rows.items()}


def snippet_video(tokenizer: Tokenizer, model: VisualDynamicsModel, frames_THWC: np.ndarray) -> np.ndarray:
    """One snippet's rows side by side as a video for TensorBoard: (m + l, H, 4W, 3) uint8, truth | tokenizer |
    z = E(x, y) | z = P(x) (the first m frames are the context's)."""
    rows = predict_snippet(tokenizer, model, frames_THWC[:model.cfg.snippet])
    return (np.concatenate([rows[r] for r in ROWS], 2).clip(0, 1) * 255).round().astype(np.uint8)


def write_snippet_report(tokenizer: Tokenizer, model: VisualDynamicsModel, episodes: list[dict], out: str | Path,
                         title: str) -> dict:
    """Predict each episode's first snippet; write the PNG and the JSON into `out`; return the JSON dict."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg
    was = model.training, tokenizer.training
    model.eval(), tokenizer.eval()
    try:
        results = [predict_snippet(tokenizer, model, ep["image"][:cfg.snippet]) for ep in episodes
                   if len(ep["image"]) >= cfg.snippet]
    finally:
        model.train(was[0]), tokenizer.train(was[1])
    if not results:
        raise ValueError(f"no held-out episode holds a snippet of {cfg.snippet} frames")
    m = cfg.context
    summary = {"episodes": len(results), "context": m, "future": cfg.future}
    for row in list(ROWS)[1:]:
        summary[f"{row}_mse"] = float(np.mean([((r[row] - r["truth"])[m:] ** 2).mean() for r in results]))
        if f"{row}_token_accuracy" in results[0]:
            summary[f"{row}_token_accuracy"] = float(np.mean([r[f"{row}_token_accuracy"] for r in results]))
    (out / "snippets.json").write_text(json.dumps(summary, indent=1))
    first, size = results[0], results[0]["truth"].shape[1]
    grid = np.concatenate([np.concatenate(list(first[row]), 1) for row in ROWS], 0)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * cfg.snippet), 3.2))
    ax.imshow(grid.clip(0, 1), interpolation="nearest")
    ax.axvline(m * size - 0.5, color="red", linewidth=1.5)
    ax.text(m * size + 2, 2, "predicted from here", color="white", fontsize=7, va="top",
            bbox={"facecolor": "red", "edgecolor": "none", "pad": 1})
    ax.set_yticks([size * (i + 0.5) for i in range(len(ROWS))], list(ROWS.values()), fontsize=7)
    ax.set_xticks([size * (i + 0.5) for i in range(cfg.snippet)], [str(i) for i in range(cfg.snippet)], fontsize=7)
    ax.set_xlabel(f"frame (first {m} the context x, the next {cfg.future} the future y)", fontsize=8)
    ax.set_title(textwrap.fill(title, 70), fontsize=9)  # the figure is ~6 in wide: long source lists wrap
    fig.tight_layout()
    fig.savefig(out / "snippets.png", dpi=100)
    plt.close(fig)
    return summary
