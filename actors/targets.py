"""A user's own environment (`gym/<module>:<factory>`), checked before a run starts: gymnasium's `check_env`, then
this suite's contract."""
from __future__ import annotations

import numpy as np

from actors.suites import check_task, load_factory, make_env


def check_target(task: str, size: int = 64) -> None:
    """Before a run on a user's environment (`gym/...`): gymnasium's own `check_env` on it, then this suite's
    contract (a reset and a step through `make_env` give (size, size, 3) frames); ValueError in one line. Other
    suites pass (their tests check them)."""
    suite, name = check_task(task)
    if suite != "gym":
        return
    import warnings

    from gymnasium.utils.env_checker import check_env

    raw = load_factory(name)()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its advice (e.g. on unbounded spaces) is not an error
            check_env(raw, skip_render_check=True)
    except Exception as err:  # noqa: BLE001 -- any failure of the checker is the user's env failing it
        raise ValueError(f"{task}: gymnasium's check_env failed: {err}") from None
    finally:
        raw.close()
    env = make_env(task, size=size, time_limit=2)
    try:
        obs, _ = env.reset(seed=0)
        env.step(np.zeros(env.action_space.shape, np.float32))
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{task}: does not fit the suite's contract: {err}") from None
    finally:
        env.close()
    if obs["image"].shape != (size, size, 3):
        raise ValueError(f"{task}: frames are {obs['image'].shape}, expected ({size}, {size}, 3)")
