"""Builders: what a training run is made of, from config, in plain Python (the same for `--local` and Ray).

    plan = plan_run(cfg)                       # RunError with the fix when the run cannot start as configured
    worker = LearnerWorker(**learner_args(cfg, plan, url))           # or a Ray actor with the same arguments
    env = ReplayEnvWorker(*env_worker_args(cfg, plan, url, index=0))  # or a Ray actor with the same arguments
    limiter = plan.schedule.limiter(replay.counts)

A plan holds the agent spec (the padded action width by `action_width`, the one rule for teachers and students),
the teacher and source directories, and the `Schedule`: the insert/update arithmetic of the rate limiter.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from actors import EnvWorker, action_dim, check_target, check_task, widest_action
from learner import PVDR_SIZES, AgentSpec, Method, WorldModelConfig, get_method, read_checkpoint_info
from replay import RateLimiter, RedisReplay, connect
from runtime.config import RunSettings
from teachers import ARCH_KEYS, teacher_info

log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """A run that cannot start as configured; the message says what to change."""


def action_width(model: WorldModelConfig, suite: str, tasks: list[str]) -> int:
    """The width every world model of a run pads actions to: `model.action_pad`, else the widest action among the
    run's `tasks` of `suite` (its sources and target), so every teacher accepts the target."""
    return model.action_pad or widest_action(suite, tasks or None)


@dataclass(frozen=True)
class Schedule:
    """The run's insert/update arithmetic, in agent steps (RateLimiter units).

    `samples_per_insert`: sampled per inserted step (DreamerV2: one B*T batch per `train_every` env steps);
    `min_inserts`: the prefill; `sample`: steps per batch (B*T); `insert`: steps per env-worker call;
    `error_buffer`: the limiter's slack, sized so the first burst, any batch and one call of every worker fit.
    """

    samples_per_insert: float
    min_inserts: int
    sample: int
    insert: int
    error_buffer: float
    repeat: int

    @classmethod
    def of(cls, cfg: RunSettings) -> Schedule:
        t, r = cfg.train, cfg.replay
        repeat, sample = cfg.env.repeat, r.batch * r.seq_len
        spi = r.samples_per_insert or sample * repeat / t.train_every
        insert = t.env_chunk * t.envs_per_actor
        buffer = RateLimiter.error_buffer_for(spi, sample, insert, t.num_actors, first_samples=t.first_updates)
        return cls(spi, max(t.prefill // repeat, r.seq_len), sample, insert, buffer, repeat)

    def limiter(self, counts: Callable[[], tuple[int, int]]) -> RateLimiter:
        return RateLimiter(self.samples_per_insert, self.min_inserts, self.error_buffer, counts=counts)


@dataclass
class RunPlan:
    spec: AgentSpec
    teachers: list[str]
    sources: list[str]
    infos: list[dict]
    schedule: Schedule
    init_from: str = ""
    """The pretrained model the student starts from ('' = none): a teacher, or APV's action-free video model."""


def _sources(cfg: RunSettings, infos: list[dict]) -> list[str]:
    sources = cfg.train.source_list or [i.get("dataset", "") for i in infos]
    if infos and get_method(cfg.train.method).guided:
        missing = [s for s in sources if not s or not Path(s).is_dir()]
        if missing or len(sources) != len(infos):
            raise RunError(f"the action VAE needs each teacher's source dataset; not found: {missing or '?'}; "
                           f"pass --sources in teacher order")
    return sources


def plan_run(cfg: RunSettings) -> RunPlan:
    """The parts of a run, checked before anything starts (teachers, sources, suite, action width)."""
    method, teachers = get_method(cfg.train.method), cfg.train.teacher_list
    if method.teachers and not teachers:
        raise RunError(f"method {method.name} needs teachers: pass --teachers dir1,dir2 (from `vid2act pretrain`), "
                       f"or use --method dreamerv2")
    infos = [teacher_info(d) for d in teachers] if method.teachers else []
    suite, target = check_task(cfg.env.task)
    try:
        check_target(cfg.env.task, cfg.env.size)  # a user's own env: gymnasium's check_env and the suite contract
    except ValueError as err:
        raise RunError(str(err)) from None
    for directory, info in zip(teachers, infos):
        if info.get("action_free") or not info["kwargs"].get("action_dim"):
            raise RunError(f"{directory} is an action-free video model (APV's), not a teacher: start APV from it "
                           f"(--method apv --pretrained {directory}), or pretrain a teacher on one source")
        if info.get("suite") != suite:
            raise RunError(f"teacher of {info.get('suite')}/{info.get('task')} cannot teach a {suite} target "
                           f"({cfg.env.task}): use teachers pretrained on {suite} sources")
        _same_sizes(cfg, directory, info)
    init_from, pretrained = _pretrained(cfg, method, suite)
    # teachers (or a pretrained teacher) fix the width; otherwise the run's own rule (an action-free model has none)
    fixed = infos or ([pretrained] if pretrained and pretrained.get("kwargs", {}).get("action_dim") else [])
    width = fixed[0]["kwargs"]["action_dim"] if fixed else action_width(cfg.model, suite, [target])
    if fixed and action_dim(cfg.env.task) > width:
        raise RunError(f"the {'teachers take' if infos else 'pretrained model takes'} {width}-d actions but "
                       f"{cfg.env.task} has {action_dim(cfg.env.task)}: pretrain with env.task={cfg.env.task} "
                       f"(the action width then covers the target's)")
    spec = AgentSpec.create(cfg.model, cfg.ac, cfg.vae, method=method.name, image_size=cfg.env.size,
                            action_dim=action_dim(cfg.env.task), action_width=width, n_domains=len(infos),
                            apv=cfg.learner.apv.for_suite(suite), pvdr=cfg.learner.pvdr)
    return RunPlan(spec, teachers if method.teachers else [], _sources(cfg, infos), infos, Schedule.of(cfg), init_from)


def _pretrained(cfg: RunSettings, method: Method, suite: str) -> tuple[str, dict | None]:
    """(`train.init_from` as the method uses it, its checkpoint sidecar): APV's methods need an action-free video
    model (`apv_no_pretrain` ignores one), the others take a teacher; RunError naming the fix otherwise."""
    directory = cfg.train.init_from
    if method.pretrained and not directory:
        what, flag = ("PVDR's pretrained video models", "--pvdr") if method.pvdr else \
            ("a pretrained action-free video model", "--action-free")
        raise RunError(f"method {method.name} starts from {what}: pass --pretrained DIR (from `vid2act pretrain "
                       f"{flag} --dataset d1,d2,... --out DIR`)")
    if method.stacked and not method.pretrained:
        if directory:
            log.warning("method %s trains from scratch: --pretrained %s is not used", method.name, directory)
        return "", None
    if not directory:
        return "", None
    info = read_checkpoint_info(directory, "pass a directory from `vid2act pretrain`")
    if method.pvdr or "pvdr" in info:
        return _pretrained_pvdr(cfg, method, directory, info), info
    info = teacher_info(directory)
    action_free = info["kwargs"]["action_dim"] == 0
    if action_free != method.stacked:
        held = "an action-free video model" if action_free else "a teacher world model (with actions)"
        wants = ("`vid2act pretrain --action-free` makes one" if method.stacked else
                 "use --method apv for an action-free model")
        raise RunError(f"{directory} holds {held}, which method {method.name} cannot start from; {wants}")
    if info.get("suite") != suite:
        raise RunError(f"{directory} was pretrained on {info.get('suite')} videos, not on the target's suite {suite}: "
                       f"pretrain one on {suite} sources")
    _same_sizes(cfg, directory, info)
    return directory, info


def _same_sizes(cfg: RunSettings, directory: str, info: dict) -> None:
    """RunError unless the world model pretrained in `directory` has this run's sizes (`ARCH_KEYS`)."""
    here = cfg.model.kwargs(cfg.env.size, 0, reward_head=False)
    diff = {k: (info["kwargs"][k], here[k]) for k in ARCH_KEYS if info["kwargs"][k] != here[k]}
    if diff:
        preset = info.get("config", {}).get("preset")
        raise RunError(f"{directory} was pretrained with other sizes than this run's: "
                       + ", ".join(f"{k} {a} there vs {b} here" for k, (a, b) in diff.items())
                       + "; train with the model config it was pretrained with"
                       + (f" (its preset: --preset {preset})" if preset else ""))


def _pretrained_pvdr(cfg: RunSettings, method: Method, directory: str, info: dict) -> str:
    """`directory` as PVDR's pretrained tokenizer and CVAE for `method`; RunError naming the fix otherwise."""
    if "pvdr" not in info or not method.pvdr:
        held = "PVDR's video models" if "pvdr" in info else ("an action-free video model (APV's)" if
                                                             info.get("action_free") else "a teacher world model")
        raise RunError(f"{directory} holds {held}, which method {method.name} cannot start from; "
                       + ("use --method pvdr" if "pvdr" in info else "`vid2act pretrain --pvdr` makes PVDR's"))
    here = dataclasses.asdict(cfg.learner.pvdr)
    diff = {k: (info["pvdr"][k], here[k]) for k in PVDR_SIZES if info["pvdr"][k] != here[k]}
    if info["image_size"] != cfg.env.size:
        diff["env.size"] = (info["image_size"], cfg.env.size)
    if diff:
        raise RunError(f"{directory} was pretrained with other sizes than this run's: "
                       + ", ".join(f"{k} {a} there vs {b} here" for k, (a, b) in diff.items())
                       + "; train with the pvdr.* config it was pretrained with")
    return directory


def learner_args(cfg: RunSettings, plan: RunPlan, url: str) -> dict:
    """`LearnerWorker` keyword arguments as plain data (they cross to a Ray actor as they are)."""
    r = cfg.replay
    return dict(spec=plan.spec.to_dict(), config=dataclasses.asdict(cfg.learner), replay_url=url,
                capacity=r.capacity, batch=r.batch, seq_len=r.seq_len, prefetch=r.prefetch,
                teacher_dirs=plan.teachers, source_dirs=plan.sources,
                checkpoint_dir=str(Path(cfg.logdir) / "checkpoint"), device=cfg.device, seed=cfg.seed,
                init_from=plan.init_from, threads=cfg.train.learner_threads, suite=check_task(cfg.env.task)[0])


class ReplayEnvWorker(EnvWorker):
    """An env worker whose finished episodes go into the Redis replay at `replay_url`."""

    def __init__(self, task: str, env_kwargs: dict, num_envs: int, spec: dict, replay_url: str, capacity: int,
                 seed: int, worker: int):
        super().__init__(task, env_kwargs, num_envs, spec, RedisReplay(connect(replay_url), capacity).insert, seed,
                         worker)


def eval_worker_args(cfg: RunSettings, plan: RunPlan) -> tuple:
    """`actors.EvalWorker` arguments (the periodic evaluation), as plain data."""
    return cfg.env.task, cfg.env.kwargs(), plan.spec.to_dict(), cfg.seed, cfg.train.eval_episodes


def env_worker_args(cfg: RunSettings, plan: RunPlan, url: str, index: int) -> tuple:
    """`ReplayEnvWorker` arguments of worker `index`, as plain data."""
    return (cfg.env.task, cfg.env.kwargs(), cfg.train.envs_per_actor, plan.spec.to_dict(), url, cfg.replay.capacity,
            cfg.seed, index)
