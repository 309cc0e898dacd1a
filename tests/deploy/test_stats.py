"""Statistics from periodic evaluations: final scores, IQM with stratified-bootstrap CIs (real rliable), P(improvement),
per-seed JSON."""
import json

import numpy as np
from scipy import stats as scipy_stats

from deploy.stats import SeedCurve, aggregate, final_scores, iqm_bands, read_history, read_scores, write_scores


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
                       "score": [1 + x / 1000 for x in range(0, 10_001, 1000)], "metric": "eval/return"}
    assert read_scores(path) == {"m": curves(0.0, seeds=2)}


def test_intervals_are_the_same_whatever_numpys_global_generator_did_before_and_it_is_left_as_it_was():
    # rliable 1.2 resamples with np.random's global generator
    tables = []
    for state in (1, 2):
        np.random.seed(state)
        before = np.random.get_state()
        tables.append(aggregate({"base": curves(0.0), "b": curves(1.5)}, baseline="base"))
        after = np.random.get_state()
        assert (before[1] == after[1]).all() and before[2] == after[2]
    assert tables[0] == tables[1] and tables[0]["b"]["ci"][0] < tables[0]["b"]["ci"][1]
    more = aggregate({"a": curves(3.0), "base": curves(0.0), "b": curves(1.5)}, baseline="base")
    assert more["b"] == tables[0]["b"]  # a setting's CI does not depend on which settings come before it


def test_one_seed_gets_no_confidence_interval():
    table = aggregate({"base": curves(0.0, seeds=3), "one": curves(5.0, seeds=1)}, baseline="base")
    assert table["one"]["ci"] is None and table["one"]["p_ci"] is None and table["base"]["ci"] is not None


def test_a_history_row_cut_by_a_kill_is_dropped_when_the_run_resumes_and_a_bad_line_inside_is_skipped(tmp_path,
                                                                                                       caplog):
    from deploy.config import load_config
    from deploy.train import metrics_log

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"env_steps": 100, "eval/return": 5.0}\n{"env_steps": 200, "eval/re')
    assert [r["env_steps"] for r in read_history(tmp_path)] == [100] and "not a metric row" not in caplog.text
    with metrics_log(load_config("smoke", [f"logdir={tmp_path}"])) as on_metrics:
        on_metrics(300, 3, {"eval/return": 7.0}, "evaluator")
    assert "ended in a row cut short (27 bytes" in caplog.text
    assert [(r["env_steps"], r["eval/return"]) for r in read_history(tmp_path)] == [(100, 5.0), (300, 7.0)]
    path.write_text('{"env_steps": 100}\n{"env_st\n{"env_steps": 300}\n')
    assert [r["env_steps"] for r in read_history(tmp_path)] == [100, 300]
    assert "metrics.jsonl line 2 is not a metric row" in caplog.text
    assert read_history(tmp_path / "not-started", missing_ok=True) == []
