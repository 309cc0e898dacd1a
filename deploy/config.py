"""One config tree for every command: typed dataclasses, named presets, dotted overrides.

    cfg = load_config("cpu", ["model.deter=256", "train.steps=1e5"])
    cfg.validate()
    save_config(cfg, run_dir)      # writes run_dir/config.yaml

Presets are dotted overrides applied in order on top of the defaults (the defaults are the `cpu` preset):
`smoke` (tests, the demo), `cpu` (runs on a 2-core machine), `paper` (the authors' settings, for GPUs), `paper_apv`
(`paper` with APV's 1024-wide RSSM). Each part's config is defined by the package that uses it (`actors.EnvConfig`,
`learner.WorldModelConfig`, `replay.ReplayConfig`, `runtime.TrainConfig`, ...); this tree only composes them.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from actors import SUITES, BehaviourConfig, CollectConfig, EnvConfig, check_task, parse_policy_mix
from deploy.presets import PRESETS
from deploy.rules import CHOICES, NON_NEGATIVE, POSITIVE, method_rules
from learner import (
    METHODS,
    ActionVAEConfig,
    ActorCriticConfig,
    ApvConfig,
    DistillConfig,
    LearnerConfig,
    PvdrConfig,
    WorldModelConfig,
)
from replay import ReplayConfig, mask_url
from runtime import Schedule, TrainConfig
from teachers import TeacherConfig


log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value that cannot work; the message says which key and what to do."""


MOVED = {
    "train.model_lr": "model.lr", "train.actor_lr": "ac.actor_lr", "train.critic_lr": "ac.critic_lr",
    "train.horizon": "ac.horizon", "train.discount": "ac.discount", "train.lambda_": "ac.lambda_",
    "train.entropy": "ac.entropy", "train.slow_target_every": "ac.slow_target_every", "model.actor_layers":
    "ac.actor_layers", "model.value_layers": "ac.value_layers", "train.reward_scale": "model.reward_scale",
    "train.alpha": "distill.alpha", "train.weight_floor": "distill.weight_floor", "train.vae_latent": "vae.latent",
    "train.vae_hidden": "vae.hidden",
}
"""Keys that moved to the part that uses them (read from older `config.yaml` files with a warning)."""


@dataclass
class Config:
    preset: str = "cpu"
    """Preset these values started from."""
    seed: int = 0
    """Seed for everything."""
    device: str = "auto"
    """`auto` (CUDA when present), `cuda`, `cpu`."""
    logdir: str = "runs/default"
    """Run directory: config, checkpoints, TensorBoard logs, plots."""
    strict_resume: bool = False
    """Refuse to resume a run (train, pretrain) whose settings changed since it was saved, instead of applying the
    new settings and logging what changed."""
    env: EnvConfig = field(default_factory=EnvConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    vae: ActionVAEConfig = field(default_factory=ActionVAEConfig)
    apv: ApvConfig = field(default_factory=ApvConfig)
    pvdr: PvdrConfig = field(default_factory=PvdrConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def learner(self) -> LearnerConfig:
        """The learner's part configs (the same objects, composed)."""
        return LearnerConfig(self.model, self.ac, self.distill, self.vae, self.apv, self.pvdr)

    def validate(self) -> Config:
        """Raise ConfigError naming the key when a value, or a combination of values, cannot work; return self."""
        self._check_values()
        self._check_combinations()
        return self

    def _check_values(self) -> None:
        need(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"), "device",
             f"{self.device!r} is not auto, cpu or cuda[:N]")
        need(self.env.size >= 16 and self.env.size % 16 == 0, "env.size", f"{self.env.size} must be a multiple of 16")
        if ":" in self.env.task and self.env.task.split("/", 1)[0] not in SUITES:  # a bare module:factory
            self.env.task = f"gym/{self.env.task}"
        check_task(self.env.task)
        if self.train.method in METHODS and METHODS[self.train.method].pvdr and not self.env.goal \
                and self.env.task.startswith("metaworld/"):
            self.env.goal, self.env.success_reward = True, self.env.success_reward or 60.0
            log.info("method %s: env.goal=true, env.success_reward=%g", self.train.method, self.env.success_reward)
        need(self.collect.suite in ("dmc", "metaworld"), "collect.suite",
             f"{self.collect.suite!r} is not dmc or metaworld")
        for task in self.collect.task_list:
            need("/" not in task, "collect.tasks", f"{task} is not a {self.collect.suite} task (collect.suite="
                                                   f"{self.collect.suite}); collect one suite at a time")
            check_task(f"{self.collect.suite}/{task}")
        parse_policy_mix(self.collect.policy)
        need(self.model.discrete >= 0, "model.discrete", "must be >= 0 (0 = Gaussian)")
        need(0.0 <= self.model.kl_balance <= 1.0, "model.kl_balance", "must lie in [0, 1]")
        need(0.0 < self.ac.discount <= 1.0 and 0.0 <= self.ac.lambda_ <= 1.0, "ac.discount",
             "need 0 < ac.discount <= 1 and 0 <= ac.lambda_ <= 1")
        need(self.replay.seq_len >= 2, "replay.seq_len", "must be >= 2")
        close = difflib.get_close_matches(self.train.method, METHODS, n=3)
        need(self.train.method in METHODS, "train.method", f"unknown method {self.train.method!r}; " +
             (f"did you mean {', '.join(close)}?" if close else f"choose one of {', '.join(METHODS)}"))
        need(0.0 <= self.distill.weight_floor < 1.0, "distill.weight_floor", "must lie in [0, 1)")
        for key, choices in CHOICES.items():
            need(get_value(self, key) in choices, key, f"{get_value(self, key)!r} is not one of {', '.join(choices)}")
        bad = set(filter(None, self.model.compile.split(","))) - {"imagine", "loss"}
        need(not bad, "model.compile", f"{', '.join(sorted(bad))}: compile `imagine`, `loss` or both (comma-separated)")
        for key in POSITIVE:
            need(get_value(self, key) > 0, key, f"{get_value(self, key)!r} must be > 0")
        for key in NON_NEGATIVE:
            need(get_value(self, key) >= 0, key, f"{get_value(self, key)!r} must be >= 0 (0 = off, or the default)")

    def _check_combinations(self) -> None:
        """Rules between keys: a window fits in an episode, the replay holds what the limiter waits for."""
        episode = self.env.agent_steps + 1  # frames per episode
        need(self.replay.seq_len <= episode, "replay.seq_len",
             f"{self.replay.seq_len}-step windows never fit in {episode}-frame episodes of {self.env.task} "
             f"(env.time_limit / action repeat {self.env.repeat}); lower replay.seq_len or raise env.time_limit")
        for ok, key, msg in method_rules(self, METHODS[self.train.method]):
            need(ok, key, msg)
        schedule = Schedule.of(self)
        need(self.replay.capacity >= max(schedule.min_inserts, episode), "replay.capacity",
             f"{self.replay.capacity} steps cannot hold the prefill ({schedule.min_inserts} agent steps) and a "
             f"{episode}-step episode; raise replay.capacity")


def need(ok: bool, key: str, msg: str) -> None:
    """ConfigError `config <key>: <msg>` unless `ok`."""
    if not ok:
        raise ConfigError(f"config {key}: {msg}")


def _coerce(value: str, kind: type, key: str) -> object:
    try:
        if kind is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is int:
            number = float(value)
            if number != int(number):
                raise ValueError(value)
            return int(number)
        if kind is float:
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(value)
            return number
        return str(value)
    except (ValueError, OverflowError):
        raise ConfigError(f"config {key}: {value!r} is not a valid {kind.__name__}") from None


def leaves(obj: object, prefix: str = "") -> dict[str, tuple[object, str, type]]:
    out = {}
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(leaves(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = (obj, f.name, hints[f.name])
    return out


def get_value(cfg: Config, key: str) -> object:
    """The value of one dotted key."""
    owner, name, _ = leaves(cfg)[key]
    return getattr(owner, name)


def set_value(cfg: Config, key: str, value: object) -> None:
    """Set one dotted key (`model.deter`), coercing strings to the field's type."""
    keys = leaves(cfg)
    if key in MOVED:
        log.warning("config key %s is now %s", key, MOVED[key])
        key = MOVED[key]
    if key not in keys:
        close = difflib.get_close_matches(key, keys, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " Run `vid2act config --keys` for the list."
        raise ConfigError(f"unknown config key {key!r}.{hint}")
    owner, name, kind = keys[key]
    if isinstance(value, str) and kind is not str:
        value = _coerce(value, kind, key)
    elif not isinstance(value, str):
        value = _coerce(str(value), kind, key) if kind in (int, float, bool) else value
    setattr(owner, name, value)


def load_config(preset: str = "cpu", overrides: typing.Iterable[str] = ()) -> Config:
    """Defaults, then the preset, then `key=value` overrides, in that order."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = Config(preset=preset)
    for key, value in PRESETS[preset].items():
        set_value(cfg, key, value)
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: Config, overrides: typing.Iterable[str]) -> Config:
    """Apply `key=value` strings in order; returns cfg."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value (e.g. model.deter=256)")
        key, value = item.split("=", 1)
        set_value(cfg, key.strip(), value.strip())
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def public_dict(cfg: Config) -> dict:
    """The config as a dict with the Redis password masked: what may be written to disk."""
    data = config_to_dict(cfg)
    data["replay"]["url"] = mask_url(data["replay"]["url"])
    return data


def save_config(cfg: Config, run_dir: str | Path) -> Path:
    """Write the resolved config beside a run's outputs (passwords masked)."""
    path = Path(run_dir) / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(public_dict(cfg), sort_keys=False))
    return path


def read_config(path: str | Path) -> Config:
    """Load a saved config.yaml back into a Config; ConfigError naming the file when it is not one."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a mapping of keys")
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: unreadable config ({str(err).splitlines()[0]}); fix or delete it") from None
    cfg = Config()
    flat: dict[str, object] = {}

    def walk(d: dict, prefix: str = "") -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[f"{prefix}{k}"] = v

    walk(data)
    try:
        for key, value in flat.items():
            set_value(cfg, key, value)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return cfg


def differences(old: Config, new: Config) -> dict[str, tuple[object, object]]:
    """{dotted key: (old value, new value)} for every setting that differs between two configs, less where and how
    a run is reached (`preset`, `strict_resume`, `replay.url`, `logdir`)."""
    ignored = {"preset", "strict_resume", "replay.url", "logdir"}
    after = leaves(new)
    return {key: (getattr(o, n), getattr(after[key][0], n)) for key, (o, n, _) in leaves(old).items()
            if key not in ignored and getattr(o, n) != getattr(after[key][0], n)}


def check_resume(cfg: Config, directory: str | Path) -> list[str]:
    """Before resuming the run in `directory`: the settings that changed since it was saved (logged), or with
    `strict_resume` a refusal listing them. The new settings are what runs."""
    saved = Path(directory) / "config.yaml"
    changes = [f"{key}: {old!r} -> {new!r}" for key, (old, new) in differences(read_config(saved), cfg).items()
               ] if saved.is_file() else []
    if changes and cfg.strict_resume:
        raise ConfigError(f"{directory}: settings changed since the run was saved ({'; '.join(changes)}); "
                          f"resume with the saved ones, or without strict_resume=true to apply them")
    if changes:
        log.warning("resuming %s with changed settings: %s", directory, "; ".join(changes))
    return changes
