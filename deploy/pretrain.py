"""`vid2act pretrain --dataset <source dataset> --out <teacher dir>`: one teacher F^i on one source D_i (Eq. 2).
`vid2act pretrain --action-free --dataset d1,d2,... --out DIR`: APV's action-free video model (APV Eq. 1-2) on the
frames of every source pooled (their actions ignored), the model `train --method apv --pretrained DIR` starts from.
`vid2act pretrain --pvdr --dataset d1,d2,... --out DIR`: PVDR's tokenizer and visual dynamics CVAE (PVDR Eq. 1) on
the same pooled frames.

Trains (resuming from `out` if a checkpoint is there), writes the open-loop quality report to `out/report`, saves
the resolved config beside it and prints a summary. Action width: `model.action_pad`, else the widest action among
the run's source tasks (`collect.tasks`) and the target (`env.task`), so every teacher of a run accepts the target;
0 for the action-free model. APV's sequences: 50 steps on DMC (`teacher.seq_len`), 25 on Meta-World.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

from deploy.config import Config, ConfigError, check_resume, public_dict, save_config
from actors import check_task
from learner import checkpoint_exists
from replay import DatasetReader
from runtime import action_width, split_csv
from teachers import Pretrainer, PvdrPretrainer, write_report


def pretrain(cfg: Config, dataset: str, out: str, skip_corrupt: bool = False, action_free: bool = False) -> dict:
    """Train (or resume) the teacher of `dataset` (or, `action_free`, the video model of the comma-separated
    datasets) into `out`; write its report; return a summary."""
    readers, paths = _readers(cfg, dataset, skip_corrupt)
    if len(readers) != 1 and not action_free:
        raise ConfigError(f"a teacher learns one source dataset, got {len(readers)}: pass one --dataset, or pool "
                          f"several with --action-free (APV's video model) or --pvdr (PVDR's)")
    info, episodes, width = (_video_data if action_free else _teacher_data)(cfg, readers, paths)
    kwargs = cfg.model.kwargs(cfg.env.size, width, reward_head=False)
    out = Path(out)
    if checkpoint_exists(out):
        check_resume(cfg, out)
    trainer = Pretrainer(out, episodes, info, kwargs, cfg.teacher, device=cfg.device, seed=cfg.seed,
                         config=public_dict(cfg))
    start = trainer.step
    metrics = trainer.run()
    kind = "action-free video model" if action_free else "teacher"
    report = write_report(trainer.model, trainer.heldout_eps, out / "report",
                          title=f"{kind} on {sources(info)} after {trainer.step} steps, held-out episodes")
    save_config(cfg, out)
    return {"model": kind, "sources": sources(info), "out": str(out), "steps": trainer.step, "resumed_from": start,
            "episodes": len(episodes), "action_width": width, "feature_size": trainer.model.feature_size,
            **{k: round(v, 4) for k, v in metrics.items()}, "openloop_mse": round(report["mse_mean"], 5),
            "openloop_psnr": round(report["psnr_mean"], 2)}


def pretrain_pvdr(cfg: Config, dataset: str, out: str, skip_corrupt: bool = False) -> dict:
    """PVDR's tokenizer, then its visual dynamics CVAE (PVDR Eq. 1), on the frames of the comma-separated datasets,
    into `out` (resumed when it holds a checkpoint); the snippet report into `out/report`; returns a summary."""
    readers, paths = _readers(cfg, dataset, skip_corrupt)
    info, episodes, _ = _video_data(cfg, readers, paths)
    out = Path(out)
    if checkpoint_exists(out):
        check_resume(cfg, out)
    trainer = PvdrPretrainer(out, episodes, info, cfg.pvdr, image_size=cfg.env.size, heldout=cfg.teacher.heldout,
                             device=cfg.device, seed=cfg.seed, config=public_dict(cfg))
    start = trainer.step
    metrics = trainer.run()
    report = trainer.report(out / "report")
    save_config(cfg, out)
    return {"model": "PVDR tokenizer + CVAE", "sources": sources(info), "out": str(out), "steps": trainer.step,
            "tokenizer_steps": trainer.tokenizer_step, "resumed_from": start, "episodes": len(episodes),
            **{k: round(v, 4) for k, v in metrics.items()}, **{f"report/{k}": round(v, 4) for k, v in report.items()}}


def sources(info: dict) -> str:
    """`dmc/walker_walk, dmc/hopper_stand`: the source tasks a model learned from."""
    return ", ".join(f"{info['suite']}/{task}" for task in info["task"].split(","))


def _readers(cfg: Config, dataset: str, skip_corrupt: bool) -> tuple[list[DatasetReader], list[str]]:
    """The comma-separated datasets' readers, checked: frames of `env.size`, one suite."""
    paths = split_csv(str(dataset))
    readers = [DatasetReader(d, skip_corrupt=skip_corrupt) for d in paths]
    sizes = {path: reader.meta.get("size", cfg.env.size) for reader, path in zip(readers, paths)}
    if len(set(sizes.values())) > 1:
        raise ConfigError("the datasets hold frames of different sizes (" + ", ".join(
            f"{path}: {size}x{size}" for path, size in sizes.items()) + "): pool datasets of one frame size")
    for reader, path in zip(readers, paths):
        if reader.meta.get("size", cfg.env.size) != cfg.env.size:
            raise ConfigError(f"config env.size: {cfg.env.size} but dataset {path} holds {reader.meta['size']}x"
                              f"{reader.meta['size']} frames; pass env.size={reader.meta['size']}")
    suites = sorted({r.meta["suite"] for r in readers})
    if len(suites) != 1:
        raise ConfigError(f"datasets of one suite only, got {', '.join(suites)}: a model predicts one suite's frames")
    return readers, paths


def _teacher_data(cfg: Config, readers: list[DatasetReader], paths: list[str]) -> tuple[dict, list[dict], int]:
    """One source's episodes, its sidecar info and the run's action width."""
    reader = readers[0]
    meta = reader.meta
    target_suite, target = check_task(cfg.env.task)
    tasks = (cfg.collect.task_list if cfg.collect.suite == meta["suite"] else []) + \
        ([target] if target_suite == meta["suite"] else [])
    width = action_width(cfg.model, meta["suite"], tasks)
    if meta["action_dim"] > width:
        raise ConfigError(f"config model.action_pad: {width} is narrower than the dataset's {meta['action_dim']}-d "
                          f"actions; raise it or leave it 0")
    info = {"suite": meta["suite"], "task": meta["task"], "action_dim": meta["action_dim"],
            "manifest_hash": reader.manifest_hash(), "dataset": str(Path(paths[0]).resolve())}
    return info, [ep for ep, _ in reader.load_all()], width


def _video_data(cfg: Config, readers: list[DatasetReader], paths: list[str]) -> tuple[dict, list[dict], int]:
    """Every source's frames without actions, interleaved (so the held-out episodes span the sources)."""
    per_source = [[{**ep, "action": ep["action"][:, :0]} for ep, _ in r.load_all()] for r in readers]
    episodes = [ep for group in itertools.zip_longest(*per_source) for ep in group if ep is not None]
    hashes = ",".join(r.manifest_hash() for r in readers)
    info = {"suite": readers[0].meta["suite"], "task": ",".join(r.meta["task"] for r in readers), "action_dim": 0,
            "action_free": True, "manifest_hash": hashlib.sha256(hashes.encode()).hexdigest(),
            "dataset": ",".join(str(Path(d).resolve()) for d in paths)}
    return info, episodes, 0


def run(cfg: Config, args) -> int:
    if args.pvdr and args.action_free:
        raise ConfigError("--pvdr and --action-free pretrain different models: pass one")
    if args.pvdr and getattr(args, "cfg:teacher.steps", None) is not None:  # --steps: the CVAE's steps here
        cfg.pvdr.steps = cfg.teacher.steps
    summary = pretrain_pvdr(cfg, args.dataset, args.out, args.skip_corrupt) if args.pvdr else \
        pretrain(cfg, args.dataset, args.out, args.skip_corrupt, args.action_free)
    print(json.dumps(summary, indent=1))
    return 0
