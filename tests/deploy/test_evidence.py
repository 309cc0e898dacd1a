"""bench/evidence.py's verdict on a study: the exit code a scheduler or reviewer reads (0 goal met, 1 missed, 2 not
judgeable yet), from real rliable statistics on constructed curves."""
import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from deploy.stats import SeedCurve, aggregate, write_scores

spec = importlib.util.spec_from_file_location("evidence", Path(__file__).parents[2] / "bench" / "evidence.py")
evidence = importlib.util.module_from_spec(spec)
spec.loader.exec_module(evidence)


def seeds(setting: str, finals: list[float], first: int = 0) -> list[SeedCurve]:
    steps = [0, 20_000, 40_000]
    return [SeedCurve(f"walker_stand-{setting}-s{first + i}", first + i, steps, [0.0, 0.0, v])
            for i, v in enumerate(finals)]


def verdict(capsys, **settings: list[float]) -> tuple[int, str]:
    curves = {f"walker_stand-{name}": seeds(name, finals, first=3 if name.endswith("_faults") else 0)
              for name, finals in settings.items()}
    code = evidence.judge("walker_stand", aggregate(curves, "walker_stand-dreamerv2"), curves, "eval/return")
    return code, capsys.readouterr().out


NG = "vid2act_stable_no_action_guidance"  # E4's pick, judged on its seeds 2, 3, 4 only (unseen when picked)


@pytest.mark.parametrize("settings, code, says", [
    (dict(dreamerv2=[100, 110, 120], vid2act_stable=[150, 160, 170]), 0, "= 1.45x, goal >= 1.15x: met"),
    (dict(dreamerv2=[100, 110, 120], vid2act_stable=[100, 120, 130]), 2, "all seeds): vid2act_stable / dreamerv2 "
     "IQM eval/return = 1.06x, goal >= 1.15x: MISSED"),  # ... while E4's pick has no seeds yet
    (dict(dreamerv2=[100, 110, 120], vid2act_stable=[300]), 2, "not evaluable yet: 1 of 3 seeds"),
    (dict(vid2act_stable=[300, 310, 320]), 2, "no dreamerv2 runs yet"),
    (dict(dreamerv2=[0, 0, 0], vid2act_stable=[5, 6, 7]), 2, "n/a (dreamerv2's IQM is 0.00; difference +6.00)"),
    (dict(dreamerv2=[100, 110], vid2act_stable=[300], dreamerv2_faults=[500]), 1, "OUTSIDE"),
    # seeds 0, 1 of E4's pick are left out of its verdict: 500 and 10 there change nothing
    ({"dreamerv2": [100, 110, 120, 100, 110], "vid2act_stable": [100, 120, 130], NG: [500, 10, 150, 160, 170]}, 0,
     f"seeds 2,3,4): {NG} / dreamerv2 IQM eval/return = 1.45x, goal >= 1.15x: met (P(improvement) 1.00; 3 vs 3"),
    ({"dreamerv2": [100, 110, 120, 100, 110], "vid2act_stable": [100, 120, 130], NG: [500, 500, 100, 110, 120]}, 1,
     f"{NG} / dreamerv2 IQM eval/return = 1.00x, goal >= 1.15x: MISSED"),
    ({"dreamerv2": [100, 110, 120, 100], "vid2act_stable": [100, 120, 130], NG: [500, 500, 100, 110, 120]}, 2,
     f"E3 goal ({NG}, seeds 2,3,4) not evaluable yet: 2 of 3 seeds"),
])
def test_the_exit_code_says_met_missed_or_not_yet(capsys, settings, code, says):
    got, out = verdict(capsys, **settings)
    assert got == code and says in out, out


def test_status_names_each_run_with_its_progress(tmp_path, capsys):
    for name, steps in (("walker_stand-dreamerv2-s0", 40_080), ("walker_stand-vid2act-s0", 12_024)):
        (tmp_path / "e3" / name).mkdir(parents=True)
        rows = [{"env_steps": s, "updates": s // 10, "eval/return": s / 100} for s in range(4_008, steps + 1, 4_008)]
        (tmp_path / "e3" / name / "metrics.jsonl").write_text("".join(f"{json.dumps(r)}\n" for r in rows))
    args = argparse.Namespace(work=str(tmp_path), study="walker_stand", steps=40_000)
    assert evidence.status(args) == 0
    out = capsys.readouterr().out
    assert "e3/walker_stand-dreamerv2-s0: 40,080/40,000 env steps (100%), 4,008 updates, last eval/return 400.80" \
           " of 10 evals, finished" in out
    assert "e3/walker_stand-vid2act-s0: 12,024/40,000 env steps (30%)" in out and "history grew 0 min ago" in out
    assert out.strip().endswith("1 of 2 runs under " + str(tmp_path) + " finished (walker_stand)")


def finished_run(work: Path, name: str, finals: float, seed: int) -> None:
    from deploy.config import load_config, save_config

    run = work / "e3" / name
    run.mkdir(parents=True)
    save_config(load_config("smoke", ["env.task=dmc/walker_stand", f"seed={seed}"]), run)
    rows = [{"env_steps": s, "updates": s // 10, "actor/return": 1.0, "eval/return": finals if s > 30_000 else 0.0}
            for s in range(4_000, 40_001, 4_000)]
    (run / "metrics.jsonl").write_text("".join(f"{json.dumps(r)}\n" for r in rows))


def test_summary_pools_the_kept_curves_of_lost_runs_with_the_runs_present(tmp_path, capsys):
    """A machine lost mid-study: the committed scores JSON keeps the finished seeds, a re-run seed joins them, and a
    seed re-run under a kept name replaces its kept curve."""
    kept = {"walker_stand-dreamerv2": seeds("dreamerv2", [100, 110, 120]),
            "walker_stand-vid2act_stable": seeds("vid2act_stable", [130, 999])}
    committed = write_scores(kept, "dmc/walker_stand", tmp_path / "committed")
    finished_run(tmp_path / "work", "walker_stand-vid2act_stable-s1", 140.0, seed=1)  # replaces the kept 999
    finished_run(tmp_path / "work", "walker_stand-vid2act_stable-s2", 150.0, seed=2)
    args = argparse.Namespace(work=str(tmp_path / "work"), study="walker_stand", steps=40_000, out=str(tmp_path / "o"),
                              kept=str(committed))
    code = evidence.summary(args)
    out = capsys.readouterr().out
    assert "kept from" in out and "walker_stand-dreamerv2-s2, walker_stand-vid2act_stable-s0" in out
    table = json.loads((tmp_path / "o" / "evidence.json").read_text())["settings"]
    assert table["walker_stand-vid2act_stable"]["seeds"] == 3 and table["walker_stand-dreamerv2"]["seeds"] == 3
    assert table["walker_stand-vid2act_stable"]["iqm"] == pytest.approx(140.0)  # (130 + 140 + 150) / 3, not 999
    assert code == 0 and "= 1.27x, goal >= 1.15x: met" in out
    assert (tmp_path / "o" / "runs-present" / "learning_curves.png").exists()  # fuller committed figures stay


@pytest.mark.parametrize("text", ["{not json", '[{"run": "a"}]', '[{"method": "m", "run": "a", "seed": 0, '
                                  '"env_steps": [1, 2], "score": [1.0], "metric": "eval/return"}]'])
def test_a_damaged_kept_file_gets_one_line(tmp_path, text):
    (tmp_path / "scores.json").write_text(text)
    args = argparse.Namespace(work=str(tmp_path), kept=str(tmp_path / "scores.json"))
    with pytest.raises(SystemExit, match=r"^--kept: .*scores.json: not a scores file of `vid2act report`"):
        evidence.kept_runs(args, set())


def test_a_part_runs_the_variants_and_seeds_asked_for_and_refuses_others_variants():
    args = argparse.Namespace(part="e3", variants="vid2act_stable", seeds="2")
    assert evidence.subset(args, *evidence.SWEEPS["e3"]) == (["vid2act_stable"], "2")
    assert evidence.subset(argparse.Namespace(part="e3", variants=None, seeds=None), *evidence.SWEEPS["e3"]) == \
        (evidence.E3, "0,1,2")
    with pytest.raises(SystemExit, match="^--variants apv: not of e3, whose variants are dreamerv2,vid2act,"):
        evidence.subset(argparse.Namespace(part="e3", variants="apv", seeds=None), *evidence.SWEEPS["e3"])
    more = argparse.Namespace(part="e3", variants="dreamerv2,vid2act_stable", seeds="3,4")  # seeds grow a part
    assert evidence.subset(more, *evidence.SWEEPS["e3"]) == (["dreamerv2", "vid2act_stable"], "3,4")
    with pytest.raises(SystemExit, match="^--seeds x,-1: not a seed; give non-negative integers"):
        evidence.subset(argparse.Namespace(part="e3", variants=None, seeds="2,x,-1"), *evidence.SWEEPS["e3"])
