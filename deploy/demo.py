"""`vid2act demo`: the whole pipeline on the embedded default, at `smoke` size, in one command.

collect two small source datasets with Ray env actors -> pretrain a teacher on each -> train a Vid2Act student on
the target with env actors, teacher actors, the learner and an embedded redis-server -> evaluate -> report PNGs.
Every stage resumes: re-running the demo skips what is already done.
"""
from __future__ import annotations

from pathlib import Path

from deploy import collect, evaluate, pretrain, report, train
from deploy.config import Config, save_config


def run(cfg: Config, args) -> int:
    logdir = Path(cfg.logdir)
    save_config(cfg, logdir)
    print(f"[1/5] collect source datasets: {cfg.collect.tasks}")
    datasets = collect.collect(cfg)
    print(collect.summarize(datasets))
    teachers = []
    for task, dataset in datasets.items():
        out = logdir / "teachers" / task
        print(f"[2/5] pretrain teacher {task} -> {out}")
        summary = pretrain.pretrain(cfg, str(dataset), str(out))
        print(f"      {summary['steps']} steps, open-loop PSNR {summary['openloop_psnr']} dB")
        teachers.append(str(out))
    cfg.train.teachers = ",".join(teachers)
    cfg.train.sources = ",".join(str(d) for d in datasets.values())
    cfg.logdir = str(logdir / "student")
    print(f"[3/5] train {cfg.train.method} on {cfg.env.task} -> {cfg.logdir}")
    summary = train.train(cfg)
    print(f"      {summary['env_steps']} env steps, {summary['updates']} updates")
    print("[4/5] evaluate")
    result = evaluate.evaluate(cfg, Path(cfg.logdir), cfg.train.eval_episodes)
    print(f"      return {result['eval/return']:.1f}, success {100 * result['eval/success']:.0f}%")
    print("[5/5] report")
    for path in report.report([Path(cfg.logdir)], logdir / "report"):
        print(f"      wrote {path}")
    print(f"demo done: everything is under {logdir.resolve()}")
    return 0
