"""Teacher features for one batch (B16 x T50, 64x64, `cpu` preset model) with N = 1, 2, 4, 8 frozen teachers:
the batched pool vs a Python loop over teachers (same run, interleaved), and the Ray-actor path.

    .venv/bin/python bench/teachers.py [--reps 5] [--ns 1,2,4,8] [--no-ray]

Prints median seconds per call and t(N)/t(1). Goal (issue 3): batched N=4 <= 0.8x the loop; exit 1 if missed.
The last line is the headline: the batched/loop ratio at N=4.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deploy.config import load_config
from learner import WorldModel, checkpoint, model_kwargs, pick_device
from teachers import TeacherPool

B, T, SIZE, A = 16, 50, 64, 6
GOAL = 0.8


def make_teachers(root: Path, n: int) -> list[str]:
    kwargs = model_kwargs(load_config("cpu").model, SIZE, A, reward_head=False)
    dirs = []
    for i in range(n):
        torch.manual_seed(i)
        checkpoint.save(root / f"t{i}", {"model": WorldModel(**kwargs)}, {"step": 0, "kwargs": kwargs})
        dirs.append(str(root / f"t{i}"))
    return dirs


def make_batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    first = np.zeros((B, T), bool)
    first[:, 0] = True
    return {"image": rng.integers(0, 256, (B, T, SIZE, SIZE, 3), dtype=np.uint8),
            "action": rng.uniform(-1, 1, (B, T, A)).astype(np.float32), "is_first": first}


def timed(fns: dict, reps: int) -> dict[str, float]:
    """Median seconds per call; the functions run interleaved so machine noise hits them alike."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def ray_times(dirs: list[str], ns: list[int], batch: dict, reps: int) -> dict[int, float]:
    import ray

    from deploy.ray_runtime import local_ray
    from deploy.teacher_service import remote_features, start_teacher_actors

    local_ray()
    out = {}
    try:
        for n in ns:
            handles = start_teacher_actors(dirs[:n], groups=1, num_cpus=2, name=f"bench-{n}")
            out[n] = timed({"ray": lambda h=handles: remote_features(h, batch)}, reps)["ray"]
            for handle in handles:
                ray.kill(handle)
    finally:
        ray.shutdown()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--ns", default="1,2,4,8")
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    ns = [int(n) for n in args.ns.split(",")]
    pick_device("cpu")
    torch.set_num_threads(2)
    batch = make_batch()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = make_teachers(Path(tmp), max(ns))
        res = {}
        inputs = (batch["image"], batch["action"], batch["is_first"])
        for n in ns:
            pool = TeacherPool.load(dirs[:n])
            res[n] = timed({"batched": lambda p=pool: p.features(*inputs),
                            "loop": lambda p=pool: p.features_loop(*inputs)}, args.reps)
        ray_res = {} if args.no_ray else ray_times(dirs, ns, batch, max(2, args.reps // 2))
    base = res[ns[0]]
    print(f"teacher features, B{B} x T{T}, {SIZE}x{SIZE}, cpu preset, {torch.get_num_threads()} threads "
          f"(median of {args.reps})")
    print(f"{'N':>3} {'batched s':>10} {'loop s':>8} {'ray s':>8} {'b/loop':>7} {'b t(N)/t(1)':>12} "
          f"{'loop t(N)/t(1)':>15}")
    for n in ns:
        r = res[n]
        ray_s = f"{ray_res[n]:8.3f}" if n in ray_res else f"{'-':>8}"
        print(f"{n:>3} {r['batched']:10.3f} {r['loop']:8.3f} {ray_s} {r['batched'] / r['loop']:7.2f} "
              f"{r['batched'] / base['batched']:12.2f} {r['loop'] / base['loop']:15.2f}")
    if 4 not in res:
        print("N=4 not measured: no headline")
        return 0
    ratio = res[4]["batched"] / res[4]["loop"]
    print(f"headline: batched/loop at N=4 = {ratio:.2f} (goal <= {GOAL}) {'OK' if ratio <= GOAL else 'MISSED'}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
