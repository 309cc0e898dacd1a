"""Issue 13's learning evidence on `dmc/walker_stand` (cpu preset, this machine): E3, E4, E5 and their summary.

    bash bench/sources.sh                               # once: agents, datasets, teachers (resumable)
    .venv/bin/python bench/evidence.py e3 [--sources runs/sources] [--steps 40000] [--variants V,..] [--seeds 2]
    .venv/bin/python bench/evidence.py e4 | e5 | apv    # ablations, seeds 0,1 | faulted dreamerv2 seed 3 | APV
    .venv/bin/python bench/evidence.py summary [--out docs/results/evidence-walker_stand] [--kept SCORES_JSON]
    bash bench/sources_mw.sh                            # once: Meta-World sources and pretrained models
    .venv/bin/python bench/evidence.py mw [--sources runs/sources-mw] [--steps 20000]
    .venv/bin/python bench/evidence.py summary --study mw [--out docs/results/evidence-reach]
    .venv/bin/python bench/evidence.py status [--study mw]   # each run: env steps reached, last eval, finished

E3: `vid2act sweep` over dreamerv2, vid2act (the paper's form) and vid2act_stable (deploy/presets.py) x seeds
0,1,2 at equal env steps; E4: `vid2act_stable` with `train.method` no_domain_weights / no_action_guidance, seeds 0,1;
both are Ray Tune sweeps (`<work>/e3`, `<work>/e4`): every finished trial's curve is kept, a re-run resumes the
unfinished ones from their checkpoints, so each part can run in a later session; `--variants`/`--seeds` run a
subset (a run lost with its machine), or more seeds. E5: one more dreamerv2 seed trained with `bench/faults.py`'s
fault round (corrupt payload, kill -9 of an env actor, redis-server and the learner) at one third and two thirds of
its budget (rounds already done are not repeated on resume). `apv`: APV from the action-free video model of
`bench/sources.sh` (`<sources>/apv-video`), seeds 0,1,2, the same runs' settings. `mw` (issues 15, 16): on
`metaworld/reach`, dreamerv2, vid2act_stable, apv and pvdr x seeds 0,1,2, scored by the eval success rate.

`summary` pools every finished run of a study (those that reached `--steps`; a run still training is named and left
out), and with `--kept` the curves of an earlier summary's runs whose directories are gone: IQM of the final eval
score (last fifth of the budget) with 95% stratified bootstrap CIs and P(improvement) over dreamerv2 (rliable,
deploy/stats.py), the eval curves, per-seed JSON, and the goals: a variant / dreamerv2 IQM >= 1.15x (E3, on the seeds
of E3_GOALS), E5's final return within the uninterrupted dreamerv2 seeds' range. Last lines: the headlines; exit 1 on
a missed goal, 2 while E3's goal cannot be judged yet. `--steps`, `--out` default to the study's.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STUDIES = {  # target, its source tasks (the paper's four DMC sources; four Meta-World tasks), scored eval key
    "walker_stand": ("dmc/walker_stand", ("walker_walk", "walker_run", "cheetah_run", "hopper_stand"), "eval/return"),
    "mw": ("metaworld/reach", ("drawer-open", "button-press", "door-open", "window-close"), "eval/success"),
}
# cpu preset; one env actor, one learner thread (--cpus) per run; an update per 10 env frames; evals every 4k on 5
RUN = ["train.num_actors=1", "train.train_every=10", "train.checkpoint_every=200", "train.sync_every=20",
       "vae.hidden=256", "replay.capacity=200000", "train.eval_every=4000", "train.eval_episodes=5"]
E3 = ["dreamerv2", "vid2act", "vid2act_stable"]
STEPS = {"walker_stand": 40_000, "mw": 20_000}  # env steps per run of each study
SOURCES = {"walker_stand": "runs/sources", "mw": "runs/sources-mw"}  # default ROOT of bench/sources{,_mw}.sh
PARTS = {"walker_stand": ("e3", "e4", "e5", "apv"), "mw": ("mw",)}
SWEEPS = {"e3": (E3, "0,1,2"), "e4": (["vid2act_stable_no_domain_weights", "vid2act_stable_no_action_guidance"], "0,1"),
          "apv": (["apv"], "0,1,2"), "mw": (["dreamerv2", "vid2act_stable", "apv", "pvdr"], "0,1,2")}  # variants, seeds
E3_SEEDS = len(SWEEPS["e3"][1].split(","))  # finished seeds each E3 method needs before its goal is judged
E3_GOALS = {"vid2act_stable": None, "vid2act_stable_no_action_guidance": (2, 3, 4)}
"""E3's judged variants: the one named before E3 on all its seeds, and the one E4 pointed to (without the action
guidance it beat the full variant at seeds 0 and 1) on the seeds unseen when it was chosen, beside dreamerv2's."""
PRETRAINED = {"apv": "apv-video", "pvdr": "pvdr-video"}  # under the sources root, from its sources script
STUDY_RUN = {"walker_stand": [], "mw": ["train.eval_episodes=10"]}  # Meta-World: success over 10 episodes (PVDR's)
VARIANT_RUN = {"pvdr": ["pvdr.replan_every=6"]}  # PVDR plans once per l = 6 frames (the paper's), not every step:
# ~0.4 s a plan at cpu sizes, so 25k acting and eval steps a run would take ~3 h of plans alone


def common(args, study: str = "walker_stand") -> list[str]:
    sources, (target, tasks, _) = Path(args.sources).resolve(), STUDIES[study]
    return [*RUN, *STUDY_RUN[study], f"train.steps={args.steps}", f"env.task={target}",
            "train.teachers=" + ",".join(str(sources / "teachers" / s) for s in tasks),
            "train.sources=" + ",".join(str(sources / "data" / s) for s in tasks)]


def sweep(args, part: str, variants: list[str], seeds: str, study: str) -> int:
    cmd = [sys.executable, "-m", "deploy.cli", "sweep", "--preset", "cpu", "--targets", STUDIES[study][0], "--seeds",
           seeds, "--out", str(Path(args.work) / part), "--concurrent", str(max(2 // args.cpus, 1)),
           "--cpus-per-trial", str(args.cpus), *common(args, study)]
    for name in variants:
        pretrained = PRETRAINED.get(name.split("_")[0])
        cmd += ["--variant", name, *VARIANT_RUN.get(name, []),
                *([f"train.init_from={Path(args.sources).resolve() / pretrained}"] if pretrained else [])]
    print("$", " ".join(cmd[2:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode


def subset(args, variants: list[str], seeds: str) -> tuple[list[str], str]:
    """The part's variants less those `--variants` leaves out (one not the part's exits with a line naming them), and
    `--seeds` (default: the part's; more seeds grow it, e.g. to narrow E3's CIs: add them to every setting alike)."""
    chosen = args.variants.split(",") if args.variants else variants
    if unknown := [v for v in chosen if v not in variants]:
        sys.exit(f"--variants {','.join(unknown)}: not of {args.part}, whose variants are {','.join(variants)}")
    if args.seeds and (bad := [s for s in args.seeds.split(",") if not s.isdigit()]):
        sys.exit(f"--seeds {','.join(bad)}: not a seed; give non-negative integers, e.g. --seeds 3,4")
    return chosen, args.seeds or seeds


def faulted(args) -> int:
    """E5: dreamerv2 seed 3 with a fault round at 1/3 and 2/3 of its budget (resumable)."""
    import ray

    from deploy.config import load_config
    from deploy.faults import run_with_faults
    from deploy.ray_runtime import local_ray
    from deploy.stats import read_history

    run_dir = Path(args.work) / "e5" / "walker_stand-dreamerv2_faults-s3"
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = read_history(run_dir, missing_ok=True)
    reached = max((r["env_steps"] for r in rows), default=0)
    rounds = tuple(s for s in (args.steps // 3, 2 * args.steps // 3) if s > reached)
    cfg = load_config("cpu", [*common(args), "train.method=dreamerv2", "seed=3",
                              "train.learner_threads=1", f"logdir={run_dir}"]).validate()
    local_ray(num_cpus=2)
    try:
        outcome = run_with_faults(cfg, inject=bool(rounds), at_env_steps=rounds)
    finally:
        ray.shutdown()
    print(f"E5 run: {outcome.summary}, faults injected {outcome.injected}, episodes acknowledged "
          f"{outcome.acknowledged}, stored {outcome.stored}")
    return 0


def summary(args) -> int:
    from deploy.report import report
    from deploy.stats import finished_runs, read_scores

    work, out, (target, _, key) = Path(args.work), Path(args.out), STUDIES[args.study]
    runs, running = finished_runs(run_dirs(work, args.study), args.steps)
    if running:
        print(f"left out, short of {args.steps:,} env steps: {', '.join(running)}")
    kept, settings = kept_runs(args, {r.name for r in runs})
    if not runs:
        print(f"no finished runs under {work}: run {PARTS[args.study][0]} first")
        return 1
    written, name = report(runs, out, kept), target.replace("/", "-")
    for path in written:
        print(f"wrote {path}")
    if out / f"stats-{name}.json" not in written:
        print(f"no {key} in the finished runs' histories: nothing to score")
        return 1
    curves, table = read_scores(out / f"scores-{name}.json"), json.loads((out / f"stats-{name}.json").read_text())
    table = table["settings"]
    scored = {c.run for seeds in curves.values() for c in seeds}
    if unscored := [r.name for r in runs if r.name not in scored]:
        print(f"left out, no {key} in their history: {', '.join(unscored)}")
    (out / "evidence.json").write_text(json.dumps({"target": target, "score": key, "settings": table, "runs": {
        **settings, **{r.name: run_settings(r) for r in runs}}}, indent=1))
    return judge(args.study, table, curves, key)


def kept_runs(args, present: set[str]) -> tuple[dict, dict]:
    """(`--kept` curves of runs not under `--work`, their settings from the `evidence.json` beside that file): the
    finished runs of an earlier summary whose directories are gone, pooled with the runs present (each named)."""
    from deploy.stats import read_scores

    if not args.kept:
        return {}, {}
    try:
        kept = {label: [c for c in seeds if c.run not in present] for label, seeds in read_scores(args.kept).items()}
    except (OSError, ValueError) as e:
        sys.exit(f"--kept: {e}")
    beside = Path(args.kept).with_name("evidence.json")
    try:
        recorded = json.loads(beside.read_text()).get("runs", {}) if beside.exists() else {}
    except (ValueError, AttributeError):
        recorded = {}  # settings are a record, not an input: a damaged one is said below, run by run
    kept, names = {k: v for k, v in kept.items() if v}, sorted(c.run for seeds in kept.values() for c in seeds)
    print(f"kept from {args.kept} (their directories are not under {args.work}): {', '.join(names) or 'none'}")
    return kept, {name: recorded.get(name, {"settings": f"not recorded in {beside}"}) for name in names}


def judge(study: str, table: dict, curves: dict, key: str) -> int:
    """Print each setting's IQM, the headlines and each E3_GOALS verdict; 0 when one is met, 1 on a missed goal (E5's
    range, or every E3 verdict), 2 while E3 cannot be judged yet (no baseline, or a seed of a verdict missing)."""
    for label, row in sorted(table.items()):
        p = f", P(improvement over dreamerv2) {row['p_improvement']:.2f}" if "p_improvement" in row else ""
        ci = f"95% CI {row['ci'][0]:.2f}-{row['ci'][1]:.2f}" if row["ci"] else "no CI from one seed"
        print(f"{label}: IQM {key} {row['iqm']:.2f} ({ci}, {row['seeds']} seeds){p}")
    target = STUDIES[study][0].split("/")[-1]
    base, missed = f"{target}-dreamerv2", not _faulted_inside(curves, f"{target}-dreamerv2")
    if base not in table:
        print("no dreamerv2 runs yet: no ratio")
        return 1 if missed else 2
    for label in (f"{target}-{name}" for name in ("apv", "pvdr", "vid2act", "vid2act_stable")):
        if label in table:
            print(f"headline: {label.split('-', 1)[1]} / dreamerv2 IQM {key} = {_ratio(table, label, base)[1]} "
                  f"(P(improvement) {table[label].get('p_improvement', float('nan')):.2f}; {table[label]['seeds']} "
                  f"vs {table[base]['seeds']} seeds)")
    if study != "walker_stand":
        return 1 if missed else 0
    verdicts = [_e3(curves, f"{target}-{variant}", base, seeds, key) for variant, seeds in E3_GOALS.items()]
    return 1 if missed else 0 if True in verdicts else 2 if None in verdicts else 1


def _e3(curves: dict, label: str, base: str, seeds: tuple[int, ...] | None, key: str) -> bool | None:
    """E3's goal for one variant on `seeds` (None: every finished seed, at least E3_SEEDS) of it and dreamerv2 alike:
    True met, False missed, None while a seed is missing (a lucky seed is no evidence)."""
    from deploy.stats import aggregate

    picked = {name: [c for c in curves.get(name, []) if seeds is None or c.seed in seeds] for name in (base, label)}
    have, need = min(map(len, picked.values())), len(seeds) if seeds else E3_SEEDS
    variant, where = label.split("-", 1)[1], f"seeds {','.join(map(str, seeds))}" if seeds else "all seeds"
    if have < need:
        print(f"E3 goal ({variant}, {where}) not evaluable yet: {have} of {need} seeds finished for it and dreamerv2")
        return None
    table = aggregate(picked, baseline=base)
    (ratio, shown), p, n = _ratio(table, label, base), table[label]["p_improvement"], tuple(map(len, picked.values()))
    print(f"E3 goal ({where}): {variant} / dreamerv2 IQM {key} = {shown}, goal >= 1.15x: "
          f"{'met' if ratio and ratio >= 1.15 else 'MISSED'} (P(improvement) {p:.2f}; {n[1]} vs {n[0]} seeds)")
    return bool(ratio and ratio >= 1.15)


def _ratio(table: dict, label: str, base: str) -> tuple[float | None, str]:
    """(`label`'s IQM over the baseline's, that ratio as `1.23x`); (None, n/a ...) when the baseline's IQM is not
    positive (e.g. a success rate of 0: the difference is then the number to read)."""
    if table[base]["iqm"] <= 0:
        return None, f"n/a (dreamerv2's IQM is {table[base]['iqm']:.2f}; difference {table[label]['iqm']:+.2f})"
    ratio = table[label]["iqm"] / table[base]["iqm"]
    return ratio, f"{ratio:.2f}x"


def run_settings(run_dir: Path) -> dict:
    """What a run trained with, from its own saved config (not from this command's options): its preset,
    method, seed and every setting that differs from the preset's."""
    from deploy.config import differences, load_config, read_config

    cfg = read_config(run_dir / "config.yaml")
    changed = {key: new for key, (_, new) in differences(load_config(cfg.preset), cfg).items()}
    return {"preset": cfg.preset, "train.method": cfg.train.method, "seed": cfg.seed, **changed}


def status(args) -> int:
    """Each run of a study under `--work`: env steps reached of the budget, updates, its latest eval score and
    when its history last grew (a run that stopped long ago is not training)."""
    import time

    from deploy.stats import read_history

    key, paths, finished = STUDIES[args.study][2], run_dirs(Path(args.work), args.study), 0
    for run in paths:
        rows = read_history(run)
        steps = max((r["env_steps"] for r in rows), default=0)
        evals = [r[key] for r in rows if key in r]
        updates = max((r.get("updates", 0) for r in rows), default=0)
        idle = (time.time() - (run / "metrics.jsonl").stat().st_mtime) / 60
        finished += steps >= args.steps
        print(f"{run.parent.name}/{run.name}: {steps:,}/{args.steps:,} env steps ({min(steps / args.steps, 1):.0%}), "
              f"{updates:,} updates, last {key} {f'{evals[-1]:.2f}' if evals else '-'} of {len(evals)} evals, "
              f"{'finished' if steps >= args.steps else f'history grew {idle:.0f} min ago'}")
    print(f"{finished} of {len(paths)} runs under {args.work} finished ({args.study})")
    return 0


def run_dirs(work: Path, study: str) -> list[Path]:
    """Every run directory (one with a metrics.jsonl) of the study's parts under `work`."""
    return sorted(p.parent for part in PARTS[study] for p in (work / part).glob("*/metrics.jsonl"))


def _faulted_inside(curves: dict, base: str) -> bool:
    """E5: the faulted seed's final score (its mean over the last fifth of the budget, as every seed is scored) lies
    within the uninterrupted seeds' range (True without an E5 run). Even with faults that change nothing, a 4th
    seed falls inside the range of n others with chance (n-1)/(n+1): 0.5 at n = 3, which the line says."""
    from deploy.stats import final_scores

    faulted = f"{base}_faults"
    if faulted not in curves or base not in curves:
        return True
    scores = final_scores({base: curves[base], faulted: curves[faulted]})
    finals, final = scores[base][:, 0], float(scores[faulted][0, 0])
    inside, n = bool(finals.min() <= final <= finals.max()), len(finals)
    print(f"E5: the faulted seed's final eval return {final:.1f} vs the {n} uninterrupted seeds' {finals.min():.1f}-"
          f"{finals.max():.1f}: {'inside' if inside else 'OUTSIDE'} (an unaffected seed lands inside with chance "
          f"{(n - 1) / (n + 1):.2f})")
    return inside


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=[*(p for parts in PARTS.values() for p in parts), "summary", "status"])
    parser.add_argument("--study", choices=list(STUDIES), default="walker_stand",
                        help="which study `summary` and `status` read")
    parser.add_argument("--sources", help="ROOT of bench/sources.sh (default runs/sources), of sources_mw.sh for mw "
                        "(default runs/sources-mw)")
    parser.add_argument("--work", default="runs/evidence")
    parser.add_argument("--steps", type=int, help="env steps per run (default: 40,000 walker_stand, 20,000 mw)")
    parser.add_argument("--out", help="where `summary` writes (default: docs/results/evidence-<target task>)")
    parser.add_argument("--kept", help="`summary`: pool the runs of this earlier scores JSON not under --work")
    parser.add_argument("--variants", help="a sweep part's variants to run, comma-separated (default: all)")
    parser.add_argument("--seeds", help="a sweep part's seeds to run, comma-separated (default: its own; more grow it)")
    parser.add_argument("--cpus", type=int, default=1, help="a trial's CPUs and learner threads: 1 (2 at a time) or 2")
    args = parser.parse_args()
    study = next((s for s, parts in PARTS.items() if args.part in parts), args.study)
    args.study, args.steps = study, STEPS[study] if args.steps is None else args.steps
    args.sources = args.sources or SOURCES[study]
    args.out = args.out or f"docs/results/evidence-{STUDIES[study][0].split('/')[-1]}"
    if args.part in SWEEPS:
        return sweep(args, args.part, *subset(args, *SWEEPS[args.part]), study=study)
    return {"e5": faulted, "status": status}.get(args.part, summary)(args)

if __name__ == "__main__":
    sys.exit(main())
