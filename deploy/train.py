"""`vid2act train`: the distributed run of Algorithm 1 — env actors, frozen teacher actors, the learner.

    vid2act train --target dmc/quadruped_walk --teachers runs/teachers/walker_walk,runs/teachers/cheetah_run

Starts (or joins) Ray, starts or connects to Redis, launches the teacher pools, the learner and the env actors,
prefills the replay with random episodes, then keeps updates in the configured samples-per-insert ratio to the
collected steps (DreamerV2: an update every `train.train_every` env steps, `train.first_updates` at the first).
Weights are broadcast every `train.sync_every` updates; everything is checkpointed every
`train.checkpoint_every` updates, and re-running the same command resumes from there. `vid2act scale` changes the
number of env actors while the run goes on.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from pathlib import Path

import ray

from actors.suites import action_dim, check_task, widest_action
from deploy import placement
from deploy.config import Config, save_config
from deploy.learner_worker import LearnerWorker
from deploy.teacher_service import RemoteTeachers, start_teacher_actors
from deploy.metrics import MetricsSink
from deploy.ray_runtime import ensure_ray, remote
from deploy.services import CONTROL_NAMESPACE, EnvActor, RunControl, control_name, replay_service
from learner import model_kwargs
from learner.checkpoint import CheckpointError
from learner.learner import Hyper
from replay.client import connect
from replay.limiter import RateLimiter
from replay.redis_replay import RedisReplay

log = logging.getLogger(__name__)
ENV_CHUNK = 50  # agent steps per env-actor call: short enough to pick up weights and scale promptly


class RunError(RuntimeError):
    """A run that cannot start as configured; the message says what to change."""


def teacher_infos(dirs: list[str]) -> list[dict]:
    """The sidecars of the teacher checkpoints (architecture, suite, task, dataset)."""
    infos = []
    for d in dirs:
        path = Path(d) / "checkpoint.json"
        if not path.exists():
            raise RunError(f"teacher {d}: {path} not found; pretrain it with `vid2act pretrain --dataset ... "
                           f"--out {d}` or fix train.teachers")
        infos.append(json.loads(path.read_text()))
    return infos


def agent_spec(cfg: Config, infos: list[dict]) -> dict:
    """What the learner and every env actor build: the model (padded action width), method, head sizes."""
    suite, _ = check_task(cfg.env.task)
    for info in infos:
        if info.get("suite") != suite:
            raise RunError(f"teacher of {info.get('suite')}/{info.get('task')} cannot teach a {suite} target "
                           f"({cfg.env.task}): use teachers pretrained on {suite} sources")
    width = infos[0]["kwargs"]["action_dim"] if infos else (cfg.model.action_pad or widest_action(suite))
    model = model_kwargs(cfg.model, cfg.env.size, width, reward_head=True)
    model["reward_scale"] = cfg.train.reward_scale
    t = cfg.train
    return {"model": model, "action_dim": action_dim(cfg.env.task), "method": t.method, "n_domains": len(infos),
            "units": cfg.model.units, "actor_layers": cfg.model.actor_layers, "value_layers": cfg.model.value_layers,
            "vae_latent": t.vae_latent, "vae_hidden": t.vae_hidden}


def hyper(cfg: Config) -> dict:
    """The learner's `Hyper` fields, read from `train.*` keys of the same names."""
    return {f.name: getattr(cfg.train, f.name) for f in dataclasses.fields(Hyper) if hasattr(cfg.train, f.name)}


def env_kwargs(cfg: Config) -> dict:
    e = cfg.env
    return {"size": e.size, "action_repeat": e.action_repeat, "time_limit": e.time_limit, "camera": e.camera,
            "render_mode": e.render_mode}


class Trainer:
    """The driver: places the parts, keeps them in ratio, broadcasts weights, logs, checkpoints, scales."""

    def __init__(self, cfg: Config):
        self.cfg, self.run_dir = cfg, Path(cfg.logdir)
        uses_teachers = cfg.train.method != "dreamerv2"
        if uses_teachers and not cfg.train.teacher_list:
            raise RunError(f"method {cfg.train.method} needs teachers: pass --teachers dir1,dir2 "
                           f"(from `vid2act pretrain`), or use --method dreamerv2")
        self.infos = teacher_infos(cfg.train.teacher_list) if uses_teachers else []
        self.sources = cfg.train.source_list or [i.get("dataset", "") for i in self.infos]
        if self.infos and cfg.train.method in ("vid2act", "no_domain_weights"):
            missing = [s for s in self.sources if not s or not Path(s).is_dir()]
            if missing or len(self.sources) != len(self.infos):
                raise RunError(f"the action VAE needs each teacher's source dataset; not found: {missing or '?'}; "
                               f"pass --sources in teacher order")
        self.spec = agent_spec(cfg, self.infos)

    def run(self) -> dict:
        cfg = self.cfg
        save_config(cfg, self.run_dir)
        with replay_service(cfg, self.run_dir, self.spec["action_dim"]) as url:
            ensure_ray()
            try:
                return self._train(url)
            finally:
                self._stop()

    def _stop(self) -> None:
        """Close env actors' renderers, then end every actor of this run."""
        envs = list(getattr(self, "env_actors", {}).values())
        try:
            ray.get([a.close.remote() for a in envs], timeout=30)
        except Exception as error:  # an actor already gone: nothing left to close
            log.debug("closing env actors: %s", error)
        for handle in envs + getattr(self, "_actors", []):
            ray.kill(handle)

    # -- setup --------------------------------------------------------------------------------------------------
    def _start(self, url: str) -> None:
        cfg, cluster = self.cfg, ray.cluster_resources()
        # learner + teacher pool + env actors (room for scaling to twice the configured count) share small machines
        groups = cfg.train.teacher_actors if self.infos else 0
        self.cpus = placement.cpu_share(1 + groups + max(2 * cfg.train.num_actors, 2), cluster)
        pools = start_teacher_actors(cfg.train.teacher_list, groups=groups, num_cpus=self.cpus) if groups else []
        self.learner = remote(LearnerWorker, **placement.learner(cluster, max(len(pools), 1), self.cpus)).remote(
            self.spec, hyper(cfg), replay_url=url, capacity=cfg.replay.capacity, batch=cfg.replay.batch,
            seq_len=cfg.replay.seq_len, prefetch=cfg.replay.prefetch, teacher_dirs=cfg.train.teacher_list,
            source_dirs=self.sources, checkpoint_dir=str(self.run_dir / "checkpoint"),
            teachers=RemoteTeachers(pools) if pools else None, device=cfg.device, seed=cfg.seed,
            init_from=cfg.train.init_from, threads=cfg.train.learner_threads)
        self.env_actors: dict[int, ray.actor.ActorHandle] = {}
        self._actors = [*pools, self.learner]
        self.control = remote(RunControl, name=control_name(self.run_dir.name), namespace=CONTROL_NAMESPACE,
                              lifetime=None, get_if_exists=True).remote(cfg.train.num_actors)
        self._actors.append(self.control)
        self._scale_to(cfg.train.num_actors, url)

    def _scale_to(self, n: int, url: str) -> None:
        """Start actors up to `n`; retire idle ones beyond it (a busy actor finishes its chunk first)."""
        cfg, cluster = self.cfg, ray.cluster_resources()
        while len(self.env_actors) < n:
            i = max(self.env_actors, default=-1) + 1
            self.env_actors[i] = remote(EnvActor, **placement.env_actor(i, cluster, self.cpus), max_restarts=3,
                                        max_task_retries=3).remote(
                cfg.env.task, env_kwargs(cfg), cfg.train.envs_per_actor, self.spec, url, cfg.replay.capacity,
                cfg.seed, i)
        for i in sorted(self.env_actors, reverse=True)[: max(len(self.env_actors) - n, 0)]:
            if i not in self.busy.values():
                ray.kill(self.env_actors.pop(i))

    # -- the loop -------------------------------------------------------------------------------------------------
    def _train(self, url: str) -> dict:
        cfg = self.cfg
        self.busy: dict[ray.ObjectRef, int] = {}
        self._start(url)
        replay = RedisReplay(connect(url), cfg.replay.capacity)
        repeat = cfg.env.action_repeat or (2 if cfg.env.task.startswith("dmc/") else 1)
        bt = cfg.replay.batch * cfg.replay.seq_len
        spi = cfg.replay.samples_per_insert or bt * repeat / cfg.train.train_every
        prefill = max(cfg.train.prefill // repeat, cfg.replay.seq_len)
        # The buffer must admit the first burst of updates, one sample and a chunk from every actor (no deadlock).
        chunk = ENV_CHUNK * cfg.train.envs_per_actor
        buffer = max(cfg.train.first_updates * bt, bt, spi * chunk * max(cfg.train.num_actors, 1))
        limiter = RateLimiter(spi, prefill, buffer, counts=replay.counts)
        counters = ray.get(self.learner.counters.remote())
        updates, version = counters["updates"], counters["version"]
        deadline = time.monotonic() + 60 * cfg.train.minutes if cfg.train.minutes > 0 else None
        sink = MetricsSink(self.run_dir / "tb", total_steps=cfg.train.steps, deadline=deadline)
        history = open(self.run_dir / "metrics.jsonl", "a", buffering=1)  # line-buffered: tail-able
        weights: list = []
        if version > 0:  # resumed: act with the restored policy at once
            weights, version = self._publish()
        learner_job, pids, restarts = None, {}, 0
        last_sync, last_ckpt, last_result = updates, updates, time.monotonic()
        wanted, last_control = cfg.train.num_actors, 0.0
        log.info("train: %s on %s, %d teachers, %d env actors", cfg.train.method, cfg.env.task, len(self.infos),
                 len(self.env_actors))
        while True:
            inserted, sampled = replay.counts()
            env_steps = inserted * repeat
            done_steps = env_steps >= cfg.train.steps or time.monotonic() >= (deadline or math.inf)
            if done_steps and learner_job is None:
                break
            if time.monotonic() - last_control > 0.5:  # `vid2act scale` requests: a round trip per 0.5 s at most
                wanted, last_control = ray.get(self.control.get_actors.remote()), time.monotonic()
            if wanted != len(self.env_actors):
                self._scale_to(wanted, url)
            for i, actor in self.env_actors.items():
                if i not in self.busy.values() and not done_steps and limiter.can_insert(chunk):
                    self.busy[actor.step.remote(ENV_CHUNK, version, weights)] = i
            if learner_job is None and not done_steps:
                n = min(int((inserted * spi - limiter.min_diff - sampled) // bt), max(cfg.train.sync_every, 1))
                if inserted >= prefill and n > 0:
                    learner_job = self.learner.train.remote(n)
            pending = list(self.busy) + ([learner_job] if learner_job else [])
            if not pending:
                raise RuntimeError(f"nothing to run at {inserted} inserted / {sampled} sampled steps: the rate "
                                   f"limiter admits neither side (replay.samples_per_insert={spi:g}); please report")
            ready, _ = ray.wait(pending, num_returns=1, timeout=5.0)
            if not ready:
                if time.monotonic() - last_result > 120:
                    log.warning("no result from %d running actor calls for %.0f s: are actors pending for "
                                "resources? see `ray status` and the dashboard's actor list", len(pending),
                                time.monotonic() - last_result)
                    last_result = time.monotonic()
                continue
            last_result = time.monotonic()
            done = ready[0]
            if done is learner_job:
                metrics, learner_job = ray.get(done), None
                updates = int(metrics["train/updates"])
                if updates - last_sync >= cfg.train.sync_every:
                    weights, version = self._publish()
                    last_sync = updates
                if updates - last_ckpt >= cfg.train.checkpoint_every:
                    ray.get(self.learner.save.remote(env_steps))
                    last_ckpt = updates
            else:
                worker = self.busy.pop(done)
                metrics = ray.get(done)
                pid = metrics.pop("actor/pid")
                restarts += int(worker in pids and pids[worker] != pid)
                pids[worker] = pid
                metrics["actor/version_lag"] = float(version - metrics["actor/version"])
                metrics["actor/restarts"] = float(restarts)
                metrics["actor/count"] = float(len(self.env_actors))
            metrics = {k: v for k, v in metrics.items() if not k.startswith("train/domain_weight/")} | \
                self._named_weights(metrics)
            sink.log(env_steps, metrics)
            history.write(json.dumps({"env_steps": env_steps, "updates": updates, **metrics}) + "\n")
        ray.get(self.learner.save.remote(env_steps))
        sink.close()
        history.close()
        return {"env_steps": env_steps, "updates": updates, "version": version}

    def _publish(self) -> tuple[list, int]:
        """One object in the store per version; actors receive its ref and pull it when they are behind."""
        weights_ref, version_ref = self.learner.publish.options(num_returns=2).remote()
        return [weights_ref], ray.get(version_ref)

    def _named_weights(self, metrics: dict) -> dict:
        """`train/domain_weight/<i>` -> `train/domain_weight/<source task>`."""
        out = {}
        for i, info in enumerate(self.infos):
            key = f"train/domain_weight/{i}"
            if key in metrics:
                out[f"train/domain_weight/{info.get('task', i)}"] = metrics[key]
        return out


def run(cfg: Config, args) -> int:
    from deploy.cli import UserError

    try:
        summary = Trainer(cfg).run()
    except (RunError, CheckpointError) as error:
        raise UserError(str(error)) from None
    print(f"train done: {summary['env_steps']} env steps, {summary['updates']} updates, weights v{summary['version']}"
          f" -> {cfg.logdir}")
    return 0
