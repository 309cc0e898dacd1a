"""Behaviour policies that make the source datasets D_1..D_N (METHOD step 1).

    mix = parse_policy_mix("medium:0.5,expert:0.5")        # [("medium", 0.5), ("expert", 0.5)]
    names = assign_policies(mix, episodes=50)              # a fixed policy per episode index
    policy = make_policy("medium", "metaworld/door-lock", action_dim=4, seed=3, agents_dir="data/agents")
    actions_KA = policy(obs, info)                         # values stacked over K envs; info["state"] (K, S)

- `random`: uniform in [-1, 1].
- Meta-World `scripted`: the task's expert from `metaworld.policies`; `medium`: the same plus Gaussian action noise
  (std `collect.medium_noise`, default MW_MEDIUM_NOISE): the motion gets messier and slower; how often it still
  succeeds depends on the task (see the config key's doc line).
- DMC `medium` / `expert`: state-based agents trained with stable-baselines3 (`actors/agents.py`), acting
  deterministically from the checkpoint saved when training passed that return threshold.
"""
from __future__ import annotations

import numpy as np

from actors.suites import check_task

POLICIES = ("random", "scripted", "medium", "expert")
MW_MEDIUM_NOISE = 0.5
"""Std of the Gaussian noise on the scripted Meta-World expert's actions for `medium` episodes."""


def parse_policy_mix(text: str) -> list[tuple[str, float]]:
    """`"medium:0.5,expert:0.5"` -> normalised [(name, fraction)]; a bare name means 1.0."""
    mix = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, frac = part.partition(":")
        if name not in POLICIES:
            raise ValueError(f"unknown behaviour policy {name!r} in {text!r}; choose from {', '.join(POLICIES)}")
        try:
            weight = float(frac) if frac else 1.0
        except ValueError:
            raise ValueError(f"policy fraction {frac!r} in {text!r} is not a number") from None
        if weight <= 0:
            raise ValueError(f"policy fraction for {name!r} must be > 0, got {weight}")
        mix.append((name, weight))
    if not mix:
        raise ValueError("empty behaviour policy mix; e.g. `random` or `medium:0.5,expert:0.5`")
    total = sum(w for _, w in mix)
    return [(name, w / total) for name, w in mix]


def assign_policies(mix: list[tuple[str, float]], episodes: int) -> list[str]:
    """A policy per episode index: counts by largest remainder, interleaved so any prefix keeps the mix."""
    exact = [w * episodes for _, w in mix]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(mix)), key=lambda i: exact[i] - counts[i], reverse=True)[: episodes - sum(counts)]:
        counts[i] += 1
    slots = sorted((((k + 0.5) / c, i) for i, c in enumerate(counts) for k in range(c)))
    return [mix[i][0] for _, i in slots]


class RandomPolicy:
    """Uniform actions in [-1, 1]."""

    def __init__(self, action_dim: int, seed: int):
        self.action_dim, self.rng = action_dim, np.random.default_rng(seed)

    def __call__(self, obs: dict, info: dict) -> np.ndarray:
        return self.rng.uniform(-1, 1, (len(obs["image"]), self.action_dim)).astype(np.float32)


class ScriptedPolicy:
    """Meta-World's scripted expert for one task, optionally with Gaussian action noise (`medium`)."""

    def __init__(self, task: str, noise: float, seed: int):
        from metaworld.policies import ENV_POLICY_MAP

        key = f"{task}-v3"
        if key not in ENV_POLICY_MAP:
            raise ValueError(f"Meta-World has no scripted policy for {task!r}")
        self.expert, self.noise, self.rng = ENV_POLICY_MAP[key](), noise, np.random.default_rng(seed)

    def __call__(self, obs: dict, info: dict) -> np.ndarray:
        actions = np.stack([self.expert.get_action(state) for state in info["state"]]).astype(np.float32)
        if self.noise:
            actions = actions + self.rng.normal(0, self.noise, actions.shape).astype(np.float32)
        return np.clip(actions, -1, 1)


def make_policy(name: str, task: str, action_dim: int, seed: int, agents_dir: str,
                medium_noise: float = MW_MEDIUM_NOISE):
    """The behaviour policy `name` for `suite/task`; a clear error when it does not exist for that suite.
    `medium_noise`: the action-noise std of Meta-World `medium` (scripted) episodes."""
    suite, short = check_task(task)
    if name == "random":
        return RandomPolicy(action_dim, seed)
    if suite == "metaworld":
        if name == "expert":
            name = "scripted"  # Meta-World's expert is its scripted policy
        return ScriptedPolicy(short, medium_noise if name == "medium" else 0.0, seed)
    if name == "scripted":
        raise ValueError(f"no scripted policy for {task}: DMC behaviour comes from trained agents "
                         f"(`medium`, `expert`) or `random`")
    from actors.agents import load_agent

    return load_agent(agents_dir, task, name)
