"""bench/evidence.py's verdict on a study: the exit code a scheduler or reviewer reads (0 goal met, 1 missed, 2 not
judgeable yet), from real rliable statistics on constructed curves."""
import importlib.util
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
