"""Goal-conditioned Meta-World episodes with exact goal images, and the sparse success reward (PVDR, Luo et al. 2024,
Appendix A.3).

    goal = goal_image("metaworld/reach", seed=3, size=64)        # Goal: image (64, 64, 3) uint8, steps, success, start
    env = make_env("metaworld/reach", size=64, goal=True, success_reward=60)
    obs, info = env.reset(seed=3)                                 # obs["goal"] is goal.image, at every step too

Nothing is downloaded: the goal of an episode is made from the episode itself. Its seed fixes its initial state (the
object and target positions), Meta-World's scripted expert is rolled out from that state until the task succeeds,
and the frame at success is the goal. The same (task, seed, size, camera, render mode) gives byte-identical goals.
`make_env(..., goal=True)` builds a `GoalEnv`, `make_env(..., success_reward=r)` without a goal a
`SparseRewardEnv`; both are `SuiteEnv`s, so everything that reads a SuiteEnv's attributes reads theirs.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from actors.behaviour import ScriptedPolicy
from actors.suites import SuiteEnv, check_action, check_task, make_env


@dataclass(frozen=True, eq=False)
class Goal:
    """The goal of one seeded Meta-World episode."""

    image: np.ndarray
    """The frame at the expert's first success (its last frame when it never succeeded): (size, size, 3) uint8,
    read-only."""
    steps: int
    """Env steps the expert took (to its success, else the time limit)."""
    success: bool
    """Whether the expert succeeded within the time limit; when False the image is no goal state."""
    start: np.ndarray
    """The initial state the rollout began from (the raw Meta-World observation): (39,) float32."""


def _metaworld_name(task: str) -> str:
    """`metaworld/reach` -> `reach`; ValueError for any other suite."""
    suite, name = check_task(task)
    if suite != "metaworld":
        raise ValueError(f"goal images come from Meta-World's scripted experts; {task} is not a Meta-World task")
    return name


def _expert_goal(env: SuiteEnv, expert: ScriptedPolicy, seed: int) -> Goal:
    """Roll `expert` out in `env`'s simulator from `reset(seed)` to the first success or `env.time_limit` env steps,
    and draw that frame. Frames are drawn only at the end; the env is left mid-rollout (reset it next)."""
    sim, steps, success = env.sim, 0, False
    start = sim.reset(seed).copy()
    while not success and steps < env.time_limit:
        action = check_action(expert({}, {"state": sim.state()[None]})[0], sim.action_dim)  # as SuiteEnv.step does
        _, _, success = sim.step(action)
        steps += 1
    image = sim.render().copy()
    image.flags.writeable = False  # shared by every observation of the episode and by the cache
    return Goal(image=image, steps=steps, success=success, start=start)


def goal_image(task: str, seed: int, *, size: int, camera: str = "", render_mode: str = "fast",
               time_limit: int = 0) -> Goal:
    """The goal of the episode of `task` (`metaworld/<name>`) that starts from `reset(seed=seed)`.

    Builds the env the agent sees (`make_env` with the same size, camera, render mode and time limit; 0 / "" = the
    suite's defaults: 500 env steps, camera `corner`), resets it with `seed` and steps Meta-World's scripted expert
    (no noise, one env step per action) until the env reports success: the goal is the (size, size, 3) uint8 frame
    of that state. If the expert does not succeed within `time_limit` env steps, `success` is False and the image
    is the last frame. Deterministic: the same arguments give a byte-identical image. ValueError (one line) for a
    task of another suite, or a Meta-World task without a scripted expert. Source: PVDR, Luo et al. 2024,
    Appendix A.3 (goal images of Meta-World tasks).
    """
    name = _metaworld_name(task)
    env = make_env(task, size=size, camera=camera, render_mode=render_mode, time_limit=time_limit, seed=seed)
    try:
        return _expert_goal(env, ScriptedPolicy(name, 0.0, seed), seed)
    finally:
        env.close()


class SparseRewardEnv(SuiteEnv):
    """A SuiteEnv whose reward (returned and `obs["reward"]`) is `success_reward` on the first agent step of an
    episode at which the task reports success and 0 on every other step; `success_reward` 0 keeps the suite's
    reward. PVDR uses r_suc = 60 on Meta-World (PVDR, Luo et al. 2024, Appendix A.3).

    ValueError for a negative (or NaN) `success_reward`, and for a positive one on DMC, whose tasks never report
    success (every reward would be 0).
    """

    def __init__(self, task: str, *, success_reward: float = 0.0, **kwargs):
        if not success_reward >= 0:
            raise ValueError(f"success_reward must be >= 0 (0 = the suite's reward), got {success_reward}")
        if success_reward and check_task(task)[0] == "dmc":
            raise ValueError(f"{task}: DMC tasks never report success, so success_reward > 0 would make every "
                             f"reward 0")
        super().__init__(task, **kwargs)
        self.success_reward = float(success_reward)
        self._succeeded = False  # the task has succeeded in this episode

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._succeeded = False
        return super().reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminal, truncated, info = super().step(action)
        if self.success_reward:
            reward = self.success_reward if info["success"] and not self._succeeded else 0.0
            self._succeeded |= info["success"]
            obs["reward"] = np.array(reward, np.float32)
        return obs, reward, terminal, truncated, info


class GoalEnv(SparseRewardEnv):
    """A goal-conditioned Meta-World episode: every observation also carries `goal`, the (size, size, 3) uint8
    (read-only) goal image of its episode, exactly `goal_image(task, seed, ...)` with this env's size, camera,
    render mode and time limit (the scripted expert rolled out to success from the episode's own seed; PVDR, Luo
    et al. 2024, Appendix A.3). The reward is SparseRewardEnv's.

    `reset(seed=s)` rolls the expert out in this env's own simulator before the episode begins (from s; `cache`
    goals are kept, least recently used first out, so fixed evaluation seeds roll out once), then resets to s and
    checks that the episode starts where the rollout did (RuntimeError otherwise: the goal would belong to another
    episode). `reset()` without a seed draws one from this env's own generator (seeded by the constructor's
    `seed`), so its goal is exact as well; `episode_seed` is the seed of the current episode.
    ValueError (one line) for a task that is not Meta-World's.
    """

    def __init__(self, task: str, *, seed: int | None, cache: int = 32, **kwargs):
        name = _metaworld_name(task)
        super().__init__(task, seed=seed, **kwargs)
        self.observation_space = spaces.Dict({**self.observation_space.spaces,
                                              "goal": spaces.Box(0, 255, (self.size, self.size, 3), np.uint8)})
        expert = ScriptedPolicy(name, 0.0, 0)  # deterministic without noise: the seed draws nothing
        self._goal = functools.lru_cache(maxsize=cache)(lambda s: _expert_goal(self, expert, s))
        self._seeds = np.random.default_rng(seed)
        self.episode_seed, self.goal = None, None  # the current episode's seed and Goal

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.episode_seed = int(self._seeds.integers(2**31)) if seed is None else int(seed)
        self.goal = self._goal(self.episode_seed)
        obs, info = super().reset(seed=self.episode_seed, options=options)
        if not np.array_equal(info["state"], self.goal.start):
            raise RuntimeError(f"{self.task}: the episode of seed {self.episode_seed} does not start where the "
                               f"expert's rollout from that seed did; its goal image would belong to another episode")
        return obs, info

    def _obs(self, *args) -> dict:
        return {**super()._obs(*args), "goal": self.goal.image}
