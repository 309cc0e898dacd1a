"""A user's own gymnasium environments, for the `gym/<module>:<factory>` targets (tests put this folder on the path).

`make_dot`: a dot on a 32x32 canvas, moved by a 2-d action in [-2, 2]; reward = minus its distance to the centre;
truncated after 50 steps. `make_discrete`: the same with discrete actions (no continuous agent can act on it).
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class Dot(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, discrete: bool = False):
        self.observation_space = spaces.Box(0, 255, (32, 32, 3), np.uint8)
        self.action_space = spaces.Discrete(4) if discrete else spaces.Box(-2.0, 2.0, (2,), np.float32)
        self.pos, self.t = np.zeros(2), 0

    def _frame(self) -> np.ndarray:
        frame = np.zeros((32, 32, 3), np.uint8)
        x, y = np.clip(((self.pos + 1) * 15.5).astype(int), 0, 31)
        frame[y, x] = 255
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos, self.t = self.np_random.uniform(-1, 1, 2), 0
        return self._frame(), {}

    def step(self, action):
        self.pos = np.clip(self.pos + 0.05 * np.asarray(action, np.float64), -1, 1)
        self.t += 1
        return self._frame(), -float(np.linalg.norm(self.pos)), False, self.t >= 50, {"pos": self.pos.copy()}


def make_dot() -> Dot:
    return Dot()


def make_discrete() -> Dot:
    return Dot(discrete=True)
