"""One config tree for every command: typed dataclasses, named presets, dotted overrides.

    cfg = load_config("cpu", ["model.deter=256", "train.steps=1e5"])
    cfg.validate()
    save_config(cfg, run_dir)      # writes run_dir/config.yaml

Presets are dotted overrides applied in order on top of the defaults (the defaults are the `cpu` preset):
`smoke` (tests and the demo: seconds on 2 cores), `cpu` (useful runs on a 2-core machine), `paper` (the authors'
settings, for GPUs). Only `deploy/` reads this tree; everything below it takes plain arguments.
"""
from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deploy.presets import PRESETS


class ConfigError(ValueError):
    """A config value that cannot work; the message says which key and what to do."""


def csv(text: str) -> list[str]:
    """`"a, b,,c"` -> `["a", "b", "c"]`."""
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass
class EnvConfig:
    task: str = "dmc/walker_walk"
    """Target task, `suite/name`: `dmc/walker_walk`, `metaworld/door-lock`."""
    size: int = 64
    """Square image size in pixels."""
    action_repeat: int = 0
    """Env steps per agent action; 0 = the suite's default (DMC 2, Meta-World 1)."""
    time_limit: int = 0
    """Env steps per episode; 0 = the suite's default (DMC 1000, Meta-World 500)."""
    camera: str = ""
    """Camera name or id; empty = the suite's default (DMC per-domain, Meta-World `corner`)."""
    render_mode: str = "fast"
    """`fast` (reused renderer, no shadows/reflections) or `faithful` (the suite's own look). Use one for all data."""


@dataclass
class CollectConfig:
    suite: str = "dmc"
    """Suite of the source tasks: `dmc` or `metaworld`."""
    tasks: str = "cheetah_run,hopper_stand,walker_walk,walker_run"
    """Comma-separated source tasks (names inside the suite)."""
    episodes: int = 50
    """Episodes per source task."""
    policy: str = "medium:0.5,expert:0.5"
    """Behaviour mix per source, name:fraction (the paper's medium + expert; DMC needs `vid2act behaviour` agents
    first; `random` needs none)."""
    out: str = "data/sources"
    """Dataset root; one sub-directory (dataset) per task."""
    agents: str = "data/agents"
    """Where the DMC behaviour agents (medium/expert checkpoints) live."""
    num_actors: int = 2
    """Parallel Ray env actors (one process each)."""
    medium_noise: float = 0.5
    """Action-noise std of Meta-World `medium` episodes (scripted expert + noise; success-any-step stays high for
    easy tasks: door-lock 1.0, dial-turn 0.88 at 0.5; 1.0 / 0.25 at 1.0; 0.5 / 0.0 at 1.5, 8 episodes each)."""
    verify: bool = False
    """On resume, re-hash every episode already on disk (default: a file whose size matches the manifest is kept)."""

    @property
    def task_list(self) -> list[str]:
        return csv(self.tasks)


@dataclass
class BehaviourConfig:
    algo: str = "sac"
    """Library algorithm for the DMC state-based behaviour agents."""
    steps: int = 150_000
    """Env steps (agent decisions) to train for at most."""
    medium_return: float = 300.0
    """Episode return at which the `medium` checkpoint is saved."""
    expert_return: float = 700.0
    """Episode return at which the `expert` checkpoint is saved (training stops there)."""
    eval_every: int = 10_000
    """Agent steps between evaluations."""
    eval_episodes: int = 3
    """Episodes per evaluation."""
    learning_starts: int = 5_000
    """Random steps before the first gradient step."""
    batch_size: int = 256
    """SAC batch size."""


@dataclass
class ModelConfig:
    depth: int = 16
    """Conv encoder/decoder channel multiplier (paper: 32)."""
    stoch: int = 32
    """Stochastic state size (Gaussian) or number of categorical variables (discrete)."""
    discrete: int = 0
    """Classes per categorical variable; 0 = Gaussian stochastic state (paper: 0, option 32)."""
    deter: int = 128
    """GRU deterministic state size (paper: 200)."""
    hidden: int = 128
    """RSSM hidden layer size (paper: 200)."""
    min_std: float = 0.1
    """Minimum std of the Gaussian stochastic state."""
    units: int = 200
    """MLP head width (paper: 400)."""
    reward_layers: int = 2
    """Reward head depth."""
    value_layers: int = 3
    """Critic depth."""
    actor_layers: int = 4
    """Actor depth."""
    kl_balance: float = 0.8
    """KL balancing: weight of the prior side."""
    free_nats: float = 1.0
    """Free nats on the batch-mean KL."""
    kl_scale: float = 1.0
    """beta in Eq. 2 and Eq. 5."""
    action_pad: int = 0
    """Width actions are zero-padded to so every teacher accepts the target; 0 = the suite's widest."""


@dataclass
class TeacherConfig:
    steps: int = 5_000
    """Gradient steps per teacher (paper: 200K)."""
    batch: int = 16
    """Sequences per batch."""
    seq_len: int = 50
    """Steps per sequence."""
    lr: float = 3e-4
    """Adam learning rate."""
    eps: float = 1e-5
    """Adam epsilon."""
    clip: float = 100.0
    """Gradient-norm clip."""
    log_every: int = 50
    """Updates between logged metrics."""
    checkpoint_every: int = 500
    """Updates between checkpoints (resume point after a kill)."""
    heldout: int = 2
    """Episodes held out for the open-loop prediction report."""


@dataclass
class ReplayConfig:
    url: str = ""
    """Redis URL (`redis://:password@host:port/0`); empty = $VID2ACT_REDIS_URL if set, else an embedded
    redis-server on loopback. Saved configs mask the password."""
    capacity: int = 500_000
    """Replay capacity in env steps (FIFO eviction)."""
    batch: int = 16
    """Sequences per training batch."""
    seq_len: int = 32
    """Steps per training sequence (paper: 50; 32 keeps a `cpu` update ~20x cheaper than a `paper` one)."""
    samples_per_insert: float = 0.0
    """Sampled steps per inserted step the limiter enforces; 0 = derived from train.train_every."""
    prefetch: int = 4
    """Batches the learner-side sampler keeps ready."""


@dataclass
class TrainConfig:
    method: str = "vid2act"
    """`vid2act`, `dreamerv2`, `no_domain_weights` or `no_action_guidance`."""
    teachers: str = ""
    """Comma-separated teacher directories."""
    sources: str = ""
    """Comma-separated source dataset directories for the action VAE (default: those the teachers were trained on)."""
    teacher_actors: int = 1
    """Ray actors serving the frozen teachers, each a group of them (0 = in the learner's own process)."""
    init_from: str = ""
    """A pretrained world model (a teacher directory) to start the student from: the pretrained-DreamerV2 baseline."""
    steps: int = 100_000
    """Env steps (after action repeat) to train for."""
    minutes: float = 0.0
    """Wall-clock budget in minutes (0 = none): the run stops there, checkpointed; re-running resumes it."""
    prefill: int = 2_500
    """Random env steps before training starts."""
    train_every: int = 5
    """Env steps (after action repeat) per update, as DreamerV2 counts them."""
    first_updates: int = 100
    """Updates at the first training step."""
    num_actors: int = 2
    """Ray env actors."""
    envs_per_actor: int = 1
    """Environments stepped by each env actor."""
    learner_threads: int = 0
    """Torch CPU threads of a learner on CPU (0 = every core of its node: env actors wait on it anyway)."""
    sync_every: int = 10
    """Updates between policy-weight broadcasts."""
    horizon: int = 15
    """Imagination horizon H."""
    discount: float = 0.99
    """gamma."""
    lambda_: float = 0.95
    """lambda of the lambda-return."""
    entropy: float = 1e-4
    """Actor entropy bonus."""
    slow_target_every: int = 100
    """Updates between slow-critic copies."""
    model_lr: float = 3e-4
    """World-model Adam learning rate."""
    actor_lr: float = 8e-5
    """Actor Adam learning rate."""
    critic_lr: float = 8e-5
    """Critic Adam learning rate."""
    reward_scale: float = 2.0
    """Weight of the reward NLL."""
    alpha: float = 1.0
    """Weight of L_distill in Eq. 5."""
    weight_floor: float = 0.1
    """Floor on the domain weights in Eq. 4."""
    vae_latent: int = 8
    """Action VAE latent size."""
    vae_hidden: int = 750
    """Action VAE hidden size."""
    eval_episodes: int = 10
    """Episodes per `vid2act eval`."""
    checkpoint_every: int = 1_000
    """Updates between checkpoints."""

    @property
    def teacher_list(self) -> list[str]:
        return csv(self.teachers)

    @property
    def source_list(self) -> list[str]:
        return csv(self.sources)


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
    env: EnvConfig = field(default_factory=EnvConfig)
    collect: CollectConfig = field(default_factory=CollectConfig)
    behaviour: BehaviourConfig = field(default_factory=BehaviourConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "Config":
        """Raise ConfigError naming the key when a value cannot work; return self."""
        from actors.suites import check_task  # local: keeps config importable without MuJoCo

        def need(ok: bool, key: str, msg: str) -> None:
            if not ok:
                raise ConfigError(f"config {key}: {msg}")

        need(self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:"), "device",
             f"{self.device!r} is not auto, cpu or cuda[:N]")
        need(self.env.render_mode in ("fast", "faithful"), "env.render_mode",
             f"{self.env.render_mode!r} is not `fast` or `faithful`")
        need(self.env.size >= 16 and self.env.size % 16 == 0, "env.size", f"{self.env.size} must be a multiple of 16")
        check_task(self.env.task)
        need(self.collect.suite in ("dmc", "metaworld"), "collect.suite",
             f"{self.collect.suite!r} is not dmc or metaworld")
        for task in self.collect.task_list:
            check_task(f"{self.collect.suite}/{task}")
        from actors.behaviour import parse_policy_mix
        parse_policy_mix(self.collect.policy)
        need(self.collect.episodes > 0, "collect.episodes", "must be > 0")
        need(self.collect.num_actors > 0, "collect.num_actors", "must be > 0")
        need(self.model.discrete >= 0 and self.model.stoch > 0, "model.stoch", "sizes must be positive")
        need(0.0 <= self.model.kl_balance <= 1.0, "model.kl_balance", "must lie in [0, 1]")
        need(self.replay.seq_len >= 2 and self.replay.batch >= 1, "replay.seq_len", "need batch >= 1 and seq_len >= 2")
        need(self.replay.capacity >= self.replay.seq_len, "replay.capacity", "must hold at least one sequence")
        methods = ("vid2act", "dreamerv2", "no_domain_weights", "no_action_guidance")
        need(self.train.method in methods, "train.method",
             f"unknown method {self.train.method!r}; choose one of {', '.join(methods)}")
        need(self.train.train_every >= 1, "train.train_every", "must be >= 1")
        need(self.collect.medium_noise >= 0, "collect.medium_noise", "must be >= 0")
        need(self.train.teacher_actors >= 0, "train.teacher_actors", "must be >= 0 (0 = in the learner's process)")
        need(self.train.minutes >= 0, "train.minutes", "must be >= 0 (0 = no wall-clock budget)")
        need(0.0 <= self.train.weight_floor < 1.0, "train.weight_floor", "must lie in [0, 1)")
        return self


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
            return float(value)
        return str(value)
    except ValueError:
        raise ConfigError(f"config {key}: {value!r} is not a valid {kind.__name__}") from None


def _leaves(obj: object, prefix: str = "") -> dict[str, tuple[object, str, type]]:
    out = {}
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_leaves(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = (obj, f.name, hints[f.name])
    return out


def set_value(cfg: Config, key: str, value: object) -> None:
    """Set one dotted key (`model.deter`), coercing strings to the field's type."""
    leaves = _leaves(cfg)
    if key not in leaves:
        close = difflib.get_close_matches(key, leaves, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " Run `vid2act config --help-keys` for the list."
        raise ConfigError(f"unknown config key {key!r}.{hint}")
    owner, name, kind = leaves[key]
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
    from replay.client import mask_url

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
    """Load a saved config.yaml back into a Config (unknown keys are an error)."""
    data = yaml.safe_load(Path(path).read_text())
    cfg = Config()
    flat: dict[str, object] = {}

    def walk(d: dict, prefix: str = "") -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                walk(v, f"{prefix}{k}.")
            else:
                flat[f"{prefix}{k}"] = v

    walk(data)
    for key, value in flat.items():
        set_value(cfg, key, value)
    return cfg
