"""Statistics from periodic evaluations: final scores, IQM with stratified-bootstrap CIs (real rliable), P(improvement),
per-seed JSON."""
import json

import numpy as np
from scipy import stats as scipy_stats

from deploy.stats import SeedCurve, aggregate, final_scores, iqm_bands, read_history, write_scores


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


def test_intervals_are_the_same_whatever_numpys_global_generator_did_before_and_it_is_left_as_it_was():
    # rliable 1.2 resamples with np.random's global generator whatever random_state it is given
    tables = []
    for state in (1, 2):
        np.random.seed(state)
        before = np.random.get_state()
        tables.append(aggregate({"base": curves(0.0), "b": curves(1.5)}, baseline="base"))
        after = np.random.get_state()
        assert (before[1] == after[1]).all() and before[2] == after[2]
    assert tables[0] == tables[1] and tables[0]["b"]["ci"][0] < tables[0]["b"]["ci"][1]


def test_one_seed_gets_no_confidence_interval():
    table = aggregate({"base": curves(0.0, seeds=3), "one": curves(5.0, seeds=1)}, baseline="base")
    assert table["one"]["ci"] is None and table["one"]["p_ci"] is None and table["base"]["ci"] is not None


def test_a_history_line_cut_by_a_kill_is_skipped_and_the_resumed_run_appends_on_a_line_of_its_own(tmp_path, caplog):
    from deploy.config import load_config
    from deploy.train import metrics_log

    (tmp_path / "metrics.jsonl").write_text('{"env_steps": 100, "eval/return": 5.0}\n{"env_steps": 200, "eval/re')
    with metrics_log(load_config("smoke", [f"logdir={tmp_path}"])) as on_metrics:
        on_metrics(300, 3, {"eval/return": 7.0}, "evaluator")
    assert [(r["env_steps"], r["eval/return"]) for r in read_history(tmp_path)] == [(100, 5.0), (300, 7.0)]
    assert "metrics.jsonl line 2 is not a JSON object" in caplog.text
    assert read_history(tmp_path / "not-started", missing_ok=True) == []


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
