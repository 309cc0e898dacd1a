"""The DMC and Meta-World suites behind one gymnasium interface (real MuJoCo, real rendering, 32x32 frames)."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from actors.suites import UnknownTaskError, action_dim, list_tasks, make_env, make_state_env, widest_action

DMC, MW = "dmc/walker_walk", "metaworld/door-lock"


def actions(dim: int, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, dim)).astype(np.float32)


@pytest.mark.parametrize("task", [DMC, MW])
def test_passes_gymnasium_env_checker(task):
    env = make_env(task, size=32, time_limit=20, seed=0)
    check_env(env, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("task, repeat, steps", [(DMC, 2, 5), (MW, 1, 6)])
def test_episode_flags_reward_and_dtypes(task, repeat, steps):
    """time_limit counts env steps: DMC repeats each action twice, so 10 env steps are 5 agent steps."""
    env = make_env(task, size=32, time_limit=steps * repeat, seed=0)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["is_first"] and not obs["is_last"] and not obs["is_terminal"] and obs["reward"] == 0
    assert info["state"].dtype == np.float32 and info["success"] is False
    for t, action in enumerate(actions(env.action_space.shape[0], steps), 1):
        obs, reward, terminated, truncated, info = env.step(action)
        assert env.observation_space.contains(obs)
        assert obs["reward"].dtype == np.float32 and obs["reward"].shape == () and isinstance(reward, float)
        assert obs["reward"] == np.float32(reward)
        for flag in ("is_first", "is_last", "is_terminal", "success"):
            assert obs[flag].dtype == np.bool_ and obs[flag].shape == ()
        assert not obs["is_first"]
        assert bool(obs["is_last"]) == (t == steps) == truncated  # the time limit truncates ...
        assert not terminated and not obs["is_terminal"]  # ... it is not a terminal state
        assert bool(obs["success"]) == info["success"]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(action)
    env.close()


@pytest.mark.parametrize("task", [DMC, MW])
def test_same_seed_gives_identical_frames_and_trajectory(task):
    def rollout(seed: int):
        env = make_env(task, size=32, time_limit=12, seed=seed)
        obs, info = env.reset(seed=seed)
        frames, states, rewards = [obs["image"]], [info["state"]], []
        for action in actions(env.action_space.shape[0], 5):
            obs, reward, *_, info = env.step(action)
            frames.append(obs["image"])
            states.append(info["state"])
            rewards.append(reward)
        env.close()
        return np.stack(frames), np.stack(states), np.array(rewards)

    first, again, other = rollout(3), rollout(3), rollout(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1][0], other[1][0])  # another seed starts elsewhere (pose / goal)


@pytest.mark.parametrize("name, close", [("dmc/walker_wlak", "dmc/walker_walk"),
                                         ("metaworld/door-lok", "metaworld/door-lock")])
def test_unknown_task_suggests_close_names(name, close):
    with pytest.raises(UnknownTaskError, match=close) as err:
        make_env(name, size=32)
    assert "did you mean" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_unknown_suite_lists_the_suites():
    with pytest.raises(UnknownTaskError, match="dmc, metaworld"):
        make_env("atari/pong", size=32)
    with pytest.raises(UnknownTaskError, match="dmc, metaworld"):
        list_tasks("atari")
    with pytest.raises(UnknownTaskError, match="suite/name"):
        make_env("walker_walk", size=32)


def test_bad_actions_raise_value_errors_saying_what_was_expected():
    env = make_env(DMC, size=32, time_limit=20, seed=0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected an action of shape \(6,\).*got shape \(5,\)"):
        env.step(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"expected an action of shape \(6,\)"):
        env.step(np.zeros((1, 6), np.float32))
    with pytest.raises(ValueError, match=r"expected an action in \[-1, 1\].*max \|a\| = 1.5"):
        env.step(np.full(6, 1.5, np.float32))
    with pytest.raises(ValueError, match=r"expected a finite action"):
        env.step(np.array([0, 0, np.nan, 0, 0, 0], np.float32))
    env.step(np.full(6, 1.00001, np.float32))  # float noise within tolerance is clipped, not rejected
    env.close()


@pytest.mark.parametrize("task", [DMC, MW])
def test_fast_and_faithful_renders_are_close(task):
    """The fast path drops shadows and reflections only: the same state looks nearly the same."""
    frames = {}
    for mode in ("fast", "faithful"):
        env = make_env(task, size=64, time_limit=20, render_mode=mode, seed=1)
        obs, _ = env.reset(seed=1)
        shots = [obs["image"]]
        for action in actions(env.action_space.shape[0], 3):
            shots.append(env.step(action)[0]["image"])
        frames[mode] = np.stack(shots).astype(np.float32)
        env.close()
    diff = np.abs(frames["fast"] - frames["faithful"]).mean()
    assert 0 < diff < 15, diff
    assert frames["fast"].std() > 5  # a real picture, not a blank frame


def test_fast_envs_draw_right_beside_and_after_faithful_ones():
    """dm_control and gymnasium track GL contexts on their own; mixing render modes in one process (the bench)
    once left the next fast env drawing black frames. Fast frames must not depend on what else was rendered."""
    def first_frame(task, mode):
        env = make_env(task, size=32, time_limit=10, render_mode=mode, seed=2)
        frame = env.reset(seed=2)[0]["image"]
        return env, frame

    alone = {}
    for task in (DMC, MW):
        env, alone[task] = first_frame(task, "fast")
        env.close()
    for task in (DMC, MW):
        faithful, _ = first_frame(task, "faithful")
        beside, frame_beside = first_frame(task, "fast")
        faithful.render_frame()
        np.testing.assert_array_equal(beside.render_frame(), alone[task])
        faithful.close()
        after, frame_after = first_frame(task, "fast")
        for frame in (frame_beside, frame_after, after.render_frame()):
            np.testing.assert_array_equal(frame, alone[task])
        beside.close()
        after.close()


@pytest.mark.parametrize("task, dim", [("dmc/hopper_stand", 4), ("dmc/walker_walk", 6), ("dmc/quadruped_walk", 12),
                                       ("dmc/cheetah_run", 6), ("metaworld/door-lock", 4)])
def test_action_dim_table_agrees_with_real_envs(task, dim):
    env = make_state_env(task, time_limit=10, seed=0)
    assert action_dim(task) == env.action_space.shape[0] == dim
    state, _ = env.reset(seed=0)
    assert env.observation_space.contains(state)
    env.close()


def test_widest_action():
    assert widest_action("dmc", ["hopper_stand", "walker_walk", "quadruped_walk"]) == 12
    assert widest_action("dmc", ["cheetah_run", "walker_run"]) == 6
    assert widest_action("dmc") == 56  # humanoid_CMU
    assert widest_action("metaworld") == 4


def test_every_task_is_a_registered_gymnasium_env():
    import gymnasium

    env = gymnasium.make("actors.gym_envs:vid2act/metaworld-door-lock-v0", size=32)  # the module prefix registers
    try:
        obs, _ = env.reset(seed=1)
        assert obs["image"].shape == (32, 32, 3) and env.unwrapped.task == "metaworld/door-lock"
        check_env(env.unwrapped, skip_render_check=True)  # also: closing twice is allowed
    finally:
        env.close()
    from actors.gym_envs import IDS, env_id

    assert len(IDS) == len(list_tasks("dmc")) + len(list_tasks("metaworld")) and env_id("dmc/walker_walk") in IDS
    assert gymnasium.spec("vid2act/dmc-walker_walk-v0").kwargs == {"task": "dmc/walker_walk"}


def test_a_users_gymnasium_env_is_a_target_with_frames_resized_and_actions_mapped_to_its_bounds():
    from actors import check_target

    task = "gym/toy_envs:make_dot"
    check_target(task, size=16)  # gymnasium's check_env and the suite contract
    assert action_dim(task) == 2 and list_tasks("gym") == []
    env = make_env(task, size=16, seed=0)
    try:
        obs, info = env.reset(seed=3)
        assert obs["image"].shape == (16, 16, 3) and obs["image"].dtype == np.uint8 and obs["is_first"]
        start = env.sim.env.pos.copy()
        env.step(np.array([1.0, -1.0], np.float32))  # [-1, 1] maps onto the env's own [-2, 2]
        np.testing.assert_allclose(env.sim.env.pos - start, [0.1, -0.1], atol=1e-6)
        flags = [env.step(np.zeros(2, np.float32))[0]["is_last"] for _ in range(49)]
        assert flags[-1] and not any(flags[:-1])  # the env's own limit (50 steps) ends it, as truncation
    finally:
        env.close()
    for bad, says in (("gym/toy_envs:make_discrete", "bounded 1-d Box"), ("gym/toy_envs:nope", "no attribute"),
                      ("gym/not_a_module_x:make", "No module"), ("gym/toy_envs", "module:factory")):
        with pytest.raises(ValueError, match=says):
            check_target(bad)
