"""`vid2act collect`: the offline source datasets D_1..D_N, collected by Ray env actors in parallel.

Each task gets a dataset directory `<collect.out>/<task>/`. Work is one episode at a time, (task, index) ->
(policy, seed) fixed by the config, so a re-run only plays the episodes that are missing (resumable, no
duplicates) and the same seed gives the same data whatever the number of actors. Actors return arrays; this
driver is the only writer, so files and manifests are written atomically in one place. An actor that crashes is
restarted by Ray and its episode replayed from the same seed.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import ray
from tqdm import tqdm

from actors import Collector, action_dim, assign_policies, episode_seed, make_policy, parse_policy_mix
from deploy.config import Config, ConfigError, save_config
from deploy.ray_runtime import ensure_ray, remote
from replay import DatasetReader, DatasetWriter

log = logging.getLogger(__name__)


def plan(cfg: Config) -> list[tuple[str, int, str, int]]:
    """Every (task, index, policy, seed) the config asks for, in a fixed order."""
    policies = assign_policies(parse_policy_mix(cfg.collect.policy), cfg.collect.episodes)
    return [(task, i, policies[i], episode_seed(cfg.seed, task, i))
            for task in cfg.collect.task_list for i in range(cfg.collect.episodes)]


def check_policies(cfg: Config) -> None:
    """Build each (task, policy) once here, so a missing agent fails before any actor starts."""
    names = {name for name, _ in parse_policy_mix(cfg.collect.policy)}
    for task in cfg.collect.task_list:
        full = f"{cfg.collect.suite}/{task}"
        for name in sorted(names):
            try:
                make_policy(name, full, action_dim(full), 0, cfg.collect.agents)
            except ValueError as error:
                raise ConfigError(f"config collect.policy: {error}") from None


def collect(cfg: Config, progress: bool = True) -> dict[str, Path]:
    """Collect what is missing of every source dataset; return {task: dataset dir}."""
    out = Path(cfg.collect.out)
    suite = cfg.collect.suite
    writers = {task: DatasetWriter(out / task, suite=suite, task=task, size=cfg.env.size,
                                   render_mode=cfg.env.render_mode, action_dim=action_dim(f"{suite}/{task}"))
               for task in cfg.collect.task_list}
    check_policies(cfg)
    redo = {task: set(w.missing(range(cfg.collect.episodes), cfg.collect.verify)) for task, w in writers.items()}
    todo = [item for item in plan(cfg) if item[1] in redo[item[0]]]
    total = len(cfg.collect.task_list) * cfg.collect.episodes
    log.info("collect: %d of %d episodes to play (%d already on disk) with %d actors",
             len(todo), total, total - len(todo), cfg.collect.num_actors)
    save_config(cfg, out)
    if todo:
        _run(cfg, todo, writers, progress)
    for task in cfg.collect.task_list:
        write_contact_sheet(out / task)
    return {task: out / task for task in cfg.collect.task_list}


def _run(cfg: Config, todo: list, writers: dict, progress: bool) -> None:
    ensure_ray()
    n_actors = min(cfg.collect.num_actors, len(todo))
    # sources are plain videos of other tasks: no goal image, the suite's own reward (env.goal is the target's)
    env_kwargs = {**cfg.env.kwargs(), "goal": False, "success_reward": 0.0}
    actors = [remote(Collector, num_cpus=1, max_restarts=3, max_task_retries=3,
                     name=f"collector-{i}").remote(cfg.collect.suite, env_kwargs, cfg.collect.agents,
                                                    cfg.collect.medium_noise)
              for i in range(n_actors)]
    queue = list(todo)
    pending: dict[ray.ObjectRef, tuple] = {}

    def submit(actor) -> None:
        task, index, policy, seed = item = queue.pop(0)
        pending[actor.play.remote(task, policy, seed)] = (item, actor)

    for actor in actors:
        for _ in range(2):  # two in flight per actor hides the driver's write time
            if queue:
                submit(actor)
    frames, started = 0, time.perf_counter()
    bar = tqdm(total=len(todo), unit="ep", disable=not progress, desc="collect")
    try:
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            (task, index, policy, seed), actor = pending.pop(ref)
            episode, meta = ray.get(ref)
            writers[task].write(index, episode, meta)
            frames += len(episode["reward"])
            fps = frames / (time.perf_counter() - started)
            score = f"success {meta['success']:d}" if cfg.collect.suite == "metaworld" else \
                f"return {meta['return']:.1f}"
            bar.set_postfix_str(f"{task} #{index} {policy} {score} | {fps:.0f} frames/s")
            bar.update(1)
            if queue:
                submit(actor)
    finally:
        bar.close()
        for actor in actors:
            ray.kill(actor)
    log.info("collect: %d episodes, %d frames in %.0fs (%.0f frames/s)", len(todo), frames,
             time.perf_counter() - started, frames / max(time.perf_counter() - started, 1e-9))


def write_contact_sheet(dataset: Path, episodes: int = 6, frames: int = 8) -> Path:
    """A PNG grid of sample frames: one row per episode, frames spread over its length."""
    import matplotlib.image

    reader = DatasetReader(dataset, skip_corrupt=True)
    rows = []
    for k, (episode, _) in enumerate(reader.episodes()):
        if k >= episodes:
            break
        images = episode["image"]
        picks = np.linspace(0, len(images) - 1, frames).astype(int)
        rows.append(np.concatenate([np.pad(images[i], ((1, 1), (1, 1), (0, 0))) for i in picks], axis=1))
    path = dataset / "contact_sheet.png"
    matplotlib.image.imsave(path, np.concatenate(rows, axis=0))
    return path


def summarize(datasets: dict[str, Path]) -> str:
    """A table of what each dataset holds."""
    metaworld = any(DatasetReader(path).meta.get("suite") == "metaworld" for path in datasets.values())
    lines = [f"{'task':18s} {'episodes':>8s} {'frames':>8s} {'return mean±std':>18s}"
             + (f" {'success':>8s}" if metaworld else "") + "  policies"]
    for task, path in datasets.items():
        reader = DatasetReader(path)
        entries = reader.manifest["episodes"]
        returns = np.array([e["return"] for e in entries])
        counts: dict[str, int] = {}
        for e in entries:
            counts[e["policy"]] = counts.get(e["policy"], 0) + 1
        success = f" {100 * np.mean([bool(e.get('success')) for e in entries]):7.0f}%" if metaworld else ""
        lines.append(f"{task:18s} {len(entries):8d} {sum(e['length'] for e in entries):8d} "
                     f"{returns.mean():9.1f} ± {returns.std():6.1f}{success}  "
                     + ", ".join(f"{k}×{v}" for k, v in sorted(counts.items())))
    return "\n".join(lines)


def run(cfg: Config, args) -> int:
    datasets = collect(cfg)
    print(summarize(datasets))
    print(f"datasets and contact sheets in {Path(cfg.collect.out).resolve()}")
    return 0
