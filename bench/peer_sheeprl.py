"""The peer side of bench/learner.py: seconds per sheeprl 0.8.x DreamerV2 gradient step, run in the peer's own venv.

    MUJOCO_GL=egl .venv-peer/bin/python bench/peer_sheeprl.py [--updates 3] [--warmup 1] [--threads 2] [key=value ...]

Runs sheeprl's own CLI (`exp=dreamer_v2`) on DMC walker_walk from 64x64 pixels with these overrides
and sizes (CNN multiplier 48, stoch 32x32 discrete, deter 200, hidden 200, MLPs 400 x 4, B16 x T50, H 15, CPU, fp32),
with `sheeprl.algos.dreamer_v2.dreamer_v2.train` wrapped to time each call (one call = one world-model + actor +
critic gradient step on one batch; env stepping and batch sampling are outside it). One env and
`learning_starts` = 50 steps fill the buffer quickly; the first training's pretrain steps provide the calls. After
`warmup + updates` calls it prints one parseable line and exits (the rest of the run is not needed):

    PEER_S_PER_UPDATE <median seconds> n=<timed calls> calls=<every call, s> threads=<n>

Metric logging is off (`metric.log_level=0`): sheeprl then skips its entropy metrics, which only makes the peer faster.
Only this venv's packages are imported here (no vid2act code).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def overrides(calls: int, threads: int) -> list[str]:
    return [
        "exp=dreamer_v2", "env=dmc", "env.id=walker_walk", "env.wrapper.domain_name=walker",
        "env.wrapper.task_name=walk", "env.wrapper.from_pixels=True", "env.wrapper.from_vectors=False",
        "env.num_envs=1", "env.sync_env=True", "env.capture_video=False", "env.screen_size=64",
        "algo.cnn_keys.encoder=[rgb]", "algo.mlp_keys.encoder=[]",
        "buffer.size=20000", "buffer.memmap=False", "buffer.checkpoint=False", "checkpoint.every=0",
        "algo.run_test=False", "fabric.accelerator=cpu", "fabric.precision=32-true", f"num_threads={threads}",
        "metric.log_level=0",
        # Sizes (PEERS.md): DreamerV2 with deter/hidden 200.
        "algo.world_model.recurrent_model.recurrent_state_size=200",
        "algo.world_model.transition_model.hidden_size=200", "algo.world_model.representation_model.hidden_size=200",
        "algo.world_model.encoder.cnn_channels_multiplier=48", "algo.world_model.stochastic_size=32",
        "algo.world_model.discrete_size=32", "algo.dense_units=400", "algo.mlp_layers=4", "algo.horizon=15",
        "algo.per_rank_batch_size=16", "algo.per_rank_sequence_length=50",
        # Schedule: fill 50 steps, then the first training's pretrain steps are the timed calls.
        "algo.learning_starts=50", f"algo.per_rank_pretrain_steps={calls}", "algo.replay_ratio=0.2",
        f"algo.total_steps={50 + 4 * calls + 10}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("extra", nargs="*", help="more sheeprl overrides (key=value)")
    args = parser.parse_args()
    calls = args.warmup + args.updates
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)

    import torch
    import sheeprl.algos.dreamer_v2.dreamer_v2 as dv2
    from sheeprl.cli import run

    original, times = dv2.train, []

    def timed_train(*a, **k):
        if not times:
            torch.set_num_threads(args.threads)
        start = time.perf_counter()
        original(*a, **k)
        times.append(time.perf_counter() - start)
        print(f"peer train call {len(times)}: {times[-1]:.2f} s", file=sys.stderr, flush=True)
        if len(times) >= calls:
            timed = times[args.warmup:]
            print(f"PEER_S_PER_UPDATE {statistics.median(timed):.4f} n={len(timed)} "
                  f"calls={','.join(f'{t:.2f}' for t in times)} threads={torch.get_num_threads()} "
                  f"torch={torch.__version__}", flush=True)
            os._exit(0)  # enough calls: skip the rest of the run

    dv2.train = timed_train  # dreamer_v2.main looks `train` up in its module at call time
    os.chdir(tempfile.mkdtemp(prefix="peer_sheeprl_"))  # sheeprl/hydra write logs/ under the cwd
    sys.argv = ["sheeprl", *overrides(calls, args.threads), *args.extra]
    run()
    print(f"peer run ended after {len(times)} train calls (needed {calls})", file=sys.stderr)
    sys.exit(3)


if __name__ == "__main__":
    main()
