"""The driver in one process (`Inline`): real DMC env workers, a real learner and a real redis-server, at smoke size.
The cadence (broadcasts, checkpoints, the limiter's ratio) is checked on what the run actually did."""
import pytest

from deploy.config import load_config
from learner import Player, read_checkpoint_info
from replay import RedisReplay, connect
from runtime import RunError, local_driver, plan_run


def run_inline(tmp_path, url, *overrides, evaluated=0):
    cfg = load_config("smoke", ["train.method=dreamerv2", f"logdir={tmp_path}", f"replay.url={url}",
                                "train.steps=600", "train.checkpoint_every=6", "train.sync_every=3", *overrides])
    cfg.validate()
    plan = plan_run(cfg)
    replay = RedisReplay(connect(url), cfg.replay.capacity)
    rows = []
    driver = local_driver(cfg, plan, url, replay, lambda *row: rows.append(row))  # (steps, updates, metrics, source)
    try:
        summary = driver.run(evaluated=evaluated)
    finally:
        driver.close()
    return cfg, plan, replay, rows, summary


def test_inline_run_keeps_the_ratio_broadcasts_and_checkpoints(tmp_path, redis_server):
    cfg, plan, replay, rows, summary = run_inline(tmp_path, redis_server.url, "train.num_actors=2")
    s = plan.schedule
    inserted, sampled = replay.counts()
    assert summary["env_steps"] == inserted * s.repeat >= cfg.train.steps
    # the learner is never ahead of the limiter, and behind it by at most the limiter's buffer and the chunks of
    # every worker (inserts wait beyond that)
    offset = s.samples_per_insert * s.min_inserts
    due = (inserted * s.samples_per_insert - offset + s.error_buffer) / s.sample
    # sampled: every update's batch plus the one the learner stages ahead (its teacher features overlap an update)
    assert sampled == (summary["updates"] + 1) * s.sample and summary["updates"] + 1 <= due
    lag = (2 * s.error_buffer + 2 * s.insert * s.samples_per_insert) / s.sample
    assert summary["updates"] + 1 >= due - lag
    done = [int(m["train/updates"]) for _, _, m, _ in rows if "train/updates" in m]  # after each learner call
    assert all(0 < b - a <= cfg.train.sync_every for a, b in zip([0, *done], done))  # at most sync_every a call
    # weights are broadcast every sync_every (3) updates: the versions actors act with are that far apart
    versions = sorted({int(m["actor/version"]) for _, _, m, _ in rows if "actor/version" in m})
    assert versions[0] == -1 and len(versions) > 2 and all(b - a >= 3 for a, b in zip(versions[1:], versions[2:]))
    # both workers stream (each result names its source), and the checkpoint holds the last update and env steps
    assert {m["actor/count"] for _, _, m, _ in rows if "actor/count" in m} == {2.0}
    assert {source for *_, source in rows} == {"learner", "env-actor-0", "env-actor-1", "evaluator"}
    info = read_checkpoint_info(tmp_path / "checkpoint")
    assert info["step"] == summary["updates"] and info["env_steps"] == summary["env_steps"]
    assert versions[-1] <= summary["version"] <= summary["updates"]


def test_the_broadcast_policy_is_evaluated_every_eval_every_env_steps_and_on_from_there_when_resumed(tmp_path,
                                                                                                      redis_server):
    cfg, _, _, rows, summary = run_inline(tmp_path, redis_server.url, "train.eval_every=150", "train.eval_episodes=2")
    evals = [(steps, m) for steps, _, m, source in rows if source == "evaluator"]
    assert len(evals) >= 2 and evals[-1][0] == summary["env_steps"]  # the final policy's point, at the budget
    periodic = evals[:-1]
    assert all(b - a >= 150 for (a, _), (b, _) in zip(periodic, periodic[1:]))  # one per eval_every env steps
    for _, m in evals:  # the mode policy of a broadcast version, on 2 fixed seeds; DMC reports no success rate
        assert m["eval/episodes"] == 2 and 0 <= m["eval/version"] <= summary["updates"] and "eval/success" not in m
    assert evals[-1][1]["eval/version"] > evals[0][1]["eval/version"]  # later points evaluate later weights
    # resumed as if the history's last point (the budget's) had been lost with the stop: it is made up at once
    rows = run_inline(tmp_path, redis_server.url, "train.eval_every=150", "train.eval_episodes=2", "train.steps=900",
                      evaluated=evals[-2][0])[3]
    again = [steps for steps, _, _, source in rows if source == "evaluator"]
    assert summary["env_steps"] <= again[0] < summary["env_steps"] + 150
    assert all(b - a >= 150 for a, b in zip(again[:-1], again[1:-1]))  # then one per eval_every again


def test_inline_run_resumes_with_continuous_counters(tmp_path, redis_server):
    first = run_inline(tmp_path, redis_server.url)[4]
    _, _, _, rows, second = run_inline(tmp_path, redis_server.url, "train.steps=900")
    assert second["updates"] > first["updates"] and second["env_steps"] >= 900
    assert min(u for _, u, _, _ in rows) >= first["updates"]  # counters continue, never restart at 0
    # the restored policy acts at once: no chunk of the resumed run used the random prefill policy
    assert all(m["actor/version"] >= first["version"] for _, _, m, _ in rows if "actor/version" in m)
    assert Player.from_checkpoint(tmp_path / "checkpoint").version == second["updates"]


def test_a_resumed_run_whose_replay_was_lost_counts_on_from_its_checkpoint(tmp_path, redis_server):
    first = run_inline(tmp_path, redis_server.url)[4]
    connect(redis_server.url).flushall()  # the replay is gone; the checkpoint is not
    _, _, _, rows, second = run_inline(tmp_path, redis_server.url, "train.steps=900")
    assert min(steps for steps, *_ in rows) >= first["env_steps"]  # the count goes on, it does not restart at 0
    assert 900 <= second["env_steps"] < 900 + 300  # and the budget is the run's, not a fresh one


def test_a_run_that_cannot_start_says_what_to_change(tmp_path):
    cfg = load_config("smoke", [f"logdir={tmp_path}"])  # vid2act without teachers
    with pytest.raises(RunError, match="needs teachers"):
        plan_run(cfg)
    assert not (tmp_path / "config.yaml").exists()

