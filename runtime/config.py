"""The typed config of a training run's driver (`train.*`), a doc line per field, and the shape of the whole tree
the runtime reads (`RunSettings`: what `deploy/`'s config tree composes)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from actors import EnvConfig
from learner import ActionVAEConfig, ActorCriticConfig, DistillConfig, LearnerConfig, WorldModelConfig
from replay import ReplayConfig


def split_csv(text: str) -> list[str]:
    """`"a, b,,c"` -> `["a", "b", "c"]`."""
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass
class TrainConfig:
    method: str = "vid2act"
    """`vid2act`, `dreamerv2`, `no_domain_weights`, `no_action_guidance`, `apv`, `apv_no_bonus`, `apv_no_pretrain`,
    `pvdr`, `pvdr_no_prior_opt`, `pvdr_no_act_sl`, `pvdr_no_act_rl` or `pvdr_random_z` (learner.METHODS)."""
    teachers: str = ""
    """Comma-separated teacher directories."""
    sources: str = ""
    """Comma-separated source dataset directories for the action VAE (default: those the teachers were trained on)."""
    teacher_actors: int = 1
    """Ray actors serving the frozen teachers, each a group of them (0 = in the learner's own process)."""
    init_from: str = ""
    """A pretrained model to start the student from (`--pretrained`, `--init-from`): a teacher directory for the
    pretrained-DreamerV2 baseline, an action-free video model (`vid2act pretrain --action-free`) for APV, PVDR's
    video models (`vid2act pretrain --pvdr`) for PVDR."""
    steps: int = 100_000
    """Env steps (after action repeat) to train for."""
    minutes: float = 0.0
    """Wall-clock budget in minutes (0 = none): the run stops there, checkpointed; re-running resumes it."""
    prefill: int = 2_500
    """Random env steps before training starts."""
    train_every: int = 5
    """Env frames per update (action repeat included): at DMC's repeat 2 an update every 2.5 agent steps. DreamerV2
    counts agent steps (an update every 5 of them), i.e. half this rate; set 10 here for DreamerV2's rate."""
    first_updates: int = 100
    """Updates at the first training step."""
    num_actors: int = 2
    """Env workers (Ray actors; in-process with `--local`)."""
    envs_per_actor: int = 1
    """Environments stepped by each env worker."""
    env_chunk: int = 50
    """Agent steps per env-worker call: short enough to pick up new weights and to scale promptly."""
    learner_restarts: int = 3
    """Times the learner's process may die and be restarted from its last checkpoint before the run stops."""
    learner_threads: int = 0
    """Torch CPU threads of a learner on CPU (0 = every core of its node: env actors wait on it anyway)."""
    sync_every: int = 10
    """Updates between policy-weight broadcasts (also the most updates per learner call)."""
    eval_every: int = 10_000
    """Env steps between periodic evaluations during training (`eval/return`, `eval/success`): train.eval_episodes
    episodes with the mode policy, in a worker beside training; 0 = none."""
    eval_episodes: int = 10
    """Episodes per evaluation (periodic, and `vid2act eval`)."""
    checkpoint_every: int = 1_000
    """Updates between checkpoints."""

    @property
    def teacher_list(self) -> list[str]:
        return split_csv(self.teachers)

    @property
    def source_list(self) -> list[str]:
        return split_csv(self.sources)


class RunSettings(Protocol):
    """The config tree a run is built from (deploy's `Config` is one)."""

    seed: int
    device: str
    logdir: str
    env: EnvConfig
    replay: ReplayConfig
    train: TrainConfig
    model: WorldModelConfig
    ac: ActorCriticConfig
    distill: DistillConfig
    vae: ActionVAEConfig

    @property
    def learner(self) -> LearnerConfig: ...
