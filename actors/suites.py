"""DMC and Meta-World tasks behind one gymnasium interface.

    env = make_env("dmc/walker_walk", size=64)            # or "metaworld/door-lock"
    obs, info = env.reset(seed=0)                          # obs: image, is_first, is_last, is_terminal, reward, success
    obs, reward, terminated, truncated, info = env.step(action)   # action: (A,) float32 in [-1, 1]
    frame = env.render_frame()                             # (size, size, 3) uint8 of the current state

`info["state"]` carries the flat simulator state (the scripted Meta-World experts need it) and `info["success"]`
the task's success flag. `make_state_env(task)` is the same task with the state vector as the observation and no
rendering, for the state-based behaviour agents. Episodes end by truncation at the time limit (`is_last` True,
`is_terminal` False) unless the task itself terminates. The image is drawn once per agent step, after the last
action repeat.
"""
from __future__ import annotations

import difflib
import functools

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from actors.backends import DMCBackend, GymBackend, MetaWorldBackend, load_factory

SUITES = ("dmc", "metaworld", "gym")
"""`gym` is a user's own gymnasium environment: `gym/<module>:<factory>` (actors.backends.GymBackend)."""
# Suite defaults used where an argument is 0 or "": action repeat, time limit in env steps, camera.
DEFAULTS = {"dmc": (2, 1000, "0"), "metaworld": (1, 500, "corner"), "gym": (1, 1000, "")}
DMC_CAMERAS = {"quadruped": "2"}  # DreamerV2's choice; every other domain uses camera 0
# Action width per DMC domain, with the tasks that differ; checked against real envs in tests/test_suites.py.
_DMC_ACTION_DIMS = {
    "acrobot": 1, "ball_in_cup": 2, "cartpole": 1, "cheetah": 6, "dog": 38, "finger": 2, "fish": 5, "hopper": 4,
    "humanoid": 21, "humanoid_CMU": 56, "lqr": 1, "manipulator": 5, "pendulum": 1, "point_mass": 2,
    "quadruped": 12, "reacher": 2, "stacker": 5, "swimmer": 5, "walker": 6,
}
_DMC_TASK_ACTION_DIMS = {"lqr_lqr_6_2": 2, "swimmer_swimmer15": 14}
_ACTION_TOLERANCE = 1e-4  # |a| may exceed 1 by this much (float noise); it is clipped


class UnknownTaskError(ValueError):
    """A task or suite name that does not exist; the message lists close valid names."""


@functools.cache
def _dmc_tasks() -> dict[str, tuple[str, str]]:
    """`"ball_in_cup_catch"` -> `("ball_in_cup", "catch")` for every task in `dm_control.suite.ALL_TASKS`."""
    from dm_control import suite

    return {f"{domain}_{task}": (domain, task) for domain, task in suite.ALL_TASKS}


@functools.cache
def _metaworld_tasks() -> tuple[str, ...]:
    """Every Meta-World v3 task without the version: `door-lock`, `reach`, ..."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return tuple(name.removesuffix("-v3") for name in ALL_V3_ENVIRONMENTS)


def list_tasks(suite: str) -> list[str]:
    """Task names inside `suite` (without the `suite/` prefix), sorted."""
    if suite not in SUITES:
        raise UnknownTaskError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    if suite == "gym":
        return []  # a user's own environments are not enumerable: gym/<module>:<factory>
    return sorted(_dmc_tasks() if suite == "dmc" else _metaworld_tasks())


def check_task(name: str) -> tuple[str, str]:
    """`"dmc/walker_walk"` -> `("dmc", "walker_walk")`; UnknownTaskError listing close names otherwise."""
    suite, _, task = name.partition("/")
    if suite not in SUITES or not task:
        raise UnknownTaskError(f"task {name!r} is not `suite/name` with suite one of {', '.join(SUITES)} "
                               f"(e.g. dmc/walker_walk, metaworld/door-lock, gym/mypkg.envs:make_env)")
    if suite == "gym":
        try:
            load_factory(task)
        except ValueError as err:
            raise UnknownTaskError(str(err)) from None
        return suite, task
    tasks = list_tasks(suite)
    if task not in tasks:
        elsewhere = [f"{other}/{task}" for other in ("dmc", "metaworld")
                     if other != suite and task in list_tasks(other)]
        close = elsewhere or [f"{suite}/{t}" for t in difflib.get_close_matches(task, tasks, n=5, cutoff=0.5)]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownTaskError(f"unknown task {name!r}; {hint}(`vid2act tasks --suite {suite}` lists all {len(tasks)})")
    return suite, task


def action_dim(task: str) -> int:
    """Action width of `suite/name`, from a table (no env is built)."""
    suite, name = check_task(task)
    if suite == "gym":
        return _gym_action_dim(name)
    if suite == "metaworld":
        return 4
    return _DMC_TASK_ACTION_DIMS.get(name, _DMC_ACTION_DIMS[_dmc_tasks()[name][0]])


@functools.cache
def _gym_action_dim(target: str) -> int:
    """The action width of a user's environment: built once to read its action space."""
    env = load_factory(target)()
    try:
        return int(env.action_space.shape[0])
    finally:
        env.close()


def widest_action(suite: str, tasks: list[str] | None = None) -> int:
    """Widest action among `tasks` (names inside `suite`; default: all of the suite's tasks).

    Teachers pad actions to this width. Over all DMC tasks it is 56 (humanoid_CMU); pass the tasks a run uses
    (sources and target) to pad no wider than needed, e.g. 12 with a quadruped target.
    """
    return max(action_dim(f"{suite}/{task}") for task in (tasks or list_tasks(suite)))


def check_action(action, dim: int) -> np.ndarray:
    """The action as (dim,) float32 clipped to [-1, 1]; ValueError for a wrong shape, NaN or out of bounds."""
    given = np.asarray(action, dtype=np.float32)
    if given.shape != (dim,):
        raise ValueError(f"expected an action of shape ({dim},) in [-1, 1], got shape {given.shape}")
    if not np.all(np.isfinite(given)):
        raise ValueError(f"expected a finite action of shape ({dim},) in [-1, 1], got {given}")
    if np.max(np.abs(given)) > 1 + _ACTION_TOLERANCE:
        raise ValueError(f"expected an action in [-1, 1] of shape ({dim},), got {given} "
                         f"(max |a| = {np.max(np.abs(given)):.4g})")
    return np.clip(given, -1.0, 1.0)


def _backend(task: str, size: int, camera: str, render_mode: str, seed: int | None, time_limit: int):
    suite, name = check_task(task)
    seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    if suite == "gym":
        return GymBackend(name, size=size, seed=seed)
    if suite == "dmc":
        domain, dmc_task = _dmc_tasks()[name]
        camera = camera or DMC_CAMERAS.get(domain, DEFAULTS["dmc"][2])
        return DMCBackend(domain, dmc_task, size=size, camera=camera, render_mode=render_mode, seed=seed)
    camera = camera or DEFAULTS["metaworld"][2]
    return MetaWorldBackend(f"{name}-v3", size=size, camera=camera, render_mode=render_mode, seed=seed,
                            time_limit=time_limit)


class _TaskEnv(gym.Env):
    """Action checks, action repeat and the time limit around a backend; subclasses choose the observation."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: str, *, size: int, action_repeat: int, time_limit: int, camera: str,
                 render_mode: str, seed: int | None):
        suite, _ = check_task(task)
        default_repeat, default_limit, _ = DEFAULTS[suite]
        self.task, self.size = task, size
        self.action_repeat = action_repeat or default_repeat
        self.time_limit = time_limit or default_limit
        self.sim = _backend(task, size, camera, render_mode, seed, self.time_limit)
        self.action_space = spaces.Box(-1.0, 1.0, (self.sim.action_dim,), np.float32)
        self._env_steps = None  # env steps into the episode; None before the first reset

    def _reset_sim(self, seed: int | None) -> np.ndarray:
        self._env_steps = 0
        return self.sim.reset(seed)

    def _step_sim(self, action) -> tuple[float, bool, bool, bool]:
        """One agent step -> (reward summed over the repeat, terminal, truncated, success at any env step)."""
        action = check_action(action, self.sim.action_dim)
        if self._env_steps is None or self._env_steps >= self.time_limit:
            raise RuntimeError(f"{self.task}: the episode is over (or never began); call reset() first")
        reward, terminal, success = 0.0, False, False
        for _ in range(self.action_repeat):
            step_reward, terminal, step_success = self.sim.step(action)
            self._env_steps += 1
            reward += step_reward
            success |= step_success
            ended = getattr(self.sim, "truncated", False)  # a user's env may end episodes by its own time limit
            if terminal or ended or self._env_steps >= self.time_limit:
                break
        if terminal or ended:
            self._env_steps = self.time_limit  # nothing follows a terminal (or the env's own truncated) state
        return reward, terminal, not terminal and self._env_steps >= self.time_limit, success

    def close(self) -> None:
        """Release the simulator and its renderer; closing again does nothing (gymnasium's contract)."""
        if self.sim is not None:
            self.sim.close()
            self.sim = None


_FLAG = spaces.Box(0, 1, (), np.bool_)


class SuiteEnv(_TaskEnv):
    """Image observations plus episode flags, reward and success: what the agent and the datasets see."""

    render_mode = "rgb_array"

    def __init__(self, task: str, **kwargs):
        super().__init__(task, **kwargs)
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (self.size, self.size, 3), np.uint8),
            "is_first": _FLAG, "is_last": _FLAG, "is_terminal": _FLAG,
            "reward": spaces.Box(-np.inf, np.inf, (), np.float32),
            "success": _FLAG,
        })
        self._frame = None

    def render_frame(self) -> np.ndarray:
        """Draw the current state: (size, size, 3) uint8."""
        self._frame = self.sim.render()
        return self._frame

    def render(self) -> np.ndarray:
        """The last observed frame (gymnasium's `rgb_array` render)."""
        return self._frame

    def _obs(self, reward: float, first: bool, last: bool, terminal: bool, success: bool) -> dict:
        flag = functools.partial(np.array, dtype=np.bool_)  # 0-d arrays, as the spaces hold
        return {"image": self.render_frame(), "is_first": flag(first), "is_last": flag(last),
                "is_terminal": flag(terminal), "reward": np.array(reward, np.float32), "success": flag(success)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        state = self._reset_sim(seed)
        return self._obs(0.0, True, False, False, False), {"state": state, "success": False}

    def step(self, action):
        reward, terminal, truncated, success = self._step_sim(action)
        obs = self._obs(reward, False, terminal or truncated, terminal, success)
        return obs, reward, terminal, truncated, {"state": self.sim.state(), "success": success}


class StateEnv(_TaskEnv):
    """The flat simulator state as the observation and no rendering: for state-based behaviour agents."""

    def __init__(self, task: str, **kwargs):
        super().__init__(task, render_mode="none", size=16, camera="", **kwargs)
        dim = self.sim.reset(0).shape[0]
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._reset_sim(seed), {"success": False}

    def step(self, action):
        reward, terminal, truncated, success = self._step_sim(action)
        return self.sim.state(), reward, terminal, truncated, {"success": success}


def make_env(task: str, *, size: int = 64, action_repeat: int = 0, time_limit: int = 0, camera: str = "",
             render_mode: str = "fast", seed: int | None = None, goal: bool = False,
             success_reward: float = 0.0) -> SuiteEnv:
    """An image env for `suite/name`; 0 or "" picks the suite default (see DEFAULTS, DMC_CAMERAS). `goal`: each
    observation carries its episode's goal image (Meta-World only); `success_reward` > 0: a sparse reward in place
    of the suite's (actors.goals: GoalEnv, SparseRewardEnv)."""
    if render_mode not in ("fast", "faithful"):
        raise ValueError(f"render_mode {render_mode!r} is not `fast` or `faithful`")
    kwargs = dict(size=size, action_repeat=action_repeat, time_limit=time_limit, camera=str(camera),
                  render_mode=render_mode, seed=seed)
    if goal or success_reward:
        from actors.goals import GoalEnv, SparseRewardEnv  # they build on SuiteEnv (this module)

        return (GoalEnv if goal else SparseRewardEnv)(task, success_reward=success_reward, **kwargs)
    return SuiteEnv(task, **kwargs)


def make_state_env(task: str, *, action_repeat: int = 0, time_limit: int = 0, seed: int | None = None) -> StateEnv:
    """A state-vector env for `suite/name` with the same action repeat and time limit as `make_env`."""
    return StateEnv(task, action_repeat=action_repeat, time_limit=time_limit, seed=seed)
