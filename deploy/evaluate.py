"""`vid2act eval`: evaluation episodes from a run's checkpoint, in parallel Ray tasks.

    vid2act eval --logdir runs/walker_run-vid2act [--episodes 10]

In the run directory: `eval.json` (this evaluation, with its episodes' metadata), one line per evaluation appended
to `eval.jsonl` (never overwritten: the run's evaluation history, by checkpoint), the episodes (`eval_episodes/`,
Parquet, for the report's video predictions) and `videos/eval-u<updates>.mp4` (up to 4 episodes side by side).
Prints the score: DMC return (mean ± std); Meta-World also the success rate (an episode succeeds if any step did).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
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
    with open(run_dir / "eval.jsonl", "a") as history:
        history.write(json.dumps({"task": cfg.env.task, "time": time.time(), "seeds": seeds, **result}) + "\n")
    write_video([episode["image"] for episode, _ in played], run_dir / "videos" / f"eval-u{info['step']}.mp4",
                fps=max(1, round(50 / cfg.env.repeat)) if suite == "dmc" else 30)
    return result


def write_video(frames: list[np.ndarray], path: Path, fps: int, scale: int = 2, most: int = 4) -> Path:
    """Up to `most` episodes' frames ((T, H, W, 3) uint8 each) side by side, `scale`x enlarged, as an MP4 (imageio's
    ffmpeg plugin, H.264); a shorter episode holds its last frame."""
    episodes = frames[:most]
    length = max(len(f) for f in episodes)
    padded = [np.concatenate([f, np.repeat(f[-1:], length - len(f), 0)]) for f in episodes]
    video = np.concatenate(padded, 2).repeat(scale, 1).repeat(scale, 2)  # (T, H*s, n*W*s, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, video, fps=fps, codec="libx264", macro_block_size=16)
    return path


def run(cfg: Config, args) -> int:
    run_dir = Path(cfg.logdir)
    result = evaluate(cfg, run_dir, cfg.train.eval_episodes)
    success = f", success {100 * result['eval/success']:.0f}%" if cfg.env.task.startswith("metaworld/") else ""
    print(f"eval {cfg.env.task} after {result['env_steps']} env steps: return {result['eval/return']:.1f} ± "
          f"{result['eval/return_std']:.1f}{success} over {int(result['eval/episodes'])} episodes -> "
          f"{run_dir / 'eval.jsonl'}, {run_dir / 'videos' / 'eval-u{}.mp4'.format(result['updates'])}")
    return 0
