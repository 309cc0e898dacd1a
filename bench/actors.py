"""Env frames/s of env actors streaming whole episodes into the Redis replay, beside a plain env loop (issue 4).

    MUJOCO_GL=egl .venv/bin/python bench/actors.py [--seconds 20] [--size 64]

1. plain loop: `actors.make_env` stepped with random actions, nothing stored;
2. one Ray env actor (`deploy.services.EnvActor`: env loop + Player + Redis insert of every finished episode);
3. two env actors at once (per-actor rate and total).
Actors act before the first weights arrive (uniform actions), so the figure is the streaming path's cost, not
the policy network's; the rate with broadcast weights (a `cpu`-preset Player) is printed for reference.
Goal: per-actor frames/s >= 0.85x the plain loop, with one and with two actors. Last line: the headline.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

TASK = "dmc/walker_walk"


def plain_loop(env_kwargs: dict, seconds: float) -> float:
    from actors import make_env

    env = make_env(TASK, **env_kwargs, seed=0)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    frames, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        frames += 1
        if term or trunc:
            env.reset()
    env.close()
    return frames / (time.perf_counter() - start)


def actors_rate(n: int, env_kwargs: dict, spec: dict, url: str, seconds: float, weights=None,
                version: int = -1) -> list[float]:
    """Per-actor agent steps/s over `seconds` of 100-step chunks, each actor with a second chunk queued behind the
    running one (as a driver keeps them busy: no actor waits for the other or for a round trip). `weights` (of
    `version`) go out as one object-store ref, as the driver broadcasts them."""
    import ray

    from deploy.ray_runtime import remote
    from deploy.services import EnvActor

    handles = [remote(EnvActor, num_cpus=1).remote(TASK, env_kwargs, 1, spec, url, 1_000_000, 0, i)
               for i in range(n)]
    refs = [ray.put(weights)] if weights is not None else None
    ray.get([h.step.remote(10, version, refs) for h in handles])  # warm-up: envs built, weights adopted
    steps, start = [0] * n, time.perf_counter()
    running = {h.step.remote(100, version, refs): i for i, h in enumerate(handles) for _ in range(2)}
    while time.perf_counter() - start < seconds:
        [done], _ = ray.wait(list(running), num_returns=1)
        i = running.pop(done)
        steps[i] += 100
        running[handles[i].step.remote(100, version, refs)] = i
    elapsed = time.perf_counter() - start
    ray.get(list(running))
    ray.get([h.close.remote() for h in handles])
    for h in handles:
        ray.kill(h)
    return [s / elapsed for s in steps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    import ray

    from deploy.config import load_config
    from deploy.ray_runtime import local_ray
    from deploy.redis_server import RedisServer
    from learner import Learner
    from runtime import plan_run

    env_kwargs = {"size": args.size, "render_mode": "fast"}
    cfg = load_config("cpu", [f"env.task={TASK}", f"env.size={args.size}", "train.method=dreamerv2"])
    plan = plan_run(cfg)
    spec = plan.spec.to_dict()
    plain = plain_loop(env_kwargs, args.seconds)
    local_ray()
    with tempfile.TemporaryDirectory() as tmp, RedisServer(tmp) as redis:
        one = actors_rate(1, env_kwargs, spec, redis.url, args.seconds)[0]
        two = actors_rate(2, env_kwargs, spec, redis.url, args.seconds)
        weights, version = Learner(plan.spec, cfg.learner).policy_weights()
        acting = actors_rate(1, env_kwargs, spec, redis.url, args.seconds, weights, version)[0]
    ray.shutdown()
    print(f"{TASK} at {args.size}x{args.size}, agent steps/s (one rendered frame each):")
    print(f"  plain env loop                  {plain:8.1f}")
    print(f"  1 env actor -> Redis            {one:8.1f}  ({one / plain:.2f}x plain)")
    print(f"  2 env actors -> Redis, each     {np.mean(two):8.1f}  ({np.mean(two) / plain:.2f}x plain), "
          f"total {sum(two):.1f}")
    print(f"  1 env actor acting with `cpu`-preset weights {acting:8.1f} (policy inference included)")
    worst = min(one, min(two)) / plain
    print(f"headline: per-actor streaming throughput {worst:.2f}x the plain env loop (goal >= 0.85x)")
    return 0 if worst >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
