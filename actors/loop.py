"""Stepping environments with a policy and turning the steps into episodes.

`EpisodeRecorder` turns one env's step stream into an episode in the replay convention (step t holds o_t, the
action a_{t-1} that led to it — zeros at the first step — and the reward received with it). `rollout` plays one
whole episode (source-data collection); `EnvLoop` steps K environments in lockstep with one batched policy call per
step and hands each finished episode to a callback (online acting).

Optional per-step fields (PVDR's; replay/schema.py `OPTIONAL`): an observation with a `goal` (a goal-conditioned env,
actors/goals.py) puts `goal` (L, H, W, 3) uint8 into the episode. A policy object with an attribute `extras`, a dict
{name: (K, ...) array} set by its last call (e.g. `plan_z` (K, D), `log_prob` (K,), `version` (K,), float32), has
extras[name][i] recorded for env i at the step of the action it produced, so step t holds a_{t-1} and its extras;
step 0 (no action yet) gets zeros of their shapes and dtypes (`version` too: 0 there, not -1). The recorder keeps
their dtypes as given. A policy without `extras` records exactly the fields above.
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
    """Accumulates (obs, action, extras) of one environment into an episode: OBS_KEYS, `goal` when the observations
    carry it, `action`, and one field per policy extra."""

    def __init__(self, action_dim: int):
        self.action_dim = action_dim
        self.steps: list[dict[str, np.ndarray]] = []

    def add(self, obs: dict, action: np.ndarray | None, extras: dict[str, np.ndarray] | None = None) -> None:
        """Record o_t with the action that led to it (None at the first step) and that action's policy extras
        ({name: this env's array}; None without). The extras are copied: a policy may reuse its buffers."""
        if action is None:
            action = np.zeros(self.action_dim, np.float32)
        step = {k: np.asarray(obs[k]) for k in OBS_KEYS}
        if "goal" in obs:
            step["goal"] = np.asarray(obs["goal"])
        step["action"] = np.asarray(action, np.float32)
        step.update({name: np.array(value) for name, value in (extras or {}).items()})
        self.steps.append(step)

    def finish(self) -> Episode:
        """Stack the recorded steps into (L, ...) arrays and start afresh. Step 0 gets zeros for each field the
        later steps carry and it lacks (the extras: no action led to it). ValueError when the later steps do not all
        carry the same fields (a policy whose `extras` changed names mid-episode)."""
        first, rest = self.steps[0], self.steps[1:]
        keys = rest[0].keys() if rest else first.keys()
        for t, step in enumerate(rest, start=1):
            if step.keys() != keys:
                raise ValueError(f"step {t} records {sorted(step)}, step 1 recorded {sorted(keys)}: a policy's "
                                 f"`extras` must name the same fields at every call of an episode")
        for key in keys - first.keys():
            first[key] = np.zeros_like(rest[0][key])
        ep = {key: np.stack([step[key] for step in self.steps]) for key in keys}
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


def _extras(policy, i: int) -> dict[str, np.ndarray]:
    """Env i's part of the policy's last-call extras ({name: (K, ...) array}); {} for a policy without `extras`."""
    return {name: value[i] for name, value in (getattr(policy, "extras", None) or {}).items()}


def rollout(env, policy: Policy, seed: int) -> Episode:
    """Play one episode from `env.reset(seed=seed)` to its end; the policy's `extras` (module docstring), if it has
    them, are recorded with its actions."""
    recorder = EpisodeRecorder(env.action_space.shape[0])
    obs, info = env.reset(seed=seed)
    recorder.add(obs, None)
    done = False
    while not done:
        action, extras = policy(_stack([obs]), _stack([info]))[0], _extras(policy, 0)
        obs, _, terminated, truncated, info = env.step(action)
        recorder.add(obs, action, extras)
        done = terminated or truncated
    return recorder.finish()


class EnvFaultError(RuntimeError):
    """An environment that faults on every reset: the run cannot go on with it."""


class EnvLoop:
    """K environments stepped in lockstep by one batched policy; finished episodes go to `on_episode`.

    The loop never hands out a partial episode: an episode reaches `on_episode` only once its last step is in.
    Any exception of an env's step or reset (a diverged simulation's PhysicsError, a renderer error) discards that
    env's unfinished episode, resets it and counts a fault; an env that faults `max_faults` times in a row (steps
    or resets, with no successful step between) raises EnvFaultError naming its task and the error. The policy's
    `extras` (module docstring), if it has them, are recorded with its actions.
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
        extras = [_extras(self.policy, i) for i in range(len(self.envs))]  # read before any env step
        finished = []
        for i, (env, rec) in enumerate(zip(self.envs, self.recorders)):
            try:
                obs, _, terminated, truncated, info = env.step(actions[i])
            except Exception as error:  # noqa: BLE001 -- a faulty env loses its unfinished episode, not the run
                self._fault(i, f"step (its unfinished {len(rec.steps)}-step episode is discarded)", error)
                self._reset(i)
                continue
            self.in_row[i] = 0
            rec.add(obs, actions[i], extras[i])
            self.obs[i], self.infos[i] = obs, info
            if terminated or truncated:
                episode = rec.finish()
                finished.append(episode)
                self.on_episode(episode)
                self._reset(i)
        return finished
