"""`vid2act sweep`: a grid of targets x variants x seeds as Ray Tune trials, then the statistics of each target.

    vid2act sweep --out runs/sweep-walker --targets dmc/walker_stand --seeds 0,1,2 \\
        --variant dreamerv2 train.method=dreamerv2 --variant vid2act train.method=vid2act train.teachers=... \\
        [--concurrent 2]          # overrides shared by every trial go before the first --variant

Each trial is one training run, `<out>/<target task>-<variant>-s<seed>`. By default it runs whole inside its Tune
trial (learner, env workers and evaluator in the trial's process, `train --local`, with the trial's CPUs); with
`--actors` the trial is a placement group (`placement.trial_bundles`: the trial's process, the learner with its
GPU share, teacher pools, env actors, the evaluator) and `train` places its actors in it, so the same sweep runs
`--concurrent` trials at a time here and as many as a cluster holds there. The sweep is resumable: a re-run skips
the finished trials and resumes the unfinished ones from their own checkpoints, as a new Tune experiment
(`<out>/tune-<time>`), so a re-run may also add seeds or variants, or run a part of the grid. Every finished
trial's eval curve is written at once (`<out>/curves/<run>.json`); at the end each target gets `vid2act report`'s
statistics in `<out>/report-<target>/` (IQM with 95% bootstrap CIs, P(improvement) over the dreamerv2 variant, eval
curves, per-seed scores JSON).
"""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import yaml

from deploy.config import Config, apply_overrides, get_value, public_dict, read_config
from deploy.presets import VARIANTS
from deploy.stats import read_history
from learner import get_method
from runtime import plan_run, split_csv

log = logging.getLogger(__name__)

PATHS = ("train.teachers", "train.sources", "train.init_from")
"""Settings that name directories (comma-separated)."""


def absolute_paths(overrides: list[str]) -> list[str]:
    """`overrides` with the directories they name (`PATHS`) made absolute, against this process's working
    directory: Tune runs each trial in a directory of its own, where a relative path would name nothing."""
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() in PATHS and value.strip():
            item = f"{key.strip()}=" + ",".join(str(Path(p).resolve()) for p in split_csv(value))
        out.append(item)
    return out


def grid(cfg: Config, targets: list[str], variants: list[list[str]], seeds: list[int],
         threads: int = 1) -> dict[str, list[str]]:
    """{run name: its overrides} for every target x variant x seed (the learner on `threads` torch threads, the
    trial's CPUs; a variant named in `VARIANTS` (deploy/presets.py) starts from its overrides; directories made
    absolute); ConfigError naming the bad one.
    Ordered seed by seed (every target and variant's seed 0 before any seed 1): trials start in this order, so a
    sweep stopped early holds the same seeds of every variant, a balanced comparison."""
    trials = {}
    for seed in seeds:
        for target in targets:
            for name, *extra in variants:
                overrides = absolute_paths([*VARIANTS.get(name, []), *extra])  # a known name brings its overrides
                run = f"{target.split('/', 1)[-1]}-{name}-s{seed}"
                trials[run] = [f"env.task={target}", f"train.learner_threads={threads}", *overrides, f"seed={seed}"]
                apply_overrides(copy.deepcopy(cfg), trials[run]).validate()  # fail before anything starts
    return trials


def trial(config: dict) -> None:
    """One Tune trial: the run `config["run"]` of the sweep in `config["out"]` (resumes from its own checkpoint), in
    this process or (`config["actors"]`) as Ray actors in the trial's placement group. Only a run that reached its
    step budget writes its curve, `<out>/curves/<run>.json` (every `eval/*` of its evaluations: eval_return, and
    eval_success on Meta-World); one stopped short (`train.minutes`) raises, so the next re-run resumes it."""
    from ray import tune

    from deploy.train import train

    out, run = Path(config["out"]), config["trial"]["run"]
    cfg = apply_overrides(read_config(out / "sweep.yaml"), [*config["trial"]["overrides"], f"logdir={out / run}"])
    summary = train(cfg.validate(), local=not config["actors"])
    if summary["env_steps"] < cfg.train.steps:
        raise RuntimeError(f"{run} stopped at {summary['env_steps']:,} of {cfg.train.steps:,} env steps "
                           f"(train.minutes={cfg.train.minutes:g}): re-run the sweep to resume it")
    evals = [{"env_steps": r["env_steps"], **{k.replace("/", "_"): v for k, v in r.items() if k.startswith("eval/")}}
             for r in read_history(out / run) if "eval/return" in r]
    (out / "curves").mkdir(exist_ok=True)
    (out / "curves" / f"{run}.json").write_text(json.dumps({"run": run, **summary, "evals": evals}, indent=1))
    tune.report({**(evals[-1] if evals else {"eval_return": float("nan")}), **summary})


def resources(out: Path, cpus: float, gpus: int, actors: bool):
    """Tune's resource request of one trial (a function of its config): `cpus` for the trial's process, or with
    `actors` the placement group of its run's actors (learner, teacher pools only where the method uses teachers,
    env actors, the evaluator)."""
    from ray import tune

    from deploy import placement

    def request(config: dict):
        if not actors:
            return tune.PlacementGroupFactory([{"CPU": cpus}])
        cfg = apply_overrides(read_config(out / "sweep.yaml"), config["trial"]["overrides"])
        t = cfg.train
        pools = t.teacher_actors if get_method(t.method).teachers and t.teachers else 0
        return tune.PlacementGroupFactory(placement.trial_bundles(t.num_actors, pools, t.eval_every > 0, cpus, gpus))
    return request


def sweep(cfg: Config, out: Path, trials: dict[str, list[str]], concurrent: int, cpus_per_trial: float,
          gpus_per_trial: int = 0, actors: bool = False) -> list[str]:
    """Run the trials of `trials` in `out` that have not finished (no `<out>/curves/<run>.json`) as one Tune
    experiment; each resumes from its own run's checkpoint, so a re-run may also grow the grid (more seeds or
    variants) or run a part of it. Returns the runs of `trials` that have finished."""
    import time

    from ray import tune

    from deploy.ray_runtime import ensure_ray

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.yaml").write_text(yaml.safe_dump(public_dict(cfg), sort_keys=False))  # what every trial starts from
    todo = [run for run in trials if not (out / "curves" / f"{run}.json").exists()]
    if todo:
        log.info("sweep: %d of %d trials to run (finished ones are kept)", len(todo), len(trials))
        ensure_ray()
        space = {"trial": tune.grid_search([{"run": run, "overrides": trials[run]} for run in todo]),
                 "out": str(out), "actors": actors}
        tune.Tuner(tune.with_resources(trial, resources(out, cpus_per_trial, gpus_per_trial, actors)),
                   param_space=space, tune_config=tune.TuneConfig(max_concurrent_trials=concurrent),
                   run_config=tune.RunConfig(name=time.strftime("tune-%Y%m%d-%H%M%S"), storage_path=str(out),
                                             verbose=1)).fit()
    return [run for run in trials if (out / "curves" / f"{run}.json").exists()]


def run(cfg: Config, args) -> int:
    from deploy.cli import UserError
    from deploy.report import report_sweep

    if not args.variant:
        raise UserError("give at least one --variant NAME [key=value ...] (e.g. --variant dreamerv2 "
                        "train.method=dreamerv2)")
    try:
        seeds = [int(s) for s in split_csv(args.seeds)]
    except ValueError:
        raise UserError(f"--seeds {args.seeds!r}: give comma-separated integers, e.g. --seeds 0,1,2") from None
    targets = split_csv(args.targets or cfg.env.task)
    cfg = apply_overrides(cfg, absolute_paths([f"{key}={get_value(cfg, key)}" for key in PATHS]))
    trials = grid(cfg, targets, args.variant, seeds, threads=max(int(args.cpus_per_trial), 1))
    for overrides in list(trials.values())[:len(targets) * len(args.variant)]:  # the first seed's trials
        plan_run(apply_overrides(copy.deepcopy(cfg), overrides).validate())  # teachers, sources, pretrained models
    finished = sweep(cfg, Path(args.out), trials, args.concurrent, args.cpus_per_trial, args.gpus_per_trial,
                     args.actors)
    for path in report_sweep(Path(args.out)):
        print(f"wrote {path}")
    print(f"sweep done: {len(finished)} of {len(trials)} trials finished -> {args.out}")
    return 0 if len(finished) == len(trials) else 1
