"""The typed configs of the actors' parts, a doc line per field; `deploy/` composes them as `env.*`, `collect.*`
and `behaviour.*`."""
from __future__ import annotations

from dataclasses import dataclass

from actors.suites import DEFAULTS, check_task


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
    goal: bool = False
    """Goal-conditioned episodes: each observation carries the goal image of its episode (Meta-World's scripted
    expert from the same seed, rolled out to success; PVDR)."""
    success_reward: float = 0.0
    """> 0: a sparse reward, this value when the task first succeeds in an episode, in place of the suite's dense
    reward (PVDR: 60 on Meta-World); 0 = the suite's reward."""

    def kwargs(self) -> dict:
        """`make_env` keyword arguments (everything but the task and the seed)."""
        return {"size": self.size, "action_repeat": self.action_repeat, "time_limit": self.time_limit,
                "camera": self.camera, "render_mode": self.render_mode, "goal": self.goal,
                "success_reward": self.success_reward}

    @property
    def repeat(self) -> int:
        """The action repeat in effect (the suite's default when 0)."""
        return self.action_repeat or DEFAULTS[check_task(self.task)[0]][0]

    @property
    def agent_steps(self) -> int:
        """Agent steps per episode (time limit over action repeat); an episode holds one frame more."""
        return (self.time_limit or DEFAULTS[check_task(self.task)[0]][1]) // self.repeat


@dataclass
class CollectConfig:
    suite: str = "dmc"
    """Suite of the source tasks: `dmc` or `metaworld`."""
    tasks: str = "cheetah_run,hopper_stand,walker_walk,walker_run"
    """Comma-separated source tasks of `suite`, each `task` or `suite/task` (the scheme of `env.task`)."""
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
        """The task names inside `suite` (a `suite/` prefix of the same suite dropped; another suite's is kept, so
        validation names it)."""
        parts = [part.strip() for part in self.tasks.split(",") if part.strip()]
        return [part.removeprefix(f"{self.suite}/") for part in parts]


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
