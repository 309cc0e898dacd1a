"""`vid2act pretrain --dataset <source dataset> --out <teacher dir>`: one teacher F^i on one source D_i (Eq. 2).

Trains (resuming from `out` if a checkpoint is there), writes the open-loop quality report to `out/report`, saves
the resolved config beside it and prints a summary. Action width: `model.action_pad`, else the widest action among
the run's source tasks (`collect.tasks`) and the target (`env.task`), so every teacher of a run accepts the target.
"""
from __future__ import annotations

import json
from pathlib import Path

from deploy.config import Config, ConfigError, check_resume, public_dict, save_config
from actors import check_task
from learner import checkpoint_exists
from replay import DatasetReader
from runtime import action_width
from teachers import Pretrainer, write_report


def pretrain(cfg: Config, dataset: str, out: str, skip_corrupt: bool = False) -> dict:
    """Train (or resume) the teacher of `dataset` into `out`; write its report; return a summary."""
    reader = DatasetReader(dataset, skip_corrupt=skip_corrupt)
    meta = reader.meta
    if meta.get("size", cfg.env.size) != cfg.env.size:
        raise ConfigError(f"config env.size: {cfg.env.size} but dataset {dataset} holds "
                          f"{meta['size']}x{meta['size']} frames; pass env.size={meta['size']}")
    target_suite, target = check_task(cfg.env.task)
    tasks = (cfg.collect.task_list if cfg.collect.suite == meta["suite"] else []) + \
        ([target] if target_suite == meta["suite"] else [])
    width = action_width(cfg.model, meta["suite"], tasks)
    if meta["action_dim"] > width:
        raise ConfigError(f"config model.action_pad: {width} is narrower than the dataset's {meta['action_dim']}-d "
                          f"actions; raise it or leave it 0")
    episodes = [ep for ep, _ in reader.load_all()]
    info = {"suite": meta["suite"], "task": meta["task"], "action_dim": meta["action_dim"],
            "manifest_hash": reader.manifest_hash(), "dataset": str(Path(dataset).resolve())}
    kwargs = cfg.model.kwargs(cfg.env.size, width, reward_head=False)
    out = Path(out)
    if checkpoint_exists(out):
        check_resume(cfg, out)
    trainer = Pretrainer(out, episodes, info, kwargs, cfg.teacher, device=cfg.device, seed=cfg.seed,
                         config=public_dict(cfg))
    start = trainer.step
    metrics = trainer.run()
    report = write_report(trainer.model, trainer.heldout_eps, out / "report",
                          title=f"teacher {meta['suite']}/{meta['task']} after {trainer.step} steps, held-out episodes")
    save_config(cfg, out)
    summary = {"teacher": f"{meta['suite']}/{meta['task']}", "out": str(out), "steps": trainer.step,
               "resumed_from": start, "episodes": len(episodes), "action_width": width,
               "feature_size": trainer.model.feature_size, **{k: round(v, 4) for k, v in metrics.items()},
               "openloop_mse": round(report["mse_mean"], 5), "openloop_psnr": round(report["psnr_mean"], 2)}
    return summary


def run(cfg: Config, args) -> int:
    print(json.dumps(pretrain(cfg, args.dataset, args.out, args.skip_corrupt), indent=1))
    return 0
