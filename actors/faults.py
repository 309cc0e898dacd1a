"""Fault injection for tests and `bench/faults.py` (in the spirit of RLlib's `FaultInjectEnv`): real faults, on
schedule, in real environments.

    env = FaultInjectEnv(make_env("dmc/walker_walk"), diverge_at=[30])   # the 30th step's simulation blows up
    env = FaultInjectEnv(env, raise_at=[5], reset_faults=2)              # step 5 raises; the next 2 resets raise

A divergence is the simulator's own: the joint velocities are set to 1e11 before the step, and dm_control raises
its `PhysicsError` (mjWARN_BADQVEL) from inside `physics.step`, as a diverged simulation does in a long run.

Across processes (Ray env actors), `VID2ACT_INJECT` carries a schedule that `EnvWorker` applies to the env it names:
`VID2ACT_INJECT="worker=0,env=0,diverge_at=120"` (keys: worker, env, diverge_at, raise_at, reset_faults; lists of
steps separated by `+`). Unset in every normal run: nothing is wrapped.
"""
from __future__ import annotations

import os

import gymnasium as gym

ENV_VAR = "VID2ACT_INJECT"


class InjectedFault(RuntimeError):
    """The exception an injected `raise_at` step or reset raises."""


class FaultInjectEnv(gym.Wrapper):
    """Fails on schedule: `diverge_at` / `raise_at` count this env's steps from 1; after any fault the next
    `reset_faults` resets raise as well (an env that cannot come back)."""

    def __init__(self, env: gym.Env, diverge_at=(), raise_at=(), reset_faults: int = 0):
        super().__init__(env)
        self.diverge_at, self.raise_at = set(diverge_at), set(raise_at)
        self.reset_faults, self.steps, self.failing_resets = reset_faults, 0, 0

    def step(self, action):
        self.steps += 1
        if self.steps in self.raise_at:
            self.failing_resets = self.reset_faults
            raise InjectedFault(f"injected fault at step {self.steps}")
        if self.steps in self.diverge_at:
            self.failing_resets = self.reset_faults
            self.env.unwrapped.sim._env.physics.data.qvel[:] = 1e11  # DMC: dm_control raises PhysicsError
        return self.env.step(action)

    def reset(self, **kwargs):
        if self.failing_resets > 0:
            self.failing_resets -= 1
            raise InjectedFault("injected fault at reset")
        return self.env.reset(**kwargs)


def schedule(worker: int, env: int) -> dict | None:
    """The `FaultInjectEnv` arguments `VID2ACT_INJECT` asks for env `env` of env worker `worker`, or None."""
    text = os.environ.get(ENV_VAR, "")
    if not text:
        return None
    spec = dict(item.split("=", 1) for item in text.split(",") if "=" in item)
    if int(spec.get("worker", worker)) != worker or int(spec.get("env", 0)) != env:
        return None
    steps = {k: [int(s) for s in spec[k].split("+")] for k in ("diverge_at", "raise_at") if k in spec}
    return {**steps, "reset_faults": int(spec.get("reset_faults", 0))}
