"""Stepping environments with a policy and turning the steps into episodes.

`EpisodeRecorder` turns one env's step stream into an episode in the replay convention (step t holds o_t, the
action a_{t-1} that led to it — zeros at the first step — and the reward received with it). `rollout` plays one
whole episode (source-data collection); `EnvLoop` steps K environments in lockstep with one batched policy call per
step and hands each finished episode to a callback (online acting).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

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


class EnvLoop:
    """K environments stepped in lockstep by one batched policy; finished episodes go to `on_episode`.

    The loop never hands out a partial episode: an episode reaches `on_episode` only once its last step is in.
    """

    def __init__(self, envs: list, policy: Policy, on_episode: Callable[[Episode], None], seed: int = 0):
        self.envs, self.policy, self.on_episode = envs, policy, on_episode
        self.recorders = [EpisodeRecorder(env.action_space.shape[0]) for env in envs]
        self.seeds = np.random.SeedSequence(seed)
        self.obs: list[dict] = []
        self.infos: list[dict] = []
        for env, rec in zip(envs, self.recorders):
            obs, info = env.reset(seed=self._next_seed())
            rec.add(obs, None)
            self.obs.append(obs)
            self.infos.append(info)

    def _next_seed(self) -> int:
        return int(self.seeds.spawn(1)[0].generate_state(1)[0])

    def step(self) -> list[Episode]:
        """Advance every env by one agent step; return the episodes that finished."""
        actions = self.policy(_stack(self.obs), _stack(self.infos))  # (K, A)
        finished = []
        for i, (env, rec) in enumerate(zip(self.envs, self.recorders)):
            obs, _, terminated, truncated, info = env.step(actions[i])
            rec.add(obs, actions[i])
            if terminated or truncated:
                episode = rec.finish()
                finished.append(episode)
                self.on_episode(episode)
                obs, info = env.reset(seed=self._next_seed())
                rec.add(obs, None)
            self.obs[i], self.infos[i] = obs, info
        return finished
