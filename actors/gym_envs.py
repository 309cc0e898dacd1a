"""Every task as a gymnasium environment: `vid2act/<suite>-<task>-v0` (importing this module registers them).

    import gymnasium
    env = gymnasium.make("actors.gym_envs:vid2act/dmc-walker_walk-v0", size=64)   # the module prefix imports it
    env = gymnasium.make("vid2act/metaworld-door-lock-v0")                         # once actors.gym_envs is imported

The environment is `actors.make_env(suite/task, **kwargs)`: image observations with the episode flags, reward and
success, actions in [-1, 1], the suite's action repeat and time limit (keyword arguments as `make_env`'s).
"""
from __future__ import annotations

import gymnasium

from actors.suites import SUITES, list_tasks

NAMESPACE = "vid2act"


def env_id(task: str) -> str:
    """`dmc/walker_walk` -> `vid2act/dmc-walker_walk-v0`."""
    suite, name = task.split("/", 1)
    return f"{NAMESPACE}/{suite}-{name}-v0"


def register() -> list[str]:
    """Register every task of every suite with gymnasium (once); returns the ids."""
    ids = []
    for suite in SUITES:
        for name in list_tasks(suite):
            ids.append(env_id(f"{suite}/{name}"))
            if ids[-1] not in gymnasium.registry:
                gymnasium.register(ids[-1], entry_point="actors.suites:make_env", kwargs={"task": f"{suite}/{name}"},
                                   disable_env_checker=True)
    return ids


IDS = register()
