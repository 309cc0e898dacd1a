"""Evidence for issue 5, item 3: a `cpu`-size learning run on 2 cores, `vid2act` beside `dreamerv2`.

    MUJOCO_GL=egl .venv/bin/python bench/learning.py [--minutes 55] [--seeds 1] [--out docs/results] \
        [--target dmc/walker_stand --source walker_walk=medium:0.5,expert:0.5 --source cartpole_swingup=random \
         --agents data/agents] [--run vid2act-alpha0.3 distill.alpha=0.3 ...]

By default: target `dmc/walker_stand` (dense reward, which DreamerV2 learns in tens of thousands of env steps; the
random policy scores ~140); sources `walker_walk` (the same body, another task; medium and expert episodes from the
SAC agents of `vid2act behaviour --task dmc/walker_walk --agents <--agents>`, run once before) and
`cartpole_swingup` (another body; random-policy episodes, since no agent is needed for it). The bench collects the
sources (one `vid2act collect` per policy mix), pretrains one teacher per source (Eq. 2), then trains every (method,
seed) as its own `vid2act train` process for the same wall-clock budget (`train.minutes`), all side by side on one
shared Ray and so on the same cores, started together once the teachers are ready (every process on one torch
thread: no oversubscription). Every step resumes: a re-run with the same --work finishes what is missing. The
learning curves (training-episode return vs env steps, mean ± std over seeds) and the domain weights go to
`learning_curves.png` and `domain_weights.png`, the numbers to `learning.json`, all in `<out>/learning-<task>/`.

The runs are `dreamerv2` and `vid2act` unless `--run NAME [KEY=VALUE ...]` (repeatable) names others: a sweep,
e.g. `--run dreamerv2 --run vid2act --run vid2act-alpha0.3 distill.alpha=0.3`. A run's method is `train.method` if
given, else its name up to the first dash; each run trains in `<work>/<NAME>-s<seed>`.

A run has learned when its return over the last fifth of its env steps is at least 1.5x its return under the
random prefill policy; exit 1 when one has not. Each run's return is compared with dreamerv2's at the env steps
both reached; the last line is the first other run in name order (vid2act by default).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

TARGET = "dmc/walker_stand"
BASELINE = "dreamerv2"
SOURCES = ("walker_walk=medium:0.5,expert:0.5", "cartpole_swingup=random")  # task=policy mix (`vid2act collect`)
# cpu preset sizes; one env actor per run; an update per 10 env steps, so an hour reaches tens of thousands of steps
RUN = ["train.num_actors=1", "train.learner_threads=1", "train.train_every=10", "train.checkpoint_every=200",
       "train.sync_every=20", "vae.hidden=256", "replay.capacity=200000"]


def cli(*args: str) -> list[str]:
    return ["nice", "-n", "5", sys.executable, "-m", "deploy.cli", *args]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    print("$", " ".join(cmd[3:]), f"> {log}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=open(log, "a"), stderr=subprocess.STDOUT, cwd=ROOT, env=env)


def wait(procs: dict[str, subprocess.Popen]) -> None:
    for name, proc in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"{name} failed with exit code {proc.returncode}; see its log")


def returns(run: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """Training-episode (env steps, return) pairs under a learned policy, and the random prefill's mean return."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "actor/return" in r]
    random = [r["actor/return"] for r in rows if r.get("actor/version", -1) < 1]  # before the first weights
    learned = [(r["env_steps"], r["actor/return"]) for r in rows if r.get("actor/version", -1) >= 1]
    steps, rets = (np.array(v) for v in zip(*learned)) if learned else (np.zeros(0), np.zeros(0))
    return steps, rets, float(np.mean(random)) if random else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=55.0)
    parser.add_argument("--target", default=TARGET)
    parser.add_argument("--source", action="append", help=f"task=policy mix, repeatable (default {' '.join(SOURCES)})")
    parser.add_argument("--agents", default="data/agents", help="SAC agents for medium/expert sources")
    parser.add_argument("--run", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"),
                        help="a run and its overrides, repeatable (default: dreamerv2 and vid2act)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per source")
    parser.add_argument("--teacher-steps", type=int, default=800)
    parser.add_argument("--work", default="runs/bench-learning")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--report-only", action="store_true", help="summarise the runs already in --work")
    args = parser.parse_args()
    work, out = ROOT / args.work, ROOT / args.out / f"learning-{args.target.split('/')[-1]}"
    out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        return summarize({run.name: run for run in sorted(work.glob("*-s*")) if run.is_dir()}, out)
    head = ["ray", "start", "--head", "--num-cpus=8", "--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(head, check=True, capture_output=True)  # one Ray for all runs: they share the same cores
    os.environ["RAY_ADDRESS"] = "auto"
    try:
        runs = launch(args, work)
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True)
    return summarize(runs, out)


def launch(args, work: Path) -> dict[str, Path]:
    sources, mixes = work / "sources", {}
    for spec in args.source or SOURCES:
        task, _, mix = spec.partition("=")
        mixes.setdefault(mix or "random", []).append(task)
    for mix, tasks in mixes.items():  # one collection per policy mix, one after the other (they share the cores)
        code = start(cli("collect", "--suite", "dmc", "--tasks", ",".join(tasks), "--episodes", str(args.episodes),
                         "--out", str(sources), "--policy", mix, "--agents", str(ROOT / args.agents)),
                     work / "collect.log").wait()
        if code:
            raise SystemExit(f"collecting {','.join(tasks)} ({mix}) failed with exit code {code}; see "
                             f"{work}/collect.log (medium/expert sources need `vid2act behaviour --task "
                             f"dmc/<task> --agents {args.agents}`)")
    teachers = {t: work / "teachers" / t for tasks in mixes.values() for t in tasks}
    wait({t: start(cli("pretrain", "--dataset", str(sources / t), "--out", str(d),
                       f"teacher.steps={args.teacher_steps}"), d.with_suffix(".log")) for t, d in teachers.items()})
    train = ["--preset", "cpu", "train.minutes=" + str(args.minutes), *RUN, "env.task=" + args.target,
             "train.teachers=" + ",".join(str(d) for d in teachers.values())]
    runs, procs = {}, {}
    for name, *overrides in args.run or [[BASELINE], ["vid2act"]]:
        if not any(o.startswith("train.method=") for o in overrides):
            overrides.append(f"train.method={name.split('-')[0]}")
        for seed in range(args.seeds):
            run = runs[f"{name}-s{seed}"] = work / f"{name}-s{seed}"
            procs[run.name] = start(cli("train", *train, *overrides, f"seed={seed}", f"logdir={run}"),
                                    run.with_suffix(".log"))
    t0 = time.monotonic()
    while any(p.poll() is None for p in procs.values()):
        time.sleep(60)
        status = []
        for name, run in runs.items():
            steps, rets, _ = returns(run) if (run / "metrics.jsonl").exists() else (np.zeros(0),) * 2 + (0,)
            status.append(f"{name} {int(steps[-1]) if len(steps) else 0} steps "
                          f"return {rets[-5:].mean() if len(rets) else float('nan'):.0f}")
        print(f"[{(time.monotonic() - t0) / 60:.0f} min] " + "; ".join(status), flush=True)
    wait(procs)
    return runs


def summarize(runs: dict[str, Path], out: Path) -> int:
    from deploy import report

    for path in report.report(list(runs.values()), out):
        print(f"wrote {path}")
    curves = {name: returns(run) for name, run in runs.items()}  # each metrics.jsonl read once
    labels = sorted({report.run_label(name) for name in runs}, key=lambda label: (label != BASELINE, label))
    reach = min(steps.max(initial=0) for steps, _, _ in curves.values())
    result, ok = {"common_env_steps": int(reach)}, True
    for label in labels:
        finals, atreach, randoms, reached = [], [], [], []
        for steps, rets, random in (c for name, c in curves.items() if report.run_label(name) == label):
            tail = rets[steps >= 0.8 * steps.max()] if len(steps) else np.array([np.nan])
            finals.append(float(tail.mean()))
            atreach.append(float(rets[(steps <= reach) & (steps >= 0.8 * reach)].mean()))
            randoms.append(random)
            reached.append(int(steps.max(initial=0)))
        result[label] = {"final_return": float(np.mean(finals)), "return_at_common_steps": float(np.mean(atreach)),
                         "random_return": float(np.mean(randoms)), "max_env_steps": max(reached)}
        learned = result[label]["final_return"] >= 1.5 * result[label]["random_return"]
        ok &= learned
        print(f"{label}: final return {result[label]['final_return']:.1f} at {result[label]['max_env_steps']} env "
              f"steps (random policy {result[label]['random_return']:.1f}): {'learned' if learned else 'NOT learned'}")
    (out / "learning.json").write_text(json.dumps(result, indent=2))
    if BASELINE not in result or len(labels) < 2:
        print(f"no {BASELINE} run beside the others: no ratio")
        return 0 if ok else 1
    base = max(result[BASELINE]["return_at_common_steps"], 1e-9)
    for label in reversed(labels[1:]):  # the first one last: the headline
        print(f"learning run: {label} / {BASELINE} return at {int(reach)} env steps = "
              f"{result[label]['return_at_common_steps'] / base:.2f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
