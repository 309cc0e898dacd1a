"""Stepping environments with a policy and turning the steps into episodes.

`EpisodeRecorder` turns one env's step stream into an episode in the replay convention (step t holds o_t, the
action a_{t-1} that led to it — zeros at the first step — and the reward received with it). `rollout` plays one
whole episode (source-data collection); `EnvLoop` steps K environments in lockstep with one batched policy call per
step and hands each finished episode to a callback (online acting).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

Episode = dict[str, np.ndarray]
Policy = Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], np.ndarray]

OBS_KEYS = ("image", "reward", "is_first", "is_last", "is_terminal", "success")


class EpisodeRecorder:
    """Accumulates (obs, action) pairs of one environment into an episode."""

    def __init__(self, action_dim: int):
        self.action_dim = action_dim
        self.steps: list[dict[str, np.ndarray]] = []

    def add(self, obs: dict, action: np.ndarray | None) -> None:
        """Record o_t with the action that led to it (None at the first step)."""
        if action is None:
            action = np.zeros(self.action_dim, np.float32)
        self.steps.append({**{k: np.asarray(obs[k]) for k in OBS_KEYS}, "action": np.asarray(action, np.float32)})

    def finish(self) -> Episode:
        """Stack the recorded steps into (L, ...) arrays and start afresh."""
        ep = {key: np.stack([step[key] for step in self.steps]) for key in self.steps[0]}
        ep["reward"] = ep["reward"].astype(np.float32)
        for key in ("is_first", "is_last", "is_terminal", "success"):
            ep[key] = ep[key].astype(bool)
        self.steps = []
        return ep


def episode_meta(env, episode: Episode, policy: str, seed: int, render_mode: str, **extra) -> dict:
    """The replay metadata of an episode played in `env` (a `SuiteEnv`): what, how, and how well."""
    suite, _, task = env.task.partition("/")
    return {"suite": suite, "task": task, "policy": policy, "seed": int(seed),
            "return": float(episode["reward"].sum(dtype=np.float64)), "length": int(len(episode["reward"])),
            "render_mode": render_mode, "size": int(env.size), "action_repeat": int(env.action_repeat),
            "action_dim": int(env.action_space.shape[0]), "success": bool(episode["success"].any()), **extra}


def _stack(items: list[dict]) -> dict[str, np.ndarray]:
    return {key: np.stack([np.asarray(item[key]) for item in items]) for key in items[0]}


def rollout(env, policy: Policy, seed: int) -> Episode:
    """Play one episode from `env.reset(seed=seed)` to its end."""
    recorder = EpisodeRecorder(env.action_space.shape[0])
    obs, info = env.reset(seed=seed)
    recorder.add(obs, None)
    done = False
    while not done:
        action = policy(_stack([obs]), _stack([info]))[0]
        obs, _, terminated, truncated, info = env.step(action)
        recorder.add(obs, action)
        done = terminated or truncated
    return recorder.finish()


class EnvFaultError(RuntimeError):
    """An environment that faults on every reset: the run cannot go on with it."""


class EnvLoop:
    """K environments stepped in lockstep by one batched policy; finished episodes go to `on_episode`.

    The loop never hands out a partial episode: an episode reaches `on_episode` only once its last step is in.
    Any exception of an env's step or reset (a diverged simulation's PhysicsError, a renderer error) discards that
    env's unfinished episode, resets it and counts a fault; an env that faults `max_faults` times in a row (steps
    or resets, with no successful step between) raises EnvFaultError naming its task and the error.
    """

    def __init__(self, envs: list, policy: Policy, on_episode: Callable[[Episode], None], seed: int = 0,
                 max_faults: int = 3):
        self.envs, self.policy, self.on_episode = envs, policy, on_episode
        self.max_faults, self.faults = max_faults, 0
        self.in_row = [0] * len(envs)  # faults of each env since its last successful step
        self.recorders = [EpisodeRecorder(env.action_space.shape[0]) for env in envs]
        self.seeds = np.random.SeedSequence(seed)
        self.obs: list[dict] = [{} for _ in envs]
        self.infos: list[dict] = [{} for _ in envs]
        for i in range(len(envs)):
            self._reset(i)

    def _next_seed(self) -> int:
        return int(self.seeds.spawn(1)[0].generate_state(1)[0])

    def _fault(self, i: int, what: str, error: Exception) -> None:
        """Count a fault of env `i`; EnvFaultError once it has faulted `max_faults` times in a row."""
        self.faults += 1
        self.in_row[i] += 1
        log.warning("env %d (%s): %s failed (%s: %s)", i, self._task(i), what, type(error).__name__,
                    str(error).splitlines()[0][:200] if str(error) else "")
        if self.in_row[i] >= self.max_faults:
            raise EnvFaultError(f"{self._task(i)}: the environment failed {self.in_row[i]} times in a row (steps or "
                                f"resets, no successful step between); last error {type(error).__name__}: {error}") \
                from error

    def _reset(self, i: int) -> None:
        """Start a new episode in env `i`, retrying failed resets (each a fault)."""
        while True:
            try:
                obs, info = self.envs[i].reset(seed=self._next_seed())
                break
            except Exception as error:  # noqa: BLE001 -- any env failure: count it, try again
                self._fault(i, "reset", error)
        self.recorders[i].steps = []
        self.recorders[i].add(obs, None)
        self.obs[i], self.infos[i] = obs, info

    def _task(self, i: int) -> str:
        return getattr(self.envs[i].unwrapped, "task", type(self.envs[i]).__name__)

    def step(self) -> list[Episode]:
        """Advance every env by one agent step; return the episodes that finished."""
        actions = self.policy(_stack(self.obs), _stack(self.infos))  # (K, A)
        finished = []
        for i, (env, rec) in enumerate(zip(self.envs, self.recorders)):
            try:
                obs, _, terminated, truncated, info = env.step(actions[i])
            except Exception as error:  # noqa: BLE001 -- a faulty env loses its unfinished episode, not the run
                self._fault(i, f"step (its unfinished {len(rec.steps)}-step episode is discarded)", error)
                self._reset(i)
                continue
            self.in_row[i] = 0
            rec.add(obs, actions[i])
            self.obs[i], self.infos[i] = obs, info
            if terminated or truncated:
                episode = rec.finish()
                finished.append(episode)
                self.on_episode(episode)
                self._reset(i)
        return finished
