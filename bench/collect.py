"""Env frames/s for source-data collection, side by side in one run (issue 2's benchmark).

    MUJOCO_GL=egl .venv/bin/python bench/collect.py [--seconds 8] [--size 64]

1. the peers' default render path at 64x64: dm_control `suite.load` + `physics.render` (DMC walker, quadruped) and
   gymnasium's Meta-World renderer (door-lock), stepping random actions with the same action repeat as ours;
2. our suite (`actors.make_env`) in `fast` mode (reused mujoco.Renderer, no shadows/reflections) and
   `faithful` mode, same tasks;
3. collection through `actors.Collector`: a plain in-process loop, then 1 and 2 Ray env actors.

Goals: ours >= 4x the peers' path on walker; one actor >= 0.9x the plain loop; two actors >= 1.7x one actor.
The last line is the headline; the exit code is 1 when a goal is missed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402


def rate(step, seconds: float) -> float:
    """Calls of `step` per second over about `seconds` (after one warm-up call)."""
    step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - start)


def peer_dmc(domain: str, task: str, size: int, camera: int, seconds: float) -> float:
    from dm_control import suite

    env = suite.load(domain, task)
    spec = env.action_spec()
    rng = np.random.default_rng(0)
    env.reset()

    def step():
        action = rng.uniform(spec.minimum, spec.maximum)
        for _ in range(2):  # action repeat 2, as ours
            if env.step(action).last():
                env.reset()
        env.physics.render(size, size, camera_id=camera)
    return rate(step, seconds)


def peer_metaworld(name: str, size: int, seconds: float) -> float:
    import gymnasium as gym
    import metaworld  # noqa: F401  (registers Meta-World/MT1)

    env = gym.make("Meta-World/MT1", env_name=f"{name}-v3", render_mode="rgb_array", width=size, height=size,
                   camera_name="corner")
    env.reset(seed=0)

    def step():
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        env.render()
        if term or trunc:
            env.reset()
    result = rate(step, seconds)
    env.close()
    return result


def ours(task: str, size: int, mode: str, seconds: float) -> float:
    from actors import make_env

    env = make_env(task, size=size, render_mode=mode, seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step():
        _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        if term or trunc:
            env.reset()
    result = rate(step, seconds)
    env.close()
    return result


def collection(actors: int, episodes: int, size: int, time_limit: int) -> float:
    """Frames/s of `episodes` random walker episodes: in-process (actors=0) or over Ray env actors."""
    from actors import Collector

    env_kwargs = {"size": size, "time_limit": time_limit, "render_mode": "fast"}
    if actors == 0:
        collector = Collector("dmc", env_kwargs, "data/agents")
        collector.play("walker_walk", "random", 0)  # warm-up: build the env
        start = time.perf_counter()
        frames = sum(len(collector.play("walker_walk", "random", i)[0]["reward"]) for i in range(episodes))
        collector.close()
        return frames / (time.perf_counter() - start)
    import ray

    from deploy.ray_runtime import remote

    handles = [remote(Collector, num_cpus=1).remote("dmc", env_kwargs, "data/agents") for _ in range(actors)]
    ray.get([h.play.remote("walker_walk", "random", 0) for h in handles])  # warm-up: build envs
    start = time.perf_counter()
    refs = [handles[i % actors].play.remote("walker_walk", "random", i) for i in range(episodes)]
    frames = sum(len(ep["reward"]) for ep, _ in ray.get(refs))
    elapsed = time.perf_counter() - start
    for h in handles:
        ray.kill(h)
    return frames / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="timing window per render path")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=8, help="episodes per collection measurement")
    parser.add_argument("--time-limit", type=int, default=400, help="env steps per collected episode")
    args = parser.parse_args()
    s, t = args.size, args.seconds
    print(f"env frames/s at {s}x{s} (one rendered frame per agent step), {t:.0f} s per path")
    rows = [("dmc/walker_walk", peer_dmc("walker", "walk", s, 0, t), ours("dmc/walker_walk", s, "fast", t),
             ours("dmc/walker_walk", s, "faithful", t)),
            ("dmc/quadruped_walk", peer_dmc("quadruped", "walk", s, 2, t),
             ours("dmc/quadruped_walk", s, "fast", t), ours("dmc/quadruped_walk", s, "faithful", t)),
            ("metaworld/door-lock", peer_metaworld("door-lock", s, t), ours("metaworld/door-lock", s, "fast", t),
             ours("metaworld/door-lock", s, "faithful", t))]
    print(f"{'task':22s} {'peer default':>13s} {'ours fast':>10s} {'ours faithful':>14s} {'fast/peer':>10s}")
    for task, peer, fast, faithful in rows:
        print(f"{task:22s} {peer:13.1f} {fast:10.1f} {faithful:14.1f} {fast / peer:9.2f}x")

    import ray

    from deploy.ray_runtime import local_ray

    local_ray()
    plain = collection(0, args.episodes, s, args.time_limit)
    one = collection(1, args.episodes, s, args.time_limit)
    two = collection(2, args.episodes, s, args.time_limit)
    ray.shutdown()
    print(f"collection (walker_walk, random, {args.episodes} episodes of {args.time_limit} env steps): "
          f"plain loop {plain:.1f}, 1 actor {one:.1f}, 2 actors {two:.1f} frames/s")
    speedup = rows[0][2] / rows[0][1]
    goals = {"renderer >= 4x peer on walker": speedup >= 4.0, "1 actor >= 0.9x plain loop": one / plain >= 0.9,
             "2 actors >= 1.7x one actor": two / one >= 1.7}
    for name, ok in goals.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")
    print(f"headline: walker fast renderer {speedup:.2f}x the peers' path; 1 actor {one / plain:.2f}x plain loop; "
          f"2 actors {two / one:.2f}x one actor")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
