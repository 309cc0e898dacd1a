"""`vid2act eval`: evaluation episodes from a run's checkpoint, in parallel Ray tasks.

    vid2act eval --logdir runs/walker_run-vid2act [--episodes 10]

Writes `eval.json` and the episodes (`eval_episodes/`, Parquet) in the run directory and prints the score:
DMC return (mean ± std), Meta-World success rate (an episode succeeds if any step succeeded).
"""
from __future__ import annotations

import json
from pathlib import Path

import ray

from actors import eval_seeds, evaluate_episode, summarize
from deploy.config import Config
from deploy.ray_runtime import ensure_ray
from learner import Player
from replay import DatasetWriter


def evaluate(cfg: Config, run_dir: Path, episodes: int) -> dict[str, float]:
    player = Player.from_checkpoint(run_dir / "checkpoint")
    info = player.info
    ensure_ray()
    task = ray.remote(num_cpus=1)(evaluate_episode)
    weights_ref = ray.put(player.weights())
    spec = player.spec.to_dict()
    seeds = eval_seeds(cfg.seed, episodes)
    played = ray.get([task.remote(cfg.env.task, cfg.env.kwargs(), spec, weights_ref, s) for s in seeds])
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
