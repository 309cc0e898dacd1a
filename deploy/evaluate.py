"""`vid2act eval`: evaluation episodes from a run's checkpoint, in parallel Ray tasks.

    vid2act eval --logdir runs/walker_run-vid2act [--episodes 10]

Writes `eval.json` and the episodes (`eval_episodes/`, Parquet) in the run directory and prints the score:
DMC return (mean ± std), Meta-World success rate (an episode succeeds if any step succeeded).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import ray

from actors.evaluate import evaluate_episode, summarize
from deploy.config import Config
from deploy.ray_runtime import ensure_ray
from deploy.train import env_kwargs
from learner import checkpoint
from replay.dataset import DatasetWriter


def checkpoint_policy(run_dir: Path) -> tuple[dict, dict[str, np.ndarray], dict]:
    """(agent spec, Player weights, sidecar) from a run's learner checkpoint; no unpickling."""
    info, tensors = checkpoint.load(run_dir / "checkpoint", hint="train the run first (`vid2act train`)")
    renames = {"model/": "model.", "actor_critic/actor.": "actor.", "vae/": "vae."}
    weights = {}
    for key, value in tensors.items():
        for old, new in renames.items():
            if key.startswith(old):
                weights[new + key[len(old):]] = value.numpy()
    weights["domain"] = np.array(int(np.argmax(info["running_weights"])), np.int64)
    return info["spec"], weights, info


def evaluate(cfg: Config, run_dir: Path, episodes: int) -> dict[str, float]:
    spec, weights, info = checkpoint_policy(run_dir)
    ensure_ray()
    task = ray.remote(num_cpus=1)(evaluate_episode)
    weights_ref = ray.put(weights)
    seeds = [10_000 + cfg.seed * 1000 + i for i in range(episodes)]
    played = ray.get([task.remote(cfg.env.task, env_kwargs(cfg), spec, weights_ref, s) for s in seeds])
    metas = [meta for _, meta in played]
    suite, name = cfg.env.task.split("/", 1)
    writer = DatasetWriter(run_dir / "eval_episodes", suite=suite, task=name, size=cfg.env.size,
                           render_mode=cfg.env.render_mode, action_dim=metas[0]["action_dim"])
    for i, (episode, meta) in enumerate(played):  # kept for the report's video predictions
        writer.write(i, episode, meta)
    result = {**summarize(metas), "env_steps": info["env_steps"], "updates": info["step"]}
    (run_dir / "eval.json").write_text(json.dumps({"task": cfg.env.task, **result, "episodes": metas}, indent=1))
    return result


def run(cfg: Config, args) -> int:
    run_dir = Path(cfg.logdir)
    result = evaluate(cfg, run_dir, cfg.train.eval_episodes)
    print(f"eval {cfg.env.task} after {result['env_steps']} env steps: return {result['eval/return']:.1f} ± "
          f"{result['eval/return_std']:.1f}, success {100 * result['eval/success']:.0f}% "
          f"over {int(result['eval/episodes'])} episodes -> {run_dir / 'eval.json'}")
    return 0
