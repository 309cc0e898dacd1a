"""The whole pipeline at `smoke` size on real Ray + redis-server + DMC.

Collect, pretrain, train, resume, eval, report.
"""
import json
import time
from pathlib import Path

import pytest

from deploy import collect, evaluate, pretrain, report
from deploy.config import load_config
from deploy.train import train
from learner import CheckpointError, Player, load_checkpoint, read_checkpoint_info
from runtime import RunError


@pytest.fixture(scope="module")
def pipeline(ray_local, tmp_path_factory):
    """Sources, two teachers and a trained student, built once for the module."""
    root = tmp_path_factory.mktemp("pipeline")
    cfg = load_config("smoke", [f"collect.out={root / 'sources'}", f"logdir={root / 'student'}"])
    datasets = collect.collect(cfg, progress=False)
    teachers = [str(root / "teachers" / task) for task in datasets]
    for dataset, out in zip(datasets.values(), teachers):
        pretrain.pretrain(cfg, str(dataset), out)
    cfg.train.teachers = ",".join(teachers)
    summary = train(cfg)
    return cfg, root, summary


def test_smoke_run_trains_checkpoints_and_logs(pipeline):
    cfg, root, summary = pipeline
    run = Path(cfg.logdir)
    assert summary["env_steps"] >= cfg.train.steps and summary["updates"] > 0 and summary["version"] > 0
    info, tensors = load_checkpoint(run / "checkpoint")
    assert info["step"] == summary["updates"] and any(k.startswith("distiller/f_weight") for k in tensors)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = [r for r in rows if "train/distill_loss" in r]
    assert trained and {"train/domain_weight/walker_walk", "train/domain_weight/hopper_stand"} <= set(trained[-1])
    last = trained[-1]
    assert abs(last["train/domain_weight/walker_walk"] + last["train/domain_weight/hopper_stand"] - 1) < 1e-4
    assert any("actor/return" in r for r in rows) and any(r.get("actor/version", -1) >= 1 for r in rows)
    assert [r for r in rows if "eval/return" in r], "no periodic evaluation (train.eval_every) in the run's metrics"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"images": 0})
    events.Reload()
    assert {"video/openloop/student", "video/openloop/teacher/walker_walk",  # open-loop clips of student and teachers
            "video/openloop/teacher/hopper_stand"} <= set(events.Tags()["images"])
    from deploy import grafana
    from deploy.metrics import split_tags

    reported = {grafana.metric(split_tags(key)[0]) for r in rows for key in r}  # what the run exports
    shown = {t["expr"].split("{")[0] for p in grafana.dashboard()["panels"] for t in p["targets"]}
    assert shown - reported == {grafana.metric("eval/success")}  # Meta-World only
    steps = [e.step for e in events.Scalars("train/image_nll")]
    assert steps == sorted(set(steps))  # one point per env step
    assert "eval/return" in str(events.PluginTagToContent("hparams"))


def test_resume_continues_from_the_checkpoint(pipeline):
    cfg, root, first = pipeline
    cfg.train.steps = first["env_steps"] + 200
    second = train(cfg)
    assert second["updates"] > first["updates"] and second["version"] > first["version"]
    assert second["env_steps"] >= cfg.train.steps


def test_re_running_a_finished_run_returns_its_summary_at_once(pipeline):
    cfg, root, _ = pipeline
    run = Path(cfg.logdir)
    saved = read_checkpoint_info(run / "checkpoint")
    rows = (run / "metrics.jsonl").read_text()
    start = time.monotonic()
    again = train(cfg)  # train.steps already reached: no Ray call, no Redis, no actor
    assert time.monotonic() - start < 5
    assert again == {"env_steps": saved["env_steps"], "updates": saved["step"], "version": saved["step"]}
    assert (run / "metrics.jsonl").read_text() == rows


def test_a_wall_clock_budget_stops_the_run_checkpointed(pipeline):
    """Also the in-process teacher option (`train.teacher_actors=0`): the run resumes with the pool in the learner."""
    cfg, root, _ = pipeline
    steps, cfg.train.steps, cfg.train.minutes, cfg.train.teacher_actors = cfg.train.steps, 10**9, 0.25, 0
    try:
        start = time.monotonic()
        summary = train(cfg)
        elapsed = time.monotonic() - start
    finally:
        cfg.train.steps, cfg.train.minutes, cfg.train.teacher_actors = steps, 0.0, 1
    assert summary["env_steps"] < 10**9 and 15 <= elapsed < 15 + 90, elapsed
    assert read_checkpoint_info(Path(cfg.logdir) / "checkpoint")["step"] == summary["updates"]


def test_eval_plays_the_checkpoint_policy_and_the_report_draws_it(pipeline):
    import matplotlib.image
    import numpy as np

    from replay import DatasetReader

    cfg, root, _ = pipeline
    run = Path(cfg.logdir)
    result = evaluate.evaluate(cfg, run, episodes=2)
    episodes = [(ep, meta) for ep, meta in DatasetReader(run / "eval_episodes").episodes()]
    assert result["eval/episodes"] == 2 == len(episodes)
    assert result["eval/return"] == np.mean([ep["reward"].sum(dtype=np.float64) for ep, _ in episodes])
    assert result["updates"] == read_checkpoint_info(run / "checkpoint")["step"]
    # the episodes were played by the checkpoint's mode policy: replaying their frames gives their actions
    player, (ep, _) = Player.from_checkpoint(run / "checkpoint", explore=False), episodes[0]
    for t in range(5):
        action = player({"image": ep["image"][t][None], "is_first": np.array([t == 0])})[0]
        np.testing.assert_allclose(action, ep["action"][t + 1], atol=1e-5)
    # the history keeps every evaluation; the video shows the episodes (decodable, frames as played)
    again = evaluate.evaluate(cfg, run, episodes=2)
    history = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines()]
    assert len(history) == 2 and history[-1]["eval/return"] == again["eval/return"]
    import imageio.v3 as iio

    video = iio.imread(run / "videos" / f"eval-u{result['updates']}.mp4")
    length = max(len(ep["image"]) for ep, _ in episodes)
    assert video.shape[0] == length and video.shape[2] == 2 * 2 * cfg.env.size  # 2 episodes side by side, 2x
    first = episodes[0][0]["image"][0].repeat(2, 0).repeat(2, 1).astype(float)
    assert np.abs(video[0, :, :2 * cfg.env.size].astype(float) - first).mean() < 12  # lossy H.264
    written = report.report([run], root / "report")
    assert {p.name for p in written} >= {"learning_curves.png", "domain_weights.png", "openloop.png",
                                         "eval_curves.png", "scores-dmc-walker_run.json", "stats-dmc-walker_run.json"}
    for path in (p for p in written if p.suffix == ".png"):  # real pictures: decodable, not blank
        pixels = matplotlib.image.imread(path)
        assert min(pixels.shape[:2]) >= 64 and pixels[..., :3].std() > 0.01, path
    # seeds of one setting share a curve; variants of a method do not
    assert report.run_label("walker-vid2act-s12") == report.run_label("walker-vid2act-s0") == "walker-vid2act"
    assert report.run_label("vid2act-alpha0.3-s0") != report.run_label("vid2act-s0")


def test_a_local_run_resumes_what_the_ray_run_saved(pipeline):
    """`vid2act train --local`: the same parts in one process, continuing the run's counters and replay."""
    cfg, root, _ = pipeline
    before = read_checkpoint_info(Path(cfg.logdir) / "checkpoint")
    steps, cfg.train.steps = cfg.train.steps, before["env_steps"] + 200
    try:
        summary = train(cfg, local=True)
    finally:
        cfg.train.steps = steps
    assert summary["updates"] > before["step"] and summary["env_steps"] >= before["env_steps"] + 200
    assert read_checkpoint_info(Path(cfg.logdir) / "checkpoint")["step"] == summary["updates"]


def test_bad_inputs_fail_clearly(pipeline):
    cfg, root, _ = pipeline
    with pytest.raises(ValueError, match="unknown method"):
        load_config("smoke", ["train.method=ppo"]).validate()
    other = load_config("smoke", ["env.task=metaworld/reach", f"train.teachers={cfg.train.teachers}"])
    with pytest.raises(RunError, match="cannot teach a metaworld target"):
        train(other)
    wider = load_config("smoke", ["env.task=dmc/quadruped_walk", f"train.teachers={cfg.train.teachers}"])
    with pytest.raises(RunError, match="teachers take 6-d actions but dmc/quadruped_walk has 12: pretrain with"):
        train(wider)
    missing = load_config("smoke", [f"train.teachers={cfg.train.teachers}", "train.sources=/nope/a,/nope/b"])
    with pytest.raises(RunError, match="source dataset"):
        train(missing)
    with pytest.raises(CheckpointError, match="/nope/teacher/checkpoint.json: missing.*vid2act pretrain"):
        train(load_config("smoke", ["train.teachers=/nope/teacher"]))


def test_training_on_a_users_own_gymnasium_env(tmp_path):
    """`--target module:factory`: a gymnasium env with image observations (tests/support/toy_envs.py), checked by
    gymnasium's check_env and the suite contract before anything starts, then trained like any target."""
    overrides = ["train.method=dreamerv2", "env.time_limit=50", "train.steps=300", "train.eval_every=0"]
    cfg = load_config("smoke", ["env.task=toy_envs:make_dot", *overrides, f"logdir={tmp_path / 'dot'}"]).validate()
    assert cfg.env.task == "gym/toy_envs:make_dot"
    summary = train(cfg, local=True)
    assert summary["env_steps"] >= 300 and summary["updates"] > 0
    rows = [json.loads(line) for line in (tmp_path / "dot" / "metrics.jsonl").read_text().splitlines()]
    assert any("actor/return" in r for r in rows)
    bad = load_config("smoke", ["env.task=toy_envs:make_discrete", *overrides, f"logdir={tmp_path / 'bad'}"])
    with pytest.raises(RunError, match="bounded 1-d Box"):
        train(bad.validate(), local=True)
