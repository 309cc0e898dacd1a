"""Evaluation episodes: the policy's mode (no exploration noise), from fixed seeds.

DMC is scored by episode return; Meta-World by success, where an episode succeeds if any step did (the paper's
protocol: success rate over 10 episodes).
"""
from __future__ import annotations

import numpy as np

from actors.loop import episode_meta, rollout
from actors.suites import make_env
from learner import Player


def evaluate_episode(task: str, env_kwargs: dict, spec: dict, weights: dict[str, np.ndarray],
                     seed: int) -> tuple[dict, dict]:
    """One evaluation episode: (episode arrays, metadata with return, success, length, ...)."""
    env = make_env(task, **env_kwargs)
    try:
        player = Player(spec, explore=False, seed=seed)
        player.load(weights, version=0)
        episode = rollout(env, player, seed)
        return episode, episode_meta(env, episode, "eval", seed, env_kwargs.get("render_mode", "fast"))
    finally:
        env.close()


def summarize(metas: list[dict]) -> dict[str, float]:
    """`eval/return` mean and std, `eval/success` rate."""
    returns = np.array([m["return"] for m in metas])
    return {"eval/return": float(returns.mean()), "eval/return_std": float(returns.std()),
            "eval/success": float(np.mean([m["success"] for m in metas])), "eval/episodes": float(len(metas))}
