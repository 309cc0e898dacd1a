"""APV end to end at `smoke` size on real Ray + redis-server + DMC: action-free pretraining on pooled sources, the
stacked student with the bonus, eval, report, a fault round (kill -9 of the learner among others) and the inputs a
user can get wrong."""
import json
from pathlib import Path

import pytest

from deploy import collect, evaluate, pretrain, report
from deploy.config import ConfigError, load_config
from deploy.faults import run_with_faults
from deploy.train import train
from learner import Player, load_checkpoint
from runtime import RunError, plan_run
from teachers import load_teacher


@pytest.fixture(scope="module")
def apv_run(ray_local, tmp_path_factory):
    """Two source datasets, the action-free model pooled over both, and an APV student trained from it."""
    root = tmp_path_factory.mktemp("apv")
    cfg = load_config("smoke", [f"collect.out={root / 'sources'}", f"logdir={root / 'apv'}", "train.method=apv"])
    datasets = collect.collect(cfg, progress=False)
    summary = pretrain.pretrain(cfg, ",".join(map(str, datasets.values())), str(root / "video"), action_free=True)
    cfg.train.init_from = str(root / "video")
    return cfg, root, datasets, summary, train(cfg)


def test_action_free_pretraining_pools_the_sources_and_reports_its_predictions(apv_run):
    cfg, root, datasets, summary, _ = apv_run
    model, info = load_teacher(root / "video")
    assert model.action_dim == 0 and model.rssm.img_action is None and info["action_free"]
    assert info["task"] == "walker_walk,hopper_stand" and summary["steps"] == cfg.teacher.steps
    assert summary["episodes"] == sum(cfg.collect.episodes for _ in datasets)
    report_dir = root / "video" / "report"
    assert (report_dir / "openloop.png").stat().st_size > 0 and json.loads((report_dir / "openloop.json").read_text())
    again = pretrain.pretrain(cfg, ",".join(map(str, datasets.values())), str(root / "video"), action_free=True)
    assert again["resumed_from"] == cfg.teacher.steps  # resumes, does not start over


def test_the_apv_student_trains_the_stacked_model_with_the_bonus_from_the_pretrained_one(apv_run):
    cfg, root, _, _, summary = apv_run
    run = Path(cfg.logdir)
    assert summary["updates"] > 0 and summary["env_steps"] >= cfg.train.steps
    info, tensors = load_checkpoint(run / "checkpoint")
    assert info["spec"]["method"] == "apv" and info["spec"]["model"]["concat_embed"]  # DMC: APV's Appendix E
    assert {"bonus/queue", "bonus/projection"} <= set(tensors) and any(k.startswith("model/af_rssm.") for k in tensors)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    bonus = [r["train/intr_reward"] for r in rows if "train/intr_reward" in r]
    assert bonus and all(b > 0 for b in bonus)
    assert "initialised from" in (run / "vid2act.log").read_text()


def test_eval_and_report_read_the_apv_run(apv_run):
    cfg, root, *_ = apv_run
    run = Path(cfg.logdir)
    result = evaluate.evaluate(cfg, run, episodes=1)
    assert result["eval/episodes"] == 1 and result["updates"] > 0
    player = Player.from_checkpoint(run / "checkpoint")
    assert player.model.af_rssm is not None and player.spec.method == "apv"
    written = {p.name for p in report.report([run], root / "report")}
    assert {"learning_curves.png", "openloop.png", "eval_curves.png"} <= written


def test_the_apv_run_survives_a_fault_round_and_resumes_its_bonus(apv_run):
    cfg, root, *_ = apv_run
    faulty = load_config("smoke", ["train.method=apv", f"train.init_from={root / 'video'}",
                                   f"logdir={root / 'faulty'}", "train.steps=1600"]).validate()
    outcome = run_with_faults(faulty, inject=True, pause_s=3.0)
    assert "kill -9 learner" in outcome.injected and outcome.counts["learner_restarts"] >= 1
    assert outcome.summary["env_steps"] >= faulty.train.steps and outcome.stored >= outcome.acknowledged > 0
    info, tensors = load_checkpoint(Path(faulty.logdir) / "checkpoint")
    assert int(tensors["bonus/filled"]) > 0  # the restored learner carried its queue on


def test_inputs_a_user_can_get_wrong_are_one_line_each(apv_run, tmp_path):
    cfg, root, datasets, *_ = apv_run

    def plan(*overrides):
        return plan_run(load_config("smoke", list(overrides)).validate())

    with pytest.raises(RunError, match="--pretrained DIR"):
        plan("train.method=apv")
    teacher = tmp_path / "teacher"
    pretrain.pretrain(cfg, str(datasets["walker_walk"]), str(teacher))
    with pytest.raises(RunError, match="holds a teacher world model"):
        plan("train.method=apv", f"train.init_from={teacher}")
    with pytest.raises(RunError, match="holds an action-free video model"):
        plan("train.method=dreamerv2", f"train.init_from={root / 'video'}")
    with pytest.raises(RunError, match="deter 16 there vs 32 here"):
        plan("train.method=apv", f"train.init_from={root / 'video'}", "model.deter=32")
    assert plan("train.method=apv_no_pretrain", f"train.init_from={root / 'video'}").init_from == ""
    with pytest.raises(RunError, match="is an action-free video model \\(APV's\\), not a teacher"):
        plan("train.method=vid2act", f"train.teachers={teacher},{root / 'video'}")
    with pytest.raises(RunError, match="teacher was pretrained with other sizes.*deter 16 there vs 32.*preset smoke"):
        plan("train.method=vid2act", f"train.teachers={teacher}", "model.deter=32")
    with pytest.raises(ConfigError, match="one source dataset"):
        pretrain.pretrain(cfg, ",".join(map(str, datasets.values())), str(tmp_path / "t2"))
    with pytest.raises(ConfigError, match="apv.window"):
        load_config("smoke", ["train.method=apv", "apv.window=20"]).validate()
