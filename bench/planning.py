"""Where PVDR plans: in each env actor (the broadcast modules, as every method acts) or in a planner actor the env
actors call. Measures, in one run at the `cpu` preset's PVDR sizes (64x64 frames, 8x8 tokens, N = 16 candidates):

    1. one acting step of `PvdrPlayer` in this process (plan + align), K envs at once
    2. the same step through a Ray actor holding the player (the obs there, the action and extras back)
    3. the Ray round trip alone for the same payload (an actor that returns at once)

    MUJOCO_GL=egl .venv/bin/python bench/planning.py [--envs 1] [--steps 20] [--preset cpu]

Headline (last line): remote / in-process time per acting step. Planning stays in the env actors while the remote
path is not faster (>= 0.95x): with no GPU to batch many actors' candidates, a planner actor only adds the round
trip and serialises every actor's planning through one process. Exit 1 when the remote path is faster by more
than 5% (then the decision should change).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def per_step(fn, steps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=1, help="envs per actor (K)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--preset", default="cpu")
    args = parser.parse_args()

    import ray
    import torch

    from deploy.config import load_config
    from deploy.ray_runtime import local_ray
    from learner import AgentSpec, Player, make_learner

    torch.set_num_threads(1)  # an env actor's share of a node
    cfg = load_config(args.preset, ["train.method=pvdr", "env.goal=true", "env.task=metaworld/reach"])
    spec = AgentSpec.create(cfg.model, cfg.ac, cfg.vae, method="pvdr", image_size=cfg.env.size, action_dim=4,
                            action_width=4, n_domains=0, pvdr=cfg.pvdr)
    weights, version = make_learner(spec, cfg.learner).policy_weights()
    rng = np.random.default_rng(0)
    K, size = args.envs, cfg.env.size
    obs = {"image": rng.integers(0, 255, (K, size, size, 3), dtype=np.uint8), "is_first": np.zeros(K, bool),
           "goal": rng.integers(0, 255, (K, size, size, 3), dtype=np.uint8)}
    player = Player.for_spec(spec, seed=0)
    player.load(weights, version)
    local = per_step(lambda: player(obs), args.steps)

    class Planner:
        def __init__(self):
            torch.set_num_threads(1)
            self.player = Player.for_spec(spec, seed=0)
            self.player.load(weights, version)

        def act(self, observation):
            return self.player(observation), self.player.extras

        def echo(self, observation):
            return np.zeros((K, 4), np.float32), {}

    local_ray(num_cpus=2)
    try:
        planner = ray.remote(num_cpus=1)(Planner).remote()
        remote = per_step(lambda: ray.get(planner.act.remote(obs)), args.steps)
        trip = per_step(lambda: ray.get(planner.echo.remote(obs)), args.steps)
    finally:
        ray.shutdown()
    print(f"PVDR acting step, K={K} envs, N={cfg.pvdr.candidates} candidates, {cfg.pvdr.grid}x{cfg.pvdr.grid} tokens:")
    print(f"  in the env actor's process: {1e3 * local:.1f} ms")
    print(f"  through a planner actor:    {1e3 * remote:.1f} ms (of which the Ray round trip {1e3 * trip:.1f} ms)")
    ratio = remote / local
    print(f"headline: planner actor / in-process time per acting step = {ratio:.2f}x (plan in the env actors while "
          f">= 0.95x)")
    return 0 if ratio >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
