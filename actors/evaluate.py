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
        player = Player.for_spec(spec, explore=False, seed=seed)
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


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """The fixed episode seeds of every evaluation of a run with `seed`: the same starts, so curves compare."""
    return [10_000 + seed * 1000 + i for i in range(episodes)]


class EvalWorker:
    """Periodic evaluation during training: the mode policy (no exploration) of broadcast weights on fixed seeds.

        worker = EvalWorker("dmc/walker_walk", env_kwargs, spec, seed=0, episodes=10)
        metrics = worker.evaluate(weights, version)   # eval/return (mean, std), eval/success (Meta-World), ...

    Plain Python: runtime/ calls it in-process, deploy/ makes it an actor beside the env actors, so training never
    waits for it."""

    def __init__(self, task: str, env_kwargs: dict, spec: dict, seed: int = 0, episodes: int = 10):
        self.env = make_env(task, **env_kwargs)
        self.render_mode = env_kwargs.get("render_mode", "fast")
        self.player = Player.for_spec(spec, explore=False, seed=seed)
        self.seeds = eval_seeds(seed, episodes)

    def evaluate(self, weights: dict[str, np.ndarray], version: int) -> dict[str, float]:
        """Play one episode per fixed seed with `weights`; `eval/` metrics (success only for Meta-World)."""
        self.player.load(weights, version)
        metas = [episode_meta(self.env, rollout(self.env, self.player, s), "eval", s, self.render_mode)
                 for s in self.seeds]
        metrics = {**summarize(metas), "eval/version": float(version)}
        if not self.env.task.startswith("metaworld/"):
            metrics.pop("eval/success")
        return metrics

    def close(self) -> None:
        self.env.close()
