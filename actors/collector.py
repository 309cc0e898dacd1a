"""Plays source-data episodes (the paper's D_1..D_N): one env per task, a behaviour policy per episode.

Plain Python; `deploy/collect.py` runs several of these as Ray actors. An episode is fully determined by
(task, policy, seed), so a retried or resumed episode is the same episode.
"""
from __future__ import annotations

import zlib

import numpy as np

from actors.behaviour import MW_MEDIUM_NOISE, make_policy
from actors.loop import Episode, episode_meta, rollout
from actors.suites import make_env


class Collector:
    """Collects whole episodes of the suite's tasks with named behaviour policies."""

    def __init__(self, suite: str, env_kwargs: dict, agents_dir: str, medium_noise: float = MW_MEDIUM_NOISE):
        self.suite, self.env_kwargs, self.agents_dir = suite, dict(env_kwargs), agents_dir
        self.medium_noise = medium_noise
        self.envs: dict[str, object] = {}

    def env(self, task: str):
        if task not in self.envs:
            self.envs[task] = make_env(f"{self.suite}/{task}", **self.env_kwargs)
        return self.envs[task]

    def play(self, task: str, policy_name: str, seed: int) -> tuple[Episode, dict]:
        """One episode of `task` under `policy_name`, with its metadata."""
        env = self.env(task)
        action_dim = env.action_space.shape[0]
        policy = make_policy(policy_name, f"{self.suite}/{task}", action_dim, seed, self.agents_dir,
                             self.medium_noise)
        episode = rollout(env, policy, seed)
        return episode, episode_meta(env, episode, policy_name, seed, self.env_kwargs.get("render_mode", "fast"))

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs = {}


def episode_seed(base_seed: int, task: str, index: int) -> int:
    """The seed of episode `index` of `task`: stable across runs, resumes and actor counts."""
    return int(np.random.SeedSequence([base_seed, zlib.crc32(task.encode()), index]).generate_state(1)[0])
