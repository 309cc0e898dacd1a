"""Evidence for issue 5, items 1 and 2: which source the domain weights select, and whether teachers help dynamics.

    MUJOCO_GL=egl .venv/bin/python bench/transfer.py [--updates 600] [--out docs/results]
    MUJOCO_GL=egl .venv/bin/python bench/transfer.py --target cartpole_balance --sources cartpole_swingup,walker_walk \
        --sizes cpu --teachers runs/bench-learning/teachers/cartpole_swingup,runs/bench-learning/teachers/walker_walk

Default: target `dmc/walker_run`; sources `walker_walk`, `cheetah_run`, `hopper_stand`, at tiny sizes (32x32).
Episodes are random-policy ones: the comparison is about dynamics, which random actions exercise. One teacher per
source (Eq. 2; or `--teachers`, already pretrained), then, on one fixed target dataset, two students trained for
the same number of updates from the same seed: `vid2act` (distillation against the teachers, Eq. 3-5; method
`no_action_guidance`, i.e. vid2act's world model without the action VAE, which does not touch dynamics) and
`dreamerv2` (no teachers). Prints the running domain weight of each source over updates
(`domain_weights_<target>.png`) and the held-out open-loop prediction error of both students
(`transfer_openloop_<target>.png`, numbers in `transfer_<target>.json`). Goals: a source of the target's own body
(its domain name) dominates; with teachers the open-loop MSE is no worse than without. Last line: the headline.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

SIZES = {"cpu": ["env.time_limit=400", "teacher.heldout=2", "vae.hidden=64"],
         "tiny": ["env.size=32", "env.time_limit=400", "model.depth=8", "model.stoch=16", "model.deter=64",
         "model.hidden=64", "model.units=64", "ac.units=64", "replay.batch=8", "replay.seq_len=32",
         "teacher.batch=8", "teacher.seq_len=32", "teacher.heldout=2", "vae.hidden=64", "ac.horizon=8"]}


def data(cfg, root: Path, tasks: tuple[str, ...], episodes: int) -> dict:
    from deploy import collect

    cfg.collect.tasks, cfg.collect.episodes, cfg.collect.out = ",".join(tasks), episodes, str(root)
    cfg.collect.policy = "random"
    return collect.collect(cfg, progress=False)


def train_student(cfg, method: str, pool, teachers: list[str], target_eps: list, updates: int, seed: int):
    from learner import Learner
    from replay import sample_windows
    from runtime import plan_run

    cfg.train.method, cfg.train.teachers = method, ",".join(teachers)
    spec = plan_run(cfg).spec  # the run's own rule: the teachers' action width, else model.action_pad
    learner = Learner(spec, cfg.learner, pool.feature_size if pool else 0, None, "cpu", seed)
    rng, history = np.random.default_rng(seed), []
    for step in range(updates):
        batch = sample_windows(target_eps, cfg.replay.batch, cfg.replay.seq_len, rng)
        feats = pool.features(batch["image"], batch["action"], batch["is_first"]) if pool else None
        metrics = learner.update(batch, feats)
        if pool is not None:
            history.append([float(v) for v in learner.running.value])
        if step % 100 == 0:
            print(f"  {method}: update {step}/{updates} image_nll {metrics['train/image_nll']:.1f}", flush=True)
    return learner, np.array(history)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="walker_run")
    parser.add_argument("--sources", default="walker_walk,cheetah_run,hopper_stand")
    parser.add_argument("--sizes", choices=sorted(SIZES), default="tiny", help="tiny (32x32) or the cpu preset's")
    parser.add_argument("--teachers", default="", help="pretrained teacher dirs, in --sources order")
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--teacher-steps", type=int, default=600)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--work", default="runs/bench-transfer")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import ray

    from deploy import pretrain
    from deploy.config import load_config
    from deploy.ray_runtime import local_ray
    from replay import DatasetReader
    from teachers import TeacherPool, write_report

    work, out, target_task, names = Path(args.work) / args.target, Path(args.out), args.target, args.sources.split(",")
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config("cpu", [*SIZES[args.sizes], f"teacher.steps={args.teacher_steps}", "model.action_pad=6",
                              f"env.task=dmc/{target_task}"])
    local_ray()
    target = data(cfg, work / "target", (target_task,), args.episodes)[target_task]
    teachers = args.teachers.split(",") if args.teachers else []
    if not teachers:
        for task, dataset in data(cfg, work / "sources", tuple(names), args.episodes).items():
            summary = pretrain.pretrain(cfg, str(dataset), str(work / "teachers" / task))
            print(f"teacher {task}: {summary['steps']} steps, open-loop PSNR {summary['openloop_psnr']} dB",
                  flush=True)
            teachers.append(str(work / "teachers" / task))
    ray.shutdown()
    pool = TeacherPool.load(teachers, "cpu")
    episodes = [ep for ep, _ in DatasetReader(target).episodes()]
    train_eps, heldout = episodes[:-2], episodes[-2:]
    results = {}
    # Dynamics only: `no_action_guidance` is vid2act's world model (Eq. 3-5) without the action VAE.
    for method in ("no_action_guidance", "dreamerv2"):
        learner, history = train_student(cfg, method, pool if method != "dreamerv2" else None, teachers, train_eps,
                                         args.updates, cfg.seed)
        report = write_report(learner.model, heldout, work / f"openloop-{method}", context=5, horizon=45)
        results[method] = {"mse": report["mse"], "mse_mean": report["mse_mean"], "psnr_mean": report["psnr_mean"]}
        if method != "dreamerv2":
            weights = history
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, task in enumerate(names):
        ax.plot(weights[:, i], label=task)
    ax.set(xlabel="updates", ylabel="running domain weight", title=f"target {target_task}", ylim=(0, 1))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / f"domain_weights_{target_task}.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for method, r in results.items():
        ax.plot(np.arange(1, len(r["mse"]) + 1), r["mse"], label=f"{method} (mean {r['mse_mean']:.4f})")
    ax.set(xlabel="steps predicted open loop (after 5 context frames)", ylabel="MSE",
           title=f"held-out {target_task} episodes after {args.updates} updates")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / f"transfer_openloop_{target_task}.png", dpi=120)
    plt.close(fig)
    final = dict(zip(names, weights[-1].tolist()))
    dominant = max(final, key=final.get)
    summary = {"final_weights": final, "dominant": dominant, **results, "updates": args.updates}
    (out / f"transfer_{target_task}.json").write_text(json.dumps(summary, indent=1))
    print("final domain weights:", ", ".join(f"{k} {v:.3f}" for k, v in final.items()))
    ratio = results["no_action_guidance"]["mse_mean"] / results["dreamerv2"]["mse_mean"]
    print(f"open-loop MSE: with teachers {results['no_action_guidance']['mse_mean']:.5f}, dreamerv2 "
          f"{results['dreamerv2']['mse_mean']:.5f}")
    ok = dominant.split("_")[0] == target_task.split("_")[0] and ratio <= 1.0
    print(f"headline: dominant source {dominant} ({final[dominant]:.2f}); open-loop MSE with teachers / without "
          f"= {ratio:.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
