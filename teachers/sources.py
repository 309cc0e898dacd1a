"""The action VAE's training pairs: each teacher's own posterior features on its own source dataset (Eq. 6-7).

    feats_MF, actions_MA = source_pairs(pool, i, episodes, max_steps)
    feats_MF, actions_MA = dataset_pairs(pool, i, "data/sources/walker_walk", max_steps)   # read from disk first

Teachers are frozen, so s_t^i on D_i never changes: it is computed once here instead of at every update. A pair
is (s_t, a_t) with a_t the action taken from state t, i.e. the episode's action[t + 1] (action[t] led to frame t).
"""
from __future__ import annotations

import numpy as np
import torch

from replay import DatasetReader


@torch.no_grad()
def source_pairs(pool, index: int, episodes: list[dict], max_steps: int = 20_000, seed: int = 0):
    """(features (M, F), actions (M, A)) of teacher `index` on `episodes`, at most `max_steps` pairs."""
    feats, actions, total = [], [], 0
    order = np.random.default_rng(seed).permutation(len(episodes))
    for i in order:
        ep = episodes[i]
        feat_LF = pool.teacher_features(index, ep["image"][None], ep["action"][None], ep["is_first"][None])[0]
        feats.append(feat_LF[:-1].cpu())
        actions.append(torch.tensor(np.asarray(ep["action"][1:], np.float32)))  # a copy: datasets map read-only
        total += len(feat_LF) - 1
        if total >= max_steps:
            break
    return torch.cat(feats)[:max_steps], torch.cat(actions)[:max_steps]


def dataset_pairs(pool, index: int, dataset_dir: str, max_steps: int = 20_000, seed: int = 0):
    """`source_pairs` on the episodes of a source dataset directory (corrupt files skipped with a warning)."""
    episodes = [ep for ep, _ in DatasetReader(dataset_dir, skip_corrupt=True).episodes()]
    return source_pairs(pool, index, episodes, max_steps, seed)
