"""Behaviour policies for the source datasets: mixes, random, Meta-World scripted/medium, trained DMC agents."""
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from actors.agents import NET_ARCH, load_agent, save_agent, train_agent
from actors.behaviour import MW_MEDIUM_NOISE, POLICIES, assign_policies, make_policy, parse_policy_mix
from actors.suites import make_env, make_state_env

WALKER = "dmc/walker_walk"


def test_parse_policy_mix_normalises_and_accepts_a_bare_name():
    assert parse_policy_mix("medium:1,expert:3") == [("medium", 0.25), ("expert", 0.75)]
    assert parse_policy_mix(" medium:0.5 , expert:0.5 ,") == [("medium", 0.5), ("expert", 0.5)]
    assert parse_policy_mix("random") == [("random", 1.0)]
    assert parse_policy_mix("random,scripted") == [("random", 0.5), ("scripted", 0.5)]


def test_parse_policy_mix_errors():
    with pytest.raises(ValueError, match="unknown behaviour policy 'expret'") as err:
        parse_policy_mix("medium:0.5,expret:0.5")
    assert ", ".join(POLICIES) in str(err.value)  # lists the valid names
    with pytest.raises(ValueError, match="'half' .* is not a number"):
        parse_policy_mix("medium:half")
    for bad in ("medium:0", "medium:-1"):
        with pytest.raises(ValueError, match="must be > 0"):
            parse_policy_mix(bad)
    with pytest.raises(ValueError, match="empty"):
        parse_policy_mix(" , ")


@pytest.mark.parametrize("text, episodes", [("medium:0.3,expert:0.7", 50), ("medium:1,expert:1", 7),
                                            ("random:0.5,medium:0.25,expert:0.25", 30), ("random:1,expert:2", 1)])
def test_assign_policies_follows_the_mix_in_every_prefix(text, episodes):
    mix = parse_policy_mix(text)
    names = assign_policies(mix, episodes)
    assert len(names) == episodes and names == assign_policies(mix, episodes)  # deterministic
    for name, frac in mix:
        assert abs(names.count(name) - frac * episodes) < 1  # largest remainder: off by under one episode
        for n in range(1, episodes + 1):  # interleaved: a resumed or cut-short collection keeps the mix
            assert abs(names[:n].count(name) - frac * n) <= 1.5, (name, n, names[:n])


def test_random_policy_is_in_bounds_and_seeded(tmp_path):
    obs = {"image": np.zeros((3, 32, 32, 3), np.uint8)}  # K = 3 envs

    def act(seed):
        policy = make_policy("random", WALKER, 6, seed, str(tmp_path))
        return np.stack([policy(obs, {}) for _ in range(50)])

    first = act(1)
    assert first.shape == (50, 3, 6) and first.dtype == np.float32
    assert first.min() >= -1 and first.max() <= 1 and first.min() < -0.9 and first.max() > 0.9
    np.testing.assert_array_equal(first, act(1))
    assert not np.array_equal(first, act(2))


def test_metaworld_scripted_expert_reaches_success(tmp_path):
    env = make_env("metaworld/reach", size=32, seed=0)
    policy = make_policy("scripted", "metaworld/reach", 4, 0, str(tmp_path))
    obs, info = env.reset(seed=0)
    success, steps = False, 0
    while not success and not obs["is_last"]:
        obs, _, _, _, info = env.step(policy({k: v[None] for k, v in obs.items()}, {"state": info["state"][None]})[0])
        success, steps = info["success"], steps + 1
    env.close()
    assert success and steps < 500, steps


def test_metaworld_medium_adds_noise_to_the_expert(tmp_path):
    env = make_env("metaworld/door-lock", size=32, seed=0)
    _, info = env.reset(seed=0)
    env.close()
    states = {"state": np.repeat(info["state"][None], 400, axis=0)}  # the same state in K = 400 envs
    obs = {"image": np.zeros((400, 32, 32, 3), np.uint8)}
    expert = make_policy("expert", "metaworld/door-lock", 4, 0, str(tmp_path))  # Meta-World expert = scripted
    clean = expert(obs, states)
    assert np.all(clean == clean[0])  # the scripted expert is deterministic
    noisy = make_policy("medium", "metaworld/door-lock", 4, 0, str(tmp_path))(obs, states)
    assert noisy.shape == (400, 4) and noisy.dtype == np.float32 and np.abs(noisy).max() <= 1
    inside = np.abs(clean[0]) < 0.5  # away from the clip, the noise shows its std
    assert inside.any()
    std = (noisy - clean)[:, inside].std(axis=0)
    assert np.all(np.abs(std - MW_MEDIUM_NOISE) < 0.15), std


def test_scripted_is_metaworld_only(tmp_path):
    with pytest.raises(ValueError, match="no scripted policy for dmc/walker_walk"):
        make_policy("scripted", WALKER, 6, 0, str(tmp_path))


def test_missing_dmc_agent_names_the_command_to_train_one(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"vid2act behaviour --task {WALKER} --agents {tmp_path}"):
        make_policy("medium", WALKER, 6, 0, str(tmp_path))


def _fresh_actor(obs_dim: int = 24, action_dim: int = 6) -> torch.nn.Module:
    from gymnasium import spaces
    from stable_baselines3.sac.policies import SACPolicy

    box = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    return SACPolicy(box, spaces.Box(-1, 1, (action_dim,), np.float32), lambda _: 3e-4, net_arch=NET_ARCH).actor


def test_saved_agent_reloads_and_acts_identically(tmp_path):
    actor = _fresh_actor()
    save_agent(tmp_path, WALKER, "expert", actor, {"return": 1.0, "steps": 0, "algo": "sb3-sac", "obs_dim": 24,
                                                    "action_dim": 6})
    states = np.random.default_rng(0).normal(size=(8, 24)).astype(np.float32)
    with torch.no_grad():
        want = actor(torch.as_tensor(states), deterministic=True).numpy()
    got = make_policy("expert", WALKER, 6, 0, str(tmp_path))({}, {"state": states})
    np.testing.assert_array_equal(got, want)
    assert not any(p.suffix == ".tmp" for p in (tmp_path / "dmc-walker_walk").iterdir())


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """SB3 with two torch threads on two busy shared cores ran ~6x slower than with one (98 s vs 17 s here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny SB3 run on walker_walk: 50-step episodes, 300 steps; every eval passes `medium_return=-1`."""
    agents = tmp_path_factory.mktemp("agents")
    logs, sb3_dirs = [], set(Path(tempfile.gettempdir()).glob("SB3-*"))
    result = train_agent(WALKER, agents, steps=300, medium_return=-1, expert_return=1e9, eval_every=100,
                         eval_episodes=1, learning_starts=100, batch_size=32, seed=0, time_limit=100,
                         log=logs.append)
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) == sb3_dirs  # no log folder left in /tmp
    return agents, result, logs


def test_train_agent_checkpoints_medium_and_final(trained):
    agents, result, logs = trained
    assert set(result["saved"]) == {"medium"} and result["steps"] == 300  # expert threshold never reached
    out = agents / "dmc-walker_walk"
    assert sorted(p.name for p in out.iterdir()) == ["final.json", "final.safetensors", "medium.json",
                                                      "medium.safetensors"]
    meta = json.loads((out / "medium.json").read_text())
    assert meta.pop("sha256") == hashlib.sha256((out / "medium.safetensors").read_bytes()).hexdigest()
    assert meta == {"task": WALKER, "level": "medium", "return": result["saved"]["medium"], "steps": 100,
                    "algo": "sb3-sac", "obs_dim": 24, "action_dim": 6}
    assert any("saved medium agent" in line for line in logs) and any("ETA" in line for line in logs)


@pytest.mark.parametrize("level", ["medium", "final"])
def test_reloaded_agent_acts_like_the_trained_actor(trained, level):
    """Replaying the checkpoint's eval episode with the reloaded actor gives the return the trained actor got."""
    agents, result, _ = trained
    meta = json.loads((agents / "dmc-walker_walk" / f"{level}.json").read_text())
    policy = load_agent(agents, WALKER, level)
    env = make_state_env(WALKER, time_limit=100, seed=10_000)  # the eval env of train_agent (seed + 10_000)
    state, _ = env.reset(seed=10_000)
    total, done = 0.0, False
    while not done:
        action = policy({}, {"state": state[None]})[0]
        assert action.dtype == np.float32 and np.abs(action).max() <= 1
        state, reward, term, trunc, _ = env.step(action)
        total, done = total + reward, term or trunc
    env.close()
    assert total == pytest.approx(meta["return"], abs=1e-6)
    if level == "final":
        assert total == pytest.approx(result["final_return"], abs=1e-6)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "sidecar"])
def test_corrupt_agent_files_give_a_clear_error(tmp_path, damage):
    """Also a flipped byte inside the weights (same size, still parses): the recorded hash catches it."""
    save_agent(tmp_path, WALKER, "medium", _fresh_actor(), {"return": 1.0, "steps": 0, "algo": "sb3-sac",
                                                            "obs_dim": 24, "action_dim": 6})
    weights = tmp_path / "dmc-walker_walk" / "medium.safetensors"
    if damage == "garbage":
        weights.write_bytes(b"not a safetensors file" * 4)
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "flipped":
        data = bytearray(weights.read_bytes())
        data[-100] ^= 0xFF
        weights.write_bytes(bytes(data))
    else:
        weights.with_suffix(".json").write_text("{\"obs_dim\": 24,")
    message = "medium.json: unreadable" if damage == "sidecar" else "medium.safetensors: content does not match"
    with pytest.raises(ValueError, match=f"{message}.*retrain the agent"):
        load_agent(tmp_path, WALKER, "medium")
