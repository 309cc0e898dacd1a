"""`vid2act sweep`: variants x seeds as Ray Tune trials (real Ray Tune, real runs at smoke size), resumable, with
per-trial curves and the target's statistics written."""
import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
COMMAND = ["sweep", "--preset", "smoke", "--targets", "dmc/walker_run", "--seeds", "0,1", "train.steps=700",
           "train.eval_every=150", "--variant", "dreamerv2", "train.method=dreamerv2", "--variant", "dreamerv2-big",
           "train.method=dreamerv2", "model.deter=24"]


def test_a_sweep_runs_every_trial_writes_its_curve_and_statistics_resumes_and_grows_without_rerunning(tmp_path):
    out = tmp_path / "sweep"
    seed0 = [*COMMAND[:COMMAND.index("--seeds")], "--seeds", "0", *COMMAND[COMMAND.index("--seeds") + 2:]]
    first = subprocess.run([str(BIN / "vid2act"), *seed0, "--out", str(out)], capture_output=True, text=True,
                           timeout=900, cwd=tmp_path)
    assert first.returncode == 0 and "2 of 2 trials finished" in first.stdout, first.stderr[-3000:]
    rows = (out / "walker_run-dreamerv2-s0" / "metrics.jsonl").read_text()
    grown = subprocess.run([str(BIN / "vid2act"), *COMMAND, "--out", str(out)], capture_output=True, text=True,
                           timeout=900, cwd=tmp_path)  # seed 1 added: its trials run, seed 0's are kept
    assert grown.returncode == 0 and "4 of 4 trials finished" in grown.stdout, grown.stderr[-3000:]
    assert (out / "walker_run-dreamerv2-s0" / "metrics.jsonl").read_text() == rows  # finished trials are not rerun
    runs = sorted(p.name for p in out.iterdir() if p.name.startswith("walker_run-"))
    assert runs == ["walker_run-dreamerv2-big-s0", "walker_run-dreamerv2-big-s1", "walker_run-dreamerv2-s0",
                    "walker_run-dreamerv2-s1"]
    for run in runs:  # each trial: its own run directory, seed and variant, and its curve written when it ended
        saved = (out / run / "config.yaml").read_text()
        assert f"seed: {run[-1]}" in saved and ("deter: 24" in saved) == ("big" in run)
        curve = json.loads((out / "curves" / f"{run}.json").read_text())
        assert curve["env_steps"] >= 700 and curve["evals"]
    stats = json.loads((out / "report-dmc-walker_run" / "stats-dmc-walker_run.json").read_text())
    assert stats["baseline"] == "walker_run-dreamerv2" and stats["settings"]["walker_run-dreamerv2"]["seeds"] == 2
    assert "p_improvement" in stats["settings"]["walker_run-dreamerv2-big"]
    (out / "report-dmc-walker_run" / "eval_curves.png").unlink()
    curve = out / "curves" / f"{runs[3]}.json"
    curve.unlink()  # walker_run-dreamerv2-s1 as if its trial were still training
    redo = subprocess.run([str(BIN / "vid2act"), "report", "--sweep", str(out)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert redo.returncode == 0 and (out / "report-dmc-walker_run" / "eval_curves.png").exists(), redo.stderr[-2000:]
    stats = json.loads((out / "report-dmc-walker_run" / "stats-dmc-walker_run.json").read_text())
    assert stats["settings"]["walker_run-dreamerv2"]["seeds"] == 1  # only finished trials are scored
    again = subprocess.run([str(BIN / "vid2act"), *COMMAND, "--out", str(out)], capture_output=True, text=True,
                           timeout=900, cwd=tmp_path)  # the unfinished trial resumes from its checkpoint
    assert again.returncode == 0 and "4 of 4 trials finished" in again.stdout, again.stderr[-3000:]
    assert curve.exists() and (out / "walker_run-dreamerv2-s0" / "metrics.jsonl").read_text() == rows


def test_a_trial_with_actors_places_its_run_in_the_trials_placement_group(tmp_path):
    """--actors: the learner, env actor and evaluator of each trial run as Ray actors inside the trial's placement
    group; two trials at once, their groups holding all of this machine's CPUs (an actor placed outside its group
    would never start), their actors of the same names in the trials' own namespaces."""
    import os

    out = tmp_path / "sweep"
    command = ["sweep", "--preset", "smoke", "--targets", "dmc/walker_run", "--seeds", "0,1", "train.steps=400",
               "train.eval_every=150", "--variant", "dreamerv2", "train.method=dreamerv2", "--actors",
               "--cpus-per-trial", str(os.cpu_count() / 2), "--concurrent", "2", "--out", str(out)]
    done = subprocess.run([str(BIN / "vid2act"), *command], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\x1b[3" not in done.stderr + done.stdout  # no colour codes when the output is not a terminal
    for seed in (0, 1):
        log = (out / f"walker_run-dreamerv2-s{seed}" / "vid2act.log").read_text()
        assert "placed in placement group" in log
        curve = json.loads((out / "curves" / f"walker_run-dreamerv2-s{seed}.json").read_text())
        assert curve["env_steps"] >= 400 and curve["evals"][-1]["env_steps"] == curve["env_steps"]


def test_a_named_variant_brings_its_overrides_and_every_trial_is_validated_before_anything_starts():
    import pytest

    from deploy.config import ConfigError, load_config
    from deploy.presets import VARIANTS
    from deploy.sweep import grid

    cfg = load_config("smoke", [])
    trials = grid(cfg, ["dmc/walker_stand"], [["vid2act_stable", "distill.tau=2"], ["mine", "model.deter=24"]], [0, 1])
    assert list(trials) == ["walker_stand-vid2act_stable-s0", "walker_stand-mine-s0",  # seed by seed: balanced
                            "walker_stand-vid2act_stable-s1", "walker_stand-mine-s1"]   # when stopped early
    stable = trials["walker_stand-vid2act_stable-s1"]
    assert set(VARIANTS["vid2act_stable"]) <= set(stable) and "distill.tau=2" in stable and stable[-1] == "seed=1"
    assert not any(o.startswith("distill.") for o in trials["walker_stand-mine-s0"])
    from learner import METHODS

    for method in METHODS:  # every method is a variant by its own name
        assert f"train.method={method}" in VARIANTS[method]
    with pytest.raises(ConfigError, match="distill.weights"):
        grid(cfg, ["dmc/walker_stand"], [["bad", "distill.weights=cosine"]], [0])
    # Tune runs each trial in its own directory: the directories a variant names are made absolute here
    (apv,) = grid(cfg, ["dmc/walker_stand"], [["apv", "train.init_from=runs/apv-video"]], [0]).values()
    assert f"train.init_from={Path.cwd() / 'runs' / 'apv-video'}" in apv
    with pytest.raises(ConfigError, match="env.task: method pvdr plans toward goal images"):
        grid(cfg, ["metaworld/reach", "dmc/walker_stand"], [["pvdr"]], [0])  # the DMC trial, before any trial runs


def test_a_trial_stopped_short_by_its_time_limit_writes_no_curve_and_fails_so_a_rerun_resumes_it(tmp_path):
    import pytest
    import yaml

    from deploy.config import load_config, public_dict
    from deploy.sweep import trial

    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(public_dict(load_config("smoke", ["train.steps=100000"]))))
    run = {"run": "walker_run-dreamerv2-s0", "overrides": ["env.task=dmc/walker_run", "train.method=dreamerv2",
                                                           "train.minutes=0.02", "seed=0"]}
    with pytest.raises(RuntimeError, match=r"walker_run-dreamerv2-s0 stopped at [\d,]+ of 100,000 env steps"):
        trial({"out": str(tmp_path), "actors": False, "trial": run})
    assert (tmp_path / run["run"] / "checkpoint").exists() and not (tmp_path / "curves").exists()
