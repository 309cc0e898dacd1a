"""PVDR end to end at `smoke` size on real Ray + redis-server + Meta-World: source videos of other tasks, the
tokenizer and CVAE pretrained on them, goal-conditioned training on `reach` (planning in the env actors), eval,
report, a fault round (kill -9 of the learner among others), and the inputs a user can get wrong."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest

from actors import goal_image
from deploy import collect, evaluate, pretrain, report
from deploy.config import ConfigError, load_config
from deploy.faults import run_with_faults
from deploy.train import train
from learner import Player, load_checkpoint
from replay import DatasetReader
from runtime import RunError, plan_run

RUN = ["env.task=metaworld/reach", "train.method=pvdr", "env.time_limit=50", "train.steps=500"]


@pytest.fixture(scope="module")
def pvdr_run(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("pvdr")
    cfg = load_config("smoke", [*RUN, "collect.suite=metaworld", "collect.tasks=drawer-open,button-press",
                                "collect.policy=scripted", f"collect.out={root / 'sources'}",
                                f"logdir={root / 'pvdr'}"]).validate()
    datasets = collect.collect(cfg, progress=False)
    summary = pretrain.pretrain_pvdr(cfg, ",".join(map(str, datasets.values())), str(root / "video"))
    cfg.train.init_from = str(root / "video")
    return cfg, root, summary, train(cfg)


def test_pretraining_writes_the_tokenizer_the_cvae_and_their_report(pvdr_run):
    cfg, root, summary, _ = pvdr_run
    assert summary["steps"] == cfg.pvdr.steps and summary["tokenizer_steps"] == cfg.pvdr.tokenizer_steps
    info, tensors = load_checkpoint(root / "video")
    assert info["pvdr"]["grid"] == cfg.pvdr.grid and info["task"] == "drawer-open,button-press"
    assert any(k.startswith("tokenizer/vq.") for k in tensors) and any(k.startswith("model/prior") for k in tensors)
    assert (root / "video" / "report" / "snippets.png").stat().st_size > 0
    again = pretrain.pretrain_pvdr(cfg, ",".join(str(root / "sources" / t) for t in cfg.collect.task_list),
                                   str(root / "video"))
    assert again["resumed_from"] == cfg.pvdr.steps  # a second call resumes, it does not start over
    more = copy.deepcopy(cfg)  # more steps, new rates and online settings: the pretraining goes on with them
    more.pvdr.steps, more.pvdr.lr, more.pvdr.lambda3 = cfg.pvdr.steps + 4, 3e-4, 0.5
    longer = pretrain.pretrain_pvdr(more, ",".join(str(root / "sources" / t) for t in cfg.collect.task_list),
                                    str(root / "video"))
    assert (longer["resumed_from"], longer["steps"]) == (cfg.pvdr.steps, cfg.pvdr.steps + 4)
    info, _ = load_checkpoint(root / "video")
    assert {g["lr"] for groups in info["param_groups"].values() for g in groups} == {3e-4}


def test_the_goal_conditioned_run_plans_aligns_and_records_its_plans(pvdr_run):
    cfg, root, _, summary = pvdr_run
    run = Path(cfg.logdir)
    assert summary["updates"] > 0 and summary["env_steps"] >= cfg.train.steps
    assert cfg.env.goal and cfg.env.success_reward == 60  # the method's goal-conditioned Meta-World setting
    info, tensors = load_checkpoint(run / "checkpoint")
    assert info["spec"]["method"] == "pvdr" and any(k.startswith("align/") for k in tensors)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    trained = {k for r in rows for k in r if k.startswith("train/")}
    assert {"train/rec_nll", "train/kl_prior", "train/plan_goal_distance", "train/align_sl"} <= trained
    assert "initialised from" in (run / "vid2act.log").read_text()


def test_eval_plays_the_planning_policy_and_the_report_shows_its_snippets(pvdr_run):
    cfg, root, *_ = pvdr_run
    run = Path(cfg.logdir)
    result = evaluate.evaluate(cfg, run, episodes=1)
    assert result["eval/episodes"] == 1 and "eval/success" in result
    (ep, meta), = DatasetReader(run / "eval_episodes").episodes()
    goal = goal_image("metaworld/reach", meta["seed"], size=cfg.env.size, time_limit=cfg.env.time_limit)
    assert np.array_equal(ep["goal"][0], goal.image)  # the episode's own goal image, from its seed
    assert ep["plan_z"].shape[1] == cfg.pvdr.grid ** 2 * cfg.pvdr.z_dim and (ep["version"][1:] >= 0).all()
    assert isinstance(Player.from_checkpoint(run / "checkpoint"), type(Player.for_spec(load_checkpoint(
        run / "checkpoint")[0]["spec"])))
    written = {p.name for p in report.report([run], root / "report")}
    assert {"snippets.png", "eval_curves.png"} <= written


def test_the_pvdr_run_survives_a_fault_round(pvdr_run):
    cfg, root, *_ = pvdr_run
    faulty = load_config("smoke", [*RUN, f"train.init_from={root / 'video'}", f"logdir={root / 'faulty'}",
                                   "train.steps=700"]).validate()
    outcome = run_with_faults(faulty, inject=True, pause_s=3.0)
    assert "kill -9 learner" in outcome.injected and outcome.counts["learner_restarts"] >= 1
    assert outcome.summary["env_steps"] >= faulty.train.steps and outcome.stored >= outcome.acknowledged > 0


def test_inputs_a_user_can_get_wrong_are_one_line_each(pvdr_run, tmp_path):
    cfg, root, *_ = pvdr_run

    def plan(*overrides):
        return plan_run(load_config("smoke", list(overrides)).validate())

    with pytest.raises(RunError, match="--pretrained DIR"):
        plan(*RUN)
    with pytest.raises(ConfigError, match="config env.task: method pvdr plans toward goal images"):
        load_config("smoke", ["train.method=pvdr", "env.task=dmc/walker_run"]).validate()
    with pytest.raises(RunError, match="dim 16 there vs 32 here"):
        plan(*RUN, f"train.init_from={root / 'video'}", "pvdr.dim=32")
    with pytest.raises(RunError, match="holds PVDR's video models"):
        plan("train.method=apv", "env.task=metaworld/reach", f"train.init_from={root / 'video'}")
    with pytest.raises(Exception, match="replay.seq_len"):
        load_config("smoke", [*RUN, "replay.seq_len=5"]).validate()
