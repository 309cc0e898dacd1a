"""Statistics from periodic evaluations: final scores, IQM with stratified-bootstrap CIs (real rliable), P(improvement),
per-seed JSON."""
import json

import numpy as np
from scipy import stats as scipy_stats

from deploy.stats import SeedCurve, aggregate, final_scores, iqm_bands, write_scores


def curves(offset: float, seeds: int = 5) -> list[SeedCurve]:
    steps = list(range(0, 10_001, 1000))
    return [SeedCurve(f"walker-m-s{s}", s, steps, [offset + s + x / 1000 for x in steps]) for s in range(seeds)]


def test_a_seed_scores_its_mean_eval_return_over_the_last_fifth_of_the_budget():
    scores = final_scores({"a": curves(0.0)})
    # steps 8000, 9000, 10000 lie in the last fifth: returns s + 8, s + 9, s + 10 -> s + 9
    np.testing.assert_allclose(scores["a"][:, 0], [9, 10, 11, 12, 13])


def test_iqm_ci_and_probability_of_improvement():
    table = aggregate({"base": curves(0.0), "better": curves(100.0)}, baseline="base")
    base = final_scores({"base": curves(0.0)})["base"]
    assert table["base"]["iqm"] == scipy_stats.trim_mean(base, 0.25, axis=None)
    lo, hi = table["better"]["ci"]
    assert lo <= table["better"]["iqm"] <= hi and table["better"]["seeds"] == 5
    assert table["better"]["p_improvement"] == 1.0 and "p_improvement" not in table["base"]


def test_iqm_bands_follow_the_curves():
    grid = np.linspace(0, 10_000, 11)
    point, band = iqm_bands(curves(0.0), grid)
    assert point.shape == (11,) and band.shape == (2, 11)
    np.testing.assert_allclose(np.diff(point), 1.0)  # every seed rises by 1 per 1000 steps
    assert (band[0] <= point + 1e-9).all() and (point <= band[1] + 1e-9).all()


def test_per_seed_raw_curves_are_written_for_others_to_replot(tmp_path):
    path = write_scores({"m": curves(0.0, seeds=2)}, "dmc/walker_stand", tmp_path)
    rows = json.loads(path.read_text())
    assert path.name == "scores-dmc-walker_stand.json" and len(rows) == 2
    assert rows[1] == {"target": "dmc/walker_stand", "method": "m", "run": "walker-m-s1", "seed": 1,
                       "env_steps": list(range(0, 10_001, 1000)),
                       "eval_return": [1 + x / 1000 for x in range(0, 10_001, 1000)]}


def test_a_report_over_runs_of_two_targets_compares_each_target_alone(tmp_path):
    from deploy.config import load_config, save_config
    from deploy.report import report

    for target, name in (("dmc/walker_stand", "walk-dreamerv2-s0"), ("metaworld/reach", "reach-pvdr-s0")):
        run = tmp_path / name
        run.mkdir()
        save_config(load_config("smoke", [f"env.task={target}", f"logdir={run}"]), run)
        rows = [{"env_steps": s, "actor/return": float(s), "actor/success": 0.0, "eval/return": float(s),
                 "eval/success": 0.5} for s in (100, 200, 300)]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    written = report([tmp_path / "walk-dreamerv2-s0", tmp_path / "reach-pvdr-s0"], tmp_path / "report")
    names = {str(p.relative_to(tmp_path / "report")) for p in written}
    assert {"dmc-walker_stand/stats-dmc-walker_stand.json", "metaworld-reach/stats-metaworld-reach.json",
            "metaworld-reach/success.png"} <= names
    stats = json.loads((tmp_path / "report" / "dmc-walker_stand" / "stats-dmc-walker_stand.json").read_text())
    assert "reach-pvdr" not in json.dumps(stats)  # each target's table holds its own runs only
