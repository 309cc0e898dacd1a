"""Goal-conditioned Meta-World episodes (PVDR): exact goal images from the scripted expert, the sparse success
reward (real Meta-World, real rendering, 32x32 frames)."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from actors import EnvConfig, goal_image, make_env, make_policy
from actors.goals import GoalEnv, SparseRewardEnv

REACH, SIZE, LIMIT = "metaworld/reach", 32, 150  # the reach expert succeeds in ~40-60 env steps


def expert_step(env, policy, info):
    """One step of the scripted expert in `env`."""
    return env.step(policy({}, {"state": info["state"][None]})[0])


def test_goal_is_the_frame_where_an_independent_expert_rollout_first_succeeds(tmp_path):
    goal = goal_image(REACH, 3, size=SIZE, time_limit=LIMIT)
    env = make_env(REACH, size=SIZE, time_limit=LIMIT, seed=3)
    policy = make_policy("scripted", REACH, 4, 0, str(tmp_path))
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(goal.start, info["state"])  # the goal belongs to this very episode
    first, steps = obs["image"], 0
    while not info["success"]:
        obs, *_, info = expert_step(env, policy, info)
        steps += 1
    env.close()
    assert goal.success and goal.steps == steps < LIMIT
    assert goal.image.shape == (SIZE, SIZE, 3) and goal.image.dtype == np.uint8 and not goal.image.flags.writeable
    np.testing.assert_array_equal(goal.image, obs["image"])
    assert not np.array_equal(goal.image, first)  # the arm moved
    assert goal_image(REACH, 3, size=SIZE, time_limit=LIMIT).image.tobytes() == goal.image.tobytes()
    assert not np.array_equal(goal_image(REACH, 4, size=SIZE, time_limit=LIMIT).image, goal.image)


def test_an_expert_that_runs_out_of_time_gives_its_last_frame():
    goal = goal_image(REACH, 3, size=SIZE, time_limit=5)
    assert not goal.success and goal.steps == 5 and goal.image.shape == (SIZE, SIZE, 3)


def test_goal_env_observations_carry_the_goal_of_their_episode():
    env = make_env(REACH, size=SIZE, time_limit=20, goal=True, seed=0)
    assert isinstance(env, GoalEnv)
    check_env(env, skip_render_check=True)  # the goal is in observation_space; seeded resets repeat
    rng = np.random.default_rng(0)
    for seed in (3, 4, None):  # None: the env draws the episode's seed from its own generator
        obs, _ = env.reset(seed=seed)
        assert seed is None or env.episode_seed == seed
        goal = goal_image(REACH, env.episode_seed, size=SIZE, time_limit=20).image
        np.testing.assert_array_equal(obs["goal"], goal)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 4).astype(np.float32))
            assert env.observation_space.contains(obs)
            np.testing.assert_array_equal(obs["goal"], goal)
            done = terminated or truncated
    env.close()
    draws = [make_env(REACH, size=SIZE, time_limit=20, goal=True, seed=7) for _ in range(2)]
    firsts = [e.reset()[0]["goal"] for e in draws]
    assert draws[0].episode_seed == draws[1].episode_seed and np.array_equal(*firsts)  # the draw follows `seed`
    for e in draws:
        e.close()


def test_success_reward_is_paid_once_at_the_first_success(tmp_path):
    policy = make_policy("scripted", REACH, 4, 0, str(tmp_path))
    for goal in (True, False):
        env = make_env(REACH, size=SIZE, time_limit=LIMIT, goal=goal, success_reward=60, seed=0)
        assert ("goal" in env.observation_space.spaces) == goal and isinstance(env, SparseRewardEnv)
        obs, info = env.reset(seed=3)
        rewards, successes, done = [], [], False
        while not done:
            obs, reward, terminated, truncated, info = expert_step(env, policy, info)
            assert isinstance(reward, float) and obs["reward"] == np.float32(reward)
            rewards.append(reward)
            successes.append(info["success"])
            done = terminated or truncated
        env.close()
        first = successes.index(True)
        assert sum(successes) > 1  # the task stays solved, but pays once
        assert rewards[first] == 60 and rewards.count(60) == 1 and rewards.count(0) == len(rewards) - 1


def test_goals_and_sparse_rewards_need_a_suite_that_has_them():
    message = "goal images come from Meta-World's scripted experts; dmc/walker_walk is not a Meta-World task"
    with pytest.raises(ValueError, match=f"^{message}$"):
        goal_image("dmc/walker_walk", 0, size=SIZE)
    with pytest.raises(ValueError, match=f"^{message}$"):
        make_env("dmc/walker_walk", size=SIZE, goal=True)
    with pytest.raises(ValueError, match="never report success"):
        make_env("dmc/walker_walk", size=SIZE, success_reward=60)
    with pytest.raises(ValueError, match="must be >= 0"):
        make_env(REACH, size=SIZE, success_reward=-1)


def test_env_config_builds_goal_envs():
    cfg = EnvConfig(task=REACH, size=SIZE, time_limit=20, goal=True, success_reward=60)
    env = make_env(cfg.task, **cfg.kwargs(), seed=0)
    obs, _ = env.reset(seed=5)
    np.testing.assert_array_equal(obs["goal"], goal_image(REACH, 5, size=SIZE, time_limit=20).image)
    assert env.success_reward == 60 and env.time_limit == 20
    env.close()
    plain = make_env(REACH, **EnvConfig(size=SIZE).kwargs())
    assert type(plain).__name__ == "SuiteEnv" and "goal" not in plain.observation_space.spaces
    plain.close()
