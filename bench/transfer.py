"""Issue 13's E1 (dynamics transfer) and E2 (domain selection): do teachers help a student predict the target?

    MUJOCO_GL=egl .venv/bin/python bench/transfer.py --teachers DIR1,DIR2,... [--target walker_stand] [--seeds 5] \
        [--updates 500] [--episodes 30] [--work runs/bench-transfer] [--out docs/results/transfer-walker_stand] \
        [--scratch-from <an earlier --work>] [key=value ...]
    MUJOCO_GL=egl .venv/bin/python bench/transfer.py --sizes tiny       # no --teachers: random sources, tiny teachers

On one fixed set of target episodes (random-policy ones: the comparison is about dynamics, which random actions
exercise; the last fifth held out), for every seed two students train for the same number of world-model updates
from the same seed: with the teachers (`no_action_guidance`: vid2act's world model, Eq. 3-5, without the action
VAE, which does not touch dynamics) and without them (`dreamerv2`). Behaviour learning is skipped (`behave=False`):
it does not change the world model. Then each predicts the held-out episodes open loop (5 context frames, 45
predicted). Seeds train `--jobs` at a time (a process and one torch thread each); every seed's result is written as
it ends (`<work>/seed-<k>.json`), so a re-run resumes.

E1: the mean over seeds of (MSE with teachers / MSE without), with a 95% bootstrap CI (scipy); goal <= 0.85 with
the CI's upper end below 1. E2: the running domain weights over updates per seed; goal: the target's own body
(sources whose name starts like the target's, e.g. walker_*) holds more than half the weight in at least 4 of 5
seeds. Writes `transfer.json` (per-seed numbers and the summary), `openloop_mse.png` and `domain_weights.png` to
--out. Exit 1 when a goal is missed; the last line is the headline.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

SIZES = {"cpu": ["vae.hidden=64"],
         "tiny": ["env.size=32", "env.time_limit=400", "model.depth=8", "model.stoch=16", "model.deter=64",
                  "model.hidden=64", "model.units=64", "ac.units=64", "replay.batch=8", "replay.seq_len=32",
                  "teacher.batch=8", "teacher.seq_len=32", "teacher.heldout=2", "vae.hidden=64", "ac.horizon=8"]}
METHODS = {"teachers": "no_action_guidance", "scratch": "dreamerv2"}


def data(cfg, root: Path, tasks: tuple[str, ...], episodes: int) -> dict:
    """Random-policy episodes of `tasks` in `root` (`vid2act collect`; kept episodes are reused)."""
    from deploy import collect

    cfg.collect.tasks, cfg.collect.episodes, cfg.collect.out = ",".join(tasks), episodes, str(root)
    cfg.collect.policy = "random"
    return collect.collect(cfg, progress=False)


def train_student(cfg, method: str, pool, teachers: list[str], episodes: list, updates: int, seed: int):
    """A student trained `updates` world-model updates on windows of `episodes`; returns (learner, weights (U, N))."""
    from learner import Learner
    from replay import sample_windows
    from runtime import plan_run

    cfg.train.method, cfg.train.teachers = method, ",".join(teachers)
    spec = plan_run(cfg).spec  # the run's own rule: the teachers' action width
    learner = Learner(spec, cfg.learner, pool.feature_size if pool else 0, None, "cpu", seed)
    rng, history = np.random.default_rng(seed), []
    for step in range(updates):
        batch = sample_windows(episodes, cfg.replay.batch, cfg.replay.seq_len, rng)
        feats = pool.features(batch["image"], batch["action"], batch["is_first"]) if pool else None
        metrics = learner.update(batch, feats, behave=False)
        if pool is not None:
            history.append([float(v) for v in learner.running.value])
        if step % 100 == 0:
            print(f"  seed {seed} {method}: update {step}/{updates} image_nll {metrics['train/image_nll']:.1f}",
                  flush=True)
    return learner, np.array(history)


def run_seed(setup: dict, seed: int) -> dict:
    """Both students of one seed (in its own process with --jobs); the result JSON, also written to
    `<work>/seed-<seed>.json` as soon as it exists."""
    import torch

    from deploy.config import load_config
    from replay import DatasetReader
    from teachers import TeacherPool, write_report

    torch.set_num_threads(1)
    cfg, work = load_config("cpu", setup["overrides"]), Path(setup["work"])
    pool = TeacherPool.load(setup["teachers"], "cpu")
    episodes = [ep for ep, _ in DatasetReader(setup["target"]).episodes()]
    cut = len(episodes) - max(2, len(episodes) // 5)
    result = {"seed": seed, "updates": setup["updates"], "train_episodes": cut, "heldout_episodes": len(episodes) - cut}
    earlier = Path(setup["scratch_from"]) / f"seed-{seed}.json" if setup["scratch_from"] else None
    earlier = json.loads(earlier.read_text()) if earlier and earlier.exists() else {}
    for label, method in METHODS.items():
        if label == "scratch" and earlier.get("updates") == setup["updates"]:  # it reads no distill.* key: the same
            result[label] = earlier[label]                                   # student as in the earlier run
            continue
        learner, history = train_student(cfg, method, pool if label == "teachers" else None, setup["teachers"],
                                         episodes[:cut], setup["updates"], seed)
        report = write_report(learner.model, episodes[cut:], work / f"openloop-{label}-s{seed}", context=5,
                              horizon=45, title=f"{method} seed {seed} after {setup['updates']} updates, held-out "
                                                f"target episodes")
        result[label] = {"mse": report["mse"], "mse_mean": report["mse_mean"], "psnr_mean": report["psnr_mean"]}
        if label == "teachers":
            result["weights"] = history[::10].tolist()  # every 10th update
    result["ratio"] = result["teachers"]["mse_mean"] / result["scratch"]["mse_mean"]
    (work / f"seed-{seed}.json").write_text(json.dumps(result))
    print(f"seed {seed}: ratio {result['ratio']:.3f}", flush=True)
    return result


def bootstrap_mean_ci(values: np.ndarray) -> tuple[float, float]:
    """95% BCa bootstrap CI of the mean over seeds (scipy)."""
    from scipy.stats import bootstrap

    res = bootstrap((values,), np.mean, confidence_level=0.95, n_resamples=10_000, random_state=0)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def plot(results: list[dict], names: list[str], target: str, updates: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = len(results)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, color in (("teachers", "tab:blue"), ("scratch", "tab:orange")):
        mse = np.array([r[label]["mse"] for r in results])  # (seeds, horizon)
        steps = np.arange(1, mse.shape[1] + 1)
        ax.plot(steps, mse.mean(0), color=color, label=f"{METHODS[label]} ({label})")
        ax.fill_between(steps, mse.min(0), mse.max(0), color=color, alpha=0.2)
    ax.set(xlabel="frames predicted open loop (after 5 context frames)", ylabel="MSE per pixel ([0, 1] scale)",
           title=f"E1: held-out {target} after {updates} updates, {seeds} seeds\n(line: mean; band: min-max)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "openloop_mse.png", dpi=120)
    plt.close(fig)
    cols = min(seeds, 5)
    fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols, 3), sharey=True, squeeze=False)
    for ax, r in zip(axes[0], results):
        w = np.array(r["weights"])
        for i, name in enumerate(names):
            ax.plot(np.arange(len(w)) * 10, w[:, i], label=name, linestyle="-" if i % 2 == 0 else "--")
        ax.set(title=f"seed {r['seed']}", xlabel="updates", ylim=(0, 1))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("running domain weight")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"E2: domain weights with target {target} (running mean, decay 0.99)")
    fig.tight_layout()
    fig.savefig(out / "domain_weights.png", dpi=120)
    plt.close(fig)


def summarize(results: list[dict], names: list[str], target: str, updates: int, out: Path,
              overrides: list[str]) -> int:
    ratios = np.array([r["ratio"] for r in results])
    low, high = bootstrap_mean_ci(ratios) if len(ratios) > 1 else (float("nan"),) * 2
    body = target.split("_")[0]
    own = [i for i, n in enumerate(names) if n.split("_")[0] == body]
    finals = [np.array(r["weights"])[-1] for r in results]
    held = [float(w[own].sum()) for w in finals]
    selected = sum(h > 0.5 for h in held)
    summary = {"target": target, "sources": names, "updates": updates, "overrides": overrides,
               "seeds": [r["seed"] for r in results],
               "ratio_per_seed": ratios.tolist(), "ratio_mean": float(ratios.mean()), "ratio_ci95": [low, high],
               "own_body_weight_per_seed": held, "seeds_own_body_majority": selected,
               "final_weights_per_seed": [dict(zip(names, w.tolist())) for w in finals], "runs": results}
    (out / "transfer.json").write_text(json.dumps(summary, indent=1))
    plot(results, names, target, updates, out)
    for r, h in zip(results, held):
        print(f"seed {r['seed']}: MSE with teachers {r['teachers']['mse_mean']:.5f}, without "
              f"{r['scratch']['mse_mean']:.5f} (ratio {r['ratio']:.3f}); {body} sources' weight {h:.2f}")
    e1 = ratios.mean() <= 0.85 and high < 1.0
    e2 = selected >= int(np.ceil(0.8 * len(results)))
    print(f"E2: {body} sources hold > 0.5 of the weight in {selected} of {len(results)} seeds "
          f"({'met' if e2 else 'missed'}: goal 4 of 5)")
    print(f"headline E1: open-loop MSE with teachers / without = {ratios.mean():.3f} (95% CI {low:.3f}-{high:.3f}, "
          f"{len(ratios)} seeds, {updates} updates): {'met' if e1 else 'missed'} (goal <= 0.85, CI below 1)")
    return 0 if e1 and e2 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="walker_stand")
    parser.add_argument("--sources", default="cheetah_run,hopper_stand,walker_walk,walker_run",
                        help="source tasks, in --teachers order")
    parser.add_argument("--teachers", default="", help="pretrained teacher dirs (bench/sources.sh); else made here")
    parser.add_argument("--sizes", choices=sorted(SIZES), default="cpu", help="the cpu preset's, or tiny (32x32)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--teacher-steps", type=int, default=600, help="without --teachers")
    parser.add_argument("--episodes", type=int, default=30, help="target episodes (the last fifth held out)")
    parser.add_argument("--jobs", type=int, default=2, help="seeds trained at a time (a process, a torch thread each)")
    parser.add_argument("--work", default="runs/bench-transfer")
    parser.add_argument("--out", default="")
    parser.add_argument("--scratch-from", default="", help="an earlier --work whose students without teachers "
                        "to reuse (same target, seeds, updates and sizes; only distill.* overrides may differ)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for both students (e.g. the "
                                                     "distill.* of a variant; its own --work and --out then)")
    args = parser.parse_args()
    import ray

    from deploy import pretrain
    from deploy.config import load_config
    from deploy.ray_runtime import local_ray
    from teachers import TeacherPool, domain_names

    names = args.sources.split(",")
    work = Path(args.work) / args.target
    out = Path(args.out or f"docs/results/transfer-{args.target}")
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    cfg_overrides = [*SIZES[args.sizes], f"teacher.steps={args.teacher_steps}", f"env.task=dmc/{args.target}",
                     *args.overrides]
    cfg = load_config("cpu", cfg_overrides)
    local_ray()
    target = data(cfg, work / "target", (args.target,), args.episodes)[args.target]
    teachers = args.teachers.split(",") if args.teachers else []
    if not teachers:
        for task, dataset in data(cfg, work / "sources", tuple(names), 8).items():
            pretrain.pretrain(cfg, str(dataset), str(work / "teachers" / task))
            teachers.append(str(work / "teachers" / task))
    ray.shutdown()
    pool = TeacherPool.load(teachers, "cpu")
    names = domain_names(pool.tasks)
    # both students take actions as wide as the teachers do
    setup = {"overrides": [*cfg_overrides, f"model.action_pad={pool.action_dim}"], "work": str(work),
             "teachers": teachers, "target": str(target), "updates": args.updates,
             "scratch_from": str(Path(args.scratch_from) / args.target) if args.scratch_from else ""}
    done = {}
    for seed in range(args.seeds):
        path = work / f"seed-{seed}.json"
        if path.exists() and json.loads(path.read_text())["updates"] == args.updates:
            done[seed] = json.loads(path.read_text())
    todo = [seed for seed in range(args.seeds) if seed not in done]
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as jobs:
        for seed, result in zip(todo, jobs.map(run_seed, [setup] * len(todo), todo)):
            done[seed] = result
    results = [done[seed] for seed in range(args.seeds)]
    return summarize(results, names, args.target, args.updates, out, args.overrides)


if __name__ == "__main__":
    sys.exit(main())
