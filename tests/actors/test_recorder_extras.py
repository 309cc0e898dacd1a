"""The recorder's optional fields (PVDR): a policy's per-call `extras` recorded with the action they came with, zeros
at step 0, and the goal of a goal-conditioned env; a policy without extras records exactly the old fields (real DMC
and Meta-World envs, 32x32 frames)."""
import numpy as np
import pytest

from actors import EnvLoop, EpisodeRecorder, goal_image, make_env, rollout
from replay import episode_to_ipc, ipc_to_episode, validate_episode

PLAIN = {"image", "action", "reward", "is_first", "is_last", "is_terminal", "success"}
WALKER = dict(size=32, time_limit=20)


class PlanningPolicy:
    """Random actions with PVDR-like extras that encode what they belong to: plan_z[i] = [env i, call, *action],
    log_prob[i] = sum(action), version = 7. plan_tokens is one buffer rewritten in place at every call (as a policy
    reusing its output arrays would), holding the call count."""

    def __init__(self, action_dim: int, seed: int = 0):
        self.action_dim, self.calls = action_dim, 0
        self.rng = np.random.default_rng(seed)
        self.tokens: np.ndarray | None = None
        self.extras: dict[str, np.ndarray] = {}

    def __call__(self, obs: dict, info: dict) -> np.ndarray:
        k = len(obs["image"])
        self.calls += 1
        actions = self.rng.uniform(-1, 1, (k, self.action_dim)).astype(np.float32)
        if self.tokens is None:
            self.tokens = np.zeros((k, 3), np.float32)
        self.tokens[:] = self.calls
        env = np.arange(k, dtype=np.float32)[:, None]
        self.extras = {
            "plan_z": np.concatenate([env, np.full((k, 1), self.calls, np.float32), actions], 1),
            "plan_tokens": self.tokens,
            "log_prob": actions.sum(1),
            "version": np.full(k, 7, np.float32),
        }
        return actions


def _check_aligned(ep: dict, env_index: int) -> None:
    """Step t >= 1 holds a_{t-1} and the extras of the same policy call; step 0 is zeros."""
    length, width = ep["action"].shape
    assert ep["plan_z"].shape == (length, 2 + width) and ep["plan_tokens"].shape == (length, 3)
    assert ep["log_prob"].shape == ep["version"].shape == (length,)
    for name in ("plan_z", "plan_tokens", "log_prob", "version"):
        assert ep[name].dtype == np.float32 and not ep[name][0].any(), name
    np.testing.assert_array_equal(ep["plan_z"][1:, 2:], ep["action"][1:])
    np.testing.assert_array_equal(ep["plan_z"][1:, 0], env_index)
    calls = ep["plan_z"][1:, 1]
    assert (np.diff(calls) == 1).all()
    np.testing.assert_array_equal(ep["plan_tokens"][1:], np.repeat(calls[:, None], 3, 1))  # copied at each step
    np.testing.assert_allclose(ep["log_prob"][1:], ep["action"][1:].sum(1), rtol=1e-6)
    np.testing.assert_array_equal(ep["version"], np.where(np.arange(length) == 0, 0, 7))


def test_rollout_records_extras_with_their_actions():
    env = make_env("dmc/walker_walk", **WALKER)
    policy = PlanningPolicy(env.action_space.shape[0])
    ep = rollout(env, policy, seed=3)
    env.close()
    assert set(ep) == PLAIN | {"plan_z", "plan_tokens", "log_prob", "version"}
    assert len(ep["reward"]) == policy.calls + 1
    _check_aligned(ep, 0)
    validate_episode(ep, size=32)
    meta = {"suite": "dmc", "task": "walker_walk", "policy": "planning", "seed": 3,
            "return": float(ep["reward"].sum(dtype=np.float64)), "length": len(ep["reward"]), "render_mode": "fast",
            "size": 32, "action_repeat": 2, "action_dim": ep["action"].shape[1]}
    back, _ = ipc_to_episode(episode_to_ipc(ep, meta))
    for name, value in ep.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


def test_env_loop_records_each_envs_own_extras():
    envs = [make_env("dmc/walker_walk", **WALKER, seed=s) for s in (0, 1)]
    episodes = []
    loop = EnvLoop(envs, PlanningPolicy(envs[0].action_space.shape[0]), episodes.append, seed=0)
    while len(episodes) < 4:
        loop.step()
    for env in envs:
        env.close()
    for ep in episodes:
        env_index = int(ep["plan_z"][1, 0])
        assert env_index in (0, 1)
        _check_aligned(ep, env_index)
        validate_episode(ep, size=32)
    assert {int(ep["plan_z"][1, 0]) for ep in episodes} == {0, 1}


def test_a_policy_without_extras_records_the_old_fields():
    env = make_env("dmc/walker_walk", **WALKER)
    rng = np.random.default_rng(0)
    ep = rollout(env, lambda obs, info: rng.uniform(-1, 1, (1, 6)).astype(np.float32), seed=0)
    env.close()
    assert set(ep) == PLAIN
    validate_episode(ep, size=32, action_dim=6)


def test_extras_that_change_names_mid_episode_are_an_error():
    recorder = EpisodeRecorder(action_dim=2)
    obs = {"image": np.zeros((4, 4, 3), np.uint8), "reward": 0.0, "is_first": True, "is_last": False,
           "is_terminal": False, "success": False}
    recorder.add(obs, None)
    recorder.add(obs, np.ones(2, np.float32), {"log_prob": np.float32(-1.0)})
    recorder.add(obs, np.ones(2, np.float32), {"plan_z": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="step 2 records .*plan_z.*same fields at every call"):
        recorder.finish()


def test_a_goal_env_records_the_goal_at_every_step():
    env = make_env("metaworld/reach", size=32, time_limit=20, goal=True, seed=0)
    rng = np.random.default_rng(0)
    ep = rollout(env, lambda obs, info: rng.uniform(-1, 1, (1, 4)).astype(np.float32), seed=3)
    env.close()
    assert set(ep) == PLAIN | {"goal"}
    goal = goal_image("metaworld/reach", 3, size=32, time_limit=20).image
    assert ep["goal"].shape == ep["image"].shape and ep["goal"].dtype == np.uint8
    assert (ep["goal"] == goal).all()
    validate_episode(ep, size=32, action_dim=4)
