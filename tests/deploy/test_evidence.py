"""bench/evidence.py's verdict on a study: the exit code a scheduler or reviewer reads (0 goal met, 1 missed, 2 not
judgeable yet), from real rliable statistics on constructed curves."""
import argparse
import importlib.util
import json
from pathlib import Path

import pytest

from deploy.stats import SeedCurve, aggregate

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


@pytest.mark.parametrize("settings, code, says", [
    (dict(dreamerv2=[100, 110, 120], vid2act_stable=[150, 160, 170]), 0, "= 1.45x, goal >= 1.15x: met"),
    (dict(dreamerv2=[100, 110, 120], vid2act_stable=[100, 120, 130]), 1, "goal >= 1.15x: MISSED"),
    (dict(dreamerv2=[100, 110, 120], vid2act_stable=[300]), 2, "not evaluable yet: 1 of 3 seeds"),
    (dict(vid2act_stable=[300, 310, 320]), 2, "no dreamerv2 runs yet"),
    (dict(dreamerv2=[0, 0, 0], vid2act_stable=[5, 6, 7]), 1, "n/a (dreamerv2's IQM is 0.00; difference +6.00)"),
    (dict(dreamerv2=[100, 110], vid2act_stable=[300], dreamerv2_faults=[500]), 1, "OUTSIDE"),
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
