"""Teacher features for one batch (B16 x T50, 64x64, `cpu` preset model) with N = 1, 2, 4, 8 frozen teachers:
the batched pool vs a Python loop over teachers (same run, interleaved), and the Ray-actor path.

    .venv/bin/python bench/teachers.py [--reps 7] [--ns 1,2,4,8] [--no-ray] [--device auto]

Prints median seconds per call and t(N)/t(1). The batched pool runs in the device's default encoder layout (per
teacher on a CPU, grouped convs on CUDA) and, as `alt`, in the other one. Goal (issue 3): batched N=4 <= 0.8x the
loop; exit 1 if missed. Also prints a floor per N: the ratio a batched path would reach if batching removed
everything but the N encoders (preprocessing once, all N RSSM scans for the price of one),
(P + N*E + R) / loop(N), from one teacher's parts timed in the same run. On a CPU the encoders' convs are
compute-bound and do the same work batched or looped, so this floor is how far batching can go there.
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
from learner import WorldModel, autocast, pick_device, preprocess, save_checkpoint
from teachers import TeacherPool

B, T, SIZE, A = 16, 50, 64, 6
GOAL = 0.8


def make_teachers(root: Path, n: int) -> list[str]:
    kwargs = load_config("cpu").model.kwargs(SIZE, A, reward_head=False)
    dirs = []
    for i in range(n):
        torch.manual_seed(i)
        save_checkpoint(root / f"t{i}", {"model": WorldModel(**kwargs)}, {"step": 0, "kwargs": kwargs})
        dirs.append(str(root / f"t{i}"))
    return dirs


def make_batch() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    first = np.zeros((B, T), bool)
    first[:, 0] = True
    return {"image": rng.integers(0, 256, (B, T, SIZE, SIZE, 3), dtype=np.uint8),
            "action": rng.uniform(-1, 1, (B, T, A)).astype(np.float32), "is_first": first}


def timed(fns: dict, reps: int, sync=lambda: None) -> dict[str, float]:
    """Median seconds per call; the functions run interleaved so machine noise hits them alike. `sync` waits for
    queued GPU work."""
    for fn in fns.values():
        fn()
    sync()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def part_fns(pool: TeacherPool, inputs: tuple) -> dict:
    """One teacher's parts, to time: preprocessing P, conv encoder E, RSSM scan R (as the pool runs them)."""
    def part(fn):
        def run():
            with torch.no_grad(), autocast(pool.device):
                return fn()
        return run
    image, action, first = pool._inputs(*inputs)
    model, x = pool.models[0], preprocess(image)
    embed = part(lambda: model.encoder(x))().unflatten(0, first.shape)
    return {"P": part(lambda: preprocess(image)), "E": part(lambda: model.encoder(x)),
            "R": part(lambda: model.observe(embed, action, first, sample=False))}


def ray_times(dirs: list[str], ns: list[int], batch: dict, reps: int, gpu: bool) -> dict[int, float]:
    import ray

    from deploy.ray_runtime import local_ray
    from deploy.teacher_service import remote_features, start_teacher_actors

    local_ray()
    out = {}
    try:
        for n in ns:
            handles = start_teacher_actors(dirs[:n], groups=1, num_cpus=2, num_gpus=1 if gpu else None,
                                           name=f"bench-{n}")
            out[n] = timed({"ray": lambda h=handles: remote_features(h, batch)}, reps)["ray"]
            for handle in handles:
                ray.kill(handle)
    finally:
        ray.shutdown()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--ns", default="1,2,4,8")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args()
    ns = [int(n) for n in args.ns.split(",")]
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    if not gpu:
        torch.set_num_threads(2)
    batch = make_batch()
    with tempfile.TemporaryDirectory() as tmp:
        dirs = make_teachers(Path(tmp), max(ns))
        res = {}
        inputs = (batch["image"], batch["action"], batch["is_first"])
        for n in ns:
            pool = TeacherPool.load(dirs[:n], device)
            alt = TeacherPool.load(dirs[:n], device, grouped_convs=not pool.grouped_convs)
            res[n] = timed({"batched": lambda p=pool: p.features(*inputs), "alt": lambda p=alt: p.features(*inputs),
                            "loop": lambda p=pool: p.features_loop(*inputs), **part_fns(pool, inputs)},
                           args.reps, sync)
        ray_res = {} if args.no_ray else ray_times(dirs, ns, batch, args.reps, gpu)
    layouts = ("per-teacher convs", "grouped convs")[::-1 if pool.grouped_convs else 1]
    where = torch.cuda.get_device_name() if gpu else f"CPU, {torch.get_num_threads()} threads"
    print(f"teacher features, B{B} x T{T}, {SIZE}x{SIZE}, cpu preset, {where} (median of {args.reps}); "
          f"batched: {layouts[0]}, alt: {layouts[1]}")
    print(f"{'N':>3} {'loop s':>8} {'batched s':>10} {'alt s':>7} {'ray s':>7} {'b/loop':>7} {'alt/loop':>9} "
          f"{'b t(N)/t(1)':>12} {'loop t(N)/t(1)':>15} {'floor':>6}")
    base = res[ns[0]]
    for n in ns:
        r = res[n]
        ray_s = f"{ray_res[n]:7.3f}" if n in ray_res else f"{'-':>7}"
        print(f"{n:>3} {r['loop']:8.3f} {r['batched']:10.3f} {r['alt']:7.3f} {ray_s} {r['batched'] / r['loop']:7.2f} "
              f"{r['alt'] / r['loop']:9.2f} {r['batched'] / base['batched']:12.2f} {r['loop'] / base['loop']:15.2f} "
              f"{(r['P'] + n * r['E'] + r['R']) / r['loop']:6.2f}")
    parts = res[max(ns)]
    print(f"one teacher: preprocess {parts['P'] * 1e3:.1f} ms, encoder {parts['E'] * 1e3:.1f} ms, "
          f"RSSM scan {parts['R'] * 1e3:.1f} ms")
    if 4 not in res:
        print("N=4 not measured: no headline")
        return 0
    ratio = res[4]["batched"] / res[4]["loop"]
    print(f"headline: batched/loop at N=4 = {ratio:.2f} (goal <= {GOAL}) {'OK' if ratio <= GOAL else 'MISSED'}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
