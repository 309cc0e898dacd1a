"""Replay benchmark: Redis + Arrow replay with the learner-side Sampler, beside an in-process numpy ring buffer.

    .venv/bin/python bench/replay.py [--episodes 24 --length 500 --batch 16 --seq-len 50 --seconds 5 --real 2]

Prints insert steps/s and sample batches/s (B x T x 64x64x3) for both, and Redis memory (INFO used_memory minus
the empty server's) against the raw bytes stored. Goals (issue 4): sampler >= 50 batches/s and >= 0.5x the numpy
ring; Redis memory <= 1.15x raw. The last line is the headline (sampler/numpy ratio); exit 1 if a goal is missed.

Data: synthetic episodes that look like DMC renders -- a sky gradient, a checkered floor scrolling with the camera,
a shaded body swinging smoothly, and a faint texture grain (fixed on the sky, moving with the floor) -- so they
compress like real frames (uniform noise would not compress at all and would overstate memory; flat colour would
overstate compression). `--real N` adds N random-policy episodes
rendered by `actors` (dmc/walker_walk) and prints both compression ratios, so the synthetic data can be judged.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.collect import rate  # calls per second, after a warm-up call
from deploy.redis_server import RedisServer
from replay import RedisReplay, Sampler, connect, episode_to_ipc


def synthetic_episode(length: int, size: int, action_dim: int, seed: int) -> tuple[dict, dict]:
    """A DMC-looking episode: smooth frames (L, size, size, 3), smooth actions and rewards."""
    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=np.float32)[:, None, None]  # (L, 1, 1)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size  # (H, W)
    frames = np.empty((length, size, size, 3), np.float32)
    frames[:] = np.stack([70 + 90 * y, 100 + 80 * y, 170 + 50 * y], -1)  # sky
    checker = (np.floor((x + 0.01 * t) * 8) + np.floor(y * 16)) % 2  # (L, H, W), scrolls with the camera
    floor = y[None] > 0.72
    for c, (dark, light) in enumerate([(40, 90), (60, 110), (80, 130)]):
        frames[..., c] = np.where(floor, dark + (light - dark) * checker, frames[..., c])
    phase = rng.uniform(0, 2 * np.pi, 3)
    for k, (radius, colour) in enumerate([(0.12, (200, 120, 60)), (0.08, (220, 150, 80)), (0.06, (180, 100, 50))]):
        cx = 0.5 + 0.15 * np.sin(0.07 * t + phase[k]) + 0.05 * k
        cy = 0.35 + 0.12 * k + 0.05 * np.cos(0.11 * t + phase[k])
        dist = np.sqrt((x - cx) ** 2 + (y - cy) ** 2) / radius  # (L, H, W)
        body = dist < 1
        shade = 1.0 - 0.5 * dist  # lit centre, darker rim
        for c in range(3):
            frames[..., c] = np.where(body, colour[c] * shade, frames[..., c])
    grain = rng.normal(0, 3, (size, 2 * size, 3)).astype(np.float32)  # render texture, (H, 2W, 3)
    cols = (np.arange(size) + (0.01 * size * t[:, 0]).astype(int)) % (2 * size)  # (L, W): floor scrolls with camera
    frames += np.where(floor[..., None], grain[:, cols].transpose(1, 0, 2, 3), grain[None, :, :size])
    action = np.clip(np.cumsum(rng.normal(0, 0.2, (length, action_dim)), 0), -1, 1).astype(np.float32)
    reward = (0.5 + 0.5 * np.sin(0.03 * np.arange(length) + phase[0])).astype(np.float32)
    action[0], reward[0] = 0, 0
    ep = {"image": np.clip(frames, 0, 255).astype(np.uint8), "action": action, "reward": reward,
          "is_first": np.arange(length) == 0, "is_last": np.arange(length) == length - 1,
          "is_terminal": np.zeros(length, bool), "success": np.zeros(length, bool)}
    meta = {"suite": "dmc", "task": "synthetic", "policy": "synthetic", "seed": seed,
            "return": float(reward.sum(dtype=np.float64)), "length": length, "render_mode": "fast", "size": size,
            "action_repeat": 2, "action_dim": action_dim}
    return ep, meta


def real_episodes(count: int, size: int) -> list[tuple[dict, dict]]:
    """Random-policy dmc/walker_walk episodes rendered by actors/ (fast mode, headless EGL unless MUJOCO_GL is set)."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    from actors import episode_meta, make_env, rollout

    env = make_env("dmc/walker_walk", size=size)
    rng = np.random.default_rng(0)
    width = env.action_space.shape[0]

    def policy(obs, info):
        return rng.uniform(-1, 1, (1, width)).astype(np.float32)

    episodes = []
    for seed in range(count):
        ep = rollout(env, policy, seed)
        episodes.append((ep, episode_meta(env, ep, "random", seed, "fast")))
    env.close()
    return episodes


def raw_bytes(ep: dict) -> int:
    return sum(v.nbytes for v in ep.values())


class NumpyRing:
    """The in-process baseline: one preallocated array per field, episodes laid end to end, FIFO by overwrite."""

    def __init__(self, capacity: int, example: dict):
        self.fields = {k: np.zeros((capacity, *v.shape[1:]), v.dtype) for k, v in example.items()}
        self.capacity, self.cursor = capacity, 0
        self.spans: list[tuple[int, int]] = []  # (start, length) of each stored episode, oldest first

    def insert(self, ep: dict) -> None:
        length = len(ep["reward"])
        if self.cursor + length > self.capacity:
            self.cursor = 0
        start, end = self.cursor, self.cursor + length
        self.spans = [(s, n) for s, n in self.spans if s + n <= start or s >= end] + [(start, length)]
        for key, value in ep.items():
            self.fields[key][start:end] = value
        self.cursor = end

    def sample(self, batch: int, seq_len: int, rng: np.random.Generator) -> dict:
        starts = np.array([s for s, _ in self.spans])  # (N,)
        counts = np.array([n - seq_len + 1 for _, n in self.spans])  # (N,) windows per episode
        picks = rng.integers(0, counts.sum(), batch)  # (B,)
        which = np.searchsorted(np.cumsum(counts), picks, side="right")
        first = starts[which] + picks - (np.cumsum(counts) - counts)[which]  # (B,) ring index of step 0
        index = first[:, None] + np.arange(seq_len)  # (B, T)
        return {key: value[index] for key, value in self.fields.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=24, help="synthetic episodes stored")
    parser.add_argument("--length", type=int, default=500, help="steps per synthetic episode (DMC: 500)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="timing window per sampling measurement")
    parser.add_argument("--real", type=int, default=2, help="real rendered episodes to add (0 = none)")
    parser.add_argument("--compression", default="lz4", choices=["lz4", "zstd", "none"])
    args = parser.parse_args()
    compression = None if args.compression == "none" else args.compression

    episodes = [synthetic_episode(args.length, args.size, 6, seed) for seed in range(args.episodes)]

    def ratio(eps):
        return sum(len(episode_to_ipc(e, m, compression)) for e, m in eps) / sum(raw_bytes(e) for e, _ in eps)

    print(f"synthetic episodes: {args.episodes} x {args.length} steps, {compression} ratio {ratio(episodes[:2]):.3f}")
    if args.real:
        try:
            real = real_episodes(args.real, args.size)
            print(f"real dmc/walker_walk episodes: {len(real)} x {len(real[0][0]['reward'])} steps, "
                  f"{compression} ratio {ratio(real):.3f}")
            episodes += real
        except Exception as err:  # noqa: BLE001 -- the bench stands without actors/
            print(f"real episodes skipped: {type(err).__name__}: {err}")
    total_steps = sum(len(e["reward"]) for e, _ in episodes)
    total_raw = sum(raw_bytes(e) for e, _ in episodes)
    goals_met = True

    with tempfile.TemporaryDirectory() as tmp, RedisServer(Path(tmp) / "redis") as server:
        client = connect(server.url)
        baseline = client.info("memory")["used_memory"]
        replay = RedisReplay(client, capacity_steps=total_steps, compression=compression)
        start = time.perf_counter()
        for ep, meta in episodes:
            replay.insert(ep, meta)
        redis_insert = total_steps / (time.perf_counter() - start)
        memory = client.info("memory")["used_memory"] - baseline
        with Sampler(replay, args.batch, args.seq_len, seed=0, prefetch=4) as sampler:
            start = time.perf_counter()
            sampler.next(timeout=120)
            warmup = time.perf_counter() - start
            redis_sample = rate(sampler.next, args.seconds)

    ring = NumpyRing(total_steps, episodes[0][0])
    start = time.perf_counter()
    for ep, _ in episodes:
        ring.insert(ep)
    ring_insert = total_steps / (time.perf_counter() - start)
    rng = np.random.default_rng(0)
    ring_sample = rate(lambda: ring.sample(args.batch, args.seq_len, rng), args.seconds)

    shape = f"{args.batch} x {args.seq_len} x {args.size}x{args.size}x3"
    print(f"{'':24s}{'insert steps/s':>16s}{'batches/s':>12s}   ({shape})")
    print(f"{'redis + Sampler':24s}{redis_insert:16,.0f}{redis_sample:12.1f}   (cache filled in {warmup:.2f}s)")
    print(f"{'numpy ring (in-process)':24s}{ring_insert:16,.0f}{ring_sample:12.1f}")
    memory_ratio = memory / total_raw
    print(f"redis memory: {memory / 2**20:.1f} MiB for {total_raw / 2**20:.1f} MiB raw = {memory_ratio:.3f}x "
          f"(goal <= 1.15x)")
    for ok, what in [(redis_sample >= 50, f"sampling {redis_sample:.1f} batches/s >= 50"),
                     (redis_sample >= 0.5 * ring_sample, "sampler >= 0.5x numpy ring"),
                     (memory_ratio <= 1.15, "redis memory <= 1.15x raw")]:
        print(f"goal {'met' if ok else 'MISSED'}: {what}")
        goals_met &= ok
    print(f"sampler/numpy ratio: {redis_sample / ring_sample:.2f} (goal >= 0.5)")
    return 0 if goals_met else 1


if __name__ == "__main__":
    sys.exit(main())
