"""PVDR's player and learner on the project's protocol: planning extras, every adaptation term, the ablations,
PPO's trajectories and Eq. 6's reward, checkpoints, and the dispatch from the shared entry points."""
import dataclasses

import numpy as np
import pytest
import torch

from deploy.config import load_config
from learner import AgentSpec, LearnerConfig, Player, make_learner
from learner.pvdr.adapt import alignment_reward, trajectories
from learner.pvdr.agent import PvdrPlayer
from learner.pvdr.learner import PvdrLearner

CFG = load_config("smoke").pvdr  # 32x32 frames, 4x4 tokens, m 2, l 3
S, A, T = 32, 4, 8


def spec(method: str = "pvdr") -> AgentSpec:
    cfg = load_config("smoke")
    return AgentSpec.create(cfg.model, cfg.ac, cfg.vae, method=method, image_size=S, action_dim=A, action_width=A,
                            n_domains=0, pvdr=CFG)


def batch(B: int = 3, version: float = 0.0, seed: int = 0) -> dict:
    """A replay batch of PVDR windows: frames, the goal, and the acting policy's extras (as the env loop stores)."""
    rng = np.random.default_rng(seed)
    g, n = CFG.grid, CFG.future
    return {"image": rng.integers(0, 255, (B, T, S, S, 3), dtype=np.uint8),
            "goal": np.repeat(rng.integers(0, 255, (B, 1, S, S, 3), dtype=np.uint8), T, 1),
            "action": rng.uniform(-0.9, 0.9, (B, T, A)).astype(np.float32),
            "reward": np.where(rng.random((B, T)) < 0.1, 60.0, 0.0).astype(np.float32),
            "is_first": np.zeros((B, T), bool), "is_last": np.zeros((B, T), bool),
            "is_terminal": np.zeros((B, T), bool), "success": np.zeros((B, T), bool),
            "plan_z": rng.normal(size=(B, T, g * g * CFG.z_dim)).astype(np.float32),
            "plan_tokens": rng.integers(0, CFG.codebook, (B, T, n * g * g)).astype(np.float32),
            "log_prob": rng.normal(-2, 0.5, (B, T)).astype(np.float32),
            "version": np.full((B, T), version, np.float32)}


def test_the_shared_entry_points_dispatch_to_pvdr():
    learner = make_learner(spec(), LearnerConfig(pvdr=CFG))
    assert isinstance(learner, PvdrLearner)
    player = Player.for_spec(spec())
    assert isinstance(player, PvdrPlayer) and type(Player.for_spec(spec("dreamerv2"))) is Player


def test_the_player_plans_toward_the_goal_and_hands_out_its_extras():
    learner, player = PvdrLearner(spec(), CFG), Player.for_spec(spec())
    rng = np.random.default_rng(0)
    obs = {"image": rng.integers(0, 255, (2, S, S, 3), dtype=np.uint8), "is_first": np.ones(2, bool),
           "goal": rng.integers(0, 255, (2, S, S, 3), dtype=np.uint8)}
    action = player(obs)  # before any weights: uniform, extras of the right widths, version -1
    assert action.shape == (2, A) and player.extras["version"].tolist() == [-1, -1]
    player.load(*learner.policy_weights())
    widths = {"plan_z": CFG.grid ** 2 * CFG.z_dim, "plan_tokens": CFG.future * CFG.grid ** 2}
    for step in range(3):
        action = player({**obs, "is_first": np.array([step == 0, step == 0])})
        assert action.shape == (2, A) and np.abs(action).max() <= 1
        extras = player.extras
        assert {k: v.shape[1] for k, v in extras.items() if v.ndim == 2} == widths
        assert 0 <= extras["plan_tokens"].min() and extras["plan_tokens"].max() < CFG.codebook
        assert np.isfinite(extras["log_prob"]).all() and extras["version"].tolist() == [0, 0]


@pytest.mark.parametrize("method, absent", [("pvdr", set()), ("pvdr_no_prior_opt", {"train/plan_goal_distance"}),
                                            ("pvdr_no_act_sl", {"train/align_sl"}),
                                            ("pvdr_no_act_rl", {"train/ppo_objective", "train/align_reward"})])
def test_each_adaptation_term_runs_and_the_ablations_drop_theirs(method, absent):
    learner = PvdrLearner(spec(method), CFG)
    before = {k: v.clone() for k, v in learner.parts.model.state_dict().items()}
    metrics = learner.update(batch())
    full = {"train/rec_nll", "train/kl_prior", "train/plan_goal_distance", "train/align_sl", "train/ppo_objective",
            "train/align_reward"}
    assert full - absent <= set(metrics) and not absent & set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    after = learner.parts.model.state_dict()
    assert not torch.equal(before["decoder.blocks.0.ff1.net.1.weight"], after["decoder.blocks.0.ff1.net.1.weight"])
    assert torch.equal(before["encoder.blocks.0.ff1.net.1.weight"], after["encoder.blocks.0.ff1.net.1.weight"])


def test_ppo_trains_only_on_recent_actions():
    learner = PvdrLearner(spec(), CFG)
    learner.updates = 200  # weights far newer than the batch's version 0 actions
    assert "train/ppo_objective" not in learner.update(batch(version=0.0))
    assert "train/ppo_objective" in learner.update(batch(version=190.0))


def test_the_trajectories_carry_eq6_rewards_and_the_next_states():
    learner = PvdrLearner(spec(), CFG)
    data = {k: torch.as_tensor(v) for k, v in batch(version=0.0).items()}
    data["version"][0, 3] = -1  # row 0 holds a random prefill action: left out
    tokens = learner.parts.tokenizer.encode(data["image"].flatten(0, 1)).unflatten(0, data["image"].shape[:2])
    td = trajectories(data, tokens, learner.parts.tokenizer, CFG, "action_log_prob", min_version=0)
    m, n = CFG.context, CFG.future
    steps = list(range(m - 1, T - n - 1))
    assert td.batch_size == torch.Size([2, len(steps)])
    plan = data["plan_tokens"][1:, 1:T - n + 1].long().view(2, T - n, n, CFG.grid, CFG.grid)
    frames = learner.parts.tokenizer.decode(plan.flatten(0, 2)).unflatten(0, (2, T - n, n))
    expect = alignment_reward(data["image"][1:].float() / 255, data["goal"][1:, 0].float() / 255, frames,
                              data["reward"][1:], CFG.lambda3)[:, steps]
    torch.testing.assert_close(td["next", "reward"][..., 0], expect)
    assert torch.equal(td["action"], data["action"][1:, [t + 1 for t in steps]])
    assert torch.equal(td["next", "tokens"][:, 0], tokens[1:, steps[0] - m + 2:steps[0] + 2])


def test_eq6_reward_is_goal_progress_plus_plan_adherence():
    frames = torch.zeros(1, 4, 2, 2, 3)
    frames[0, 2] = 1.0  # frame 2 equals the goal; every other frame is its opposite
    goal = torch.ones(1, 2, 2, 3)
    plans = torch.zeros(1, 2, 2, 2, 2, 3)  # plans of 2 frames for actions at frames 0, 1: all zero frames
    reward = torch.tensor([[0.0, 60.0, 0.0, 0.0]])
    r = alignment_reward(frames, goal, plans, reward, lambda3=1.0)
    # t = 0: r_suc 60, frame 1 is 1 from the goal, frames 1-2 vs the zero plan: (0 + 1) / 2
    # t = 1: no r_suc, frame 2 is the goal, frames 2-3 vs the plan: (1 + 0) / 2
    torch.testing.assert_close(r, torch.tensor([[60.0 - 1.0 - 0.5, 0.0 - 0.0 - 0.5]]))


def test_checkpoints_round_trip_and_load_a_pvdr_player(tmp_path):
    learner = PvdrLearner(spec(), CFG)
    learner.update(batch())
    learner.save(tmp_path / "ck", env_steps=10)
    again = PvdrLearner(spec(), CFG)
    assert again.restore(tmp_path / "ck")["env_steps"] == 10 and again.updates == 1
    assert torch.equal(again.generator.get_state(), learner.generator.get_state())
    for (k, a), b in zip(learner.parts.align.state_dict().items(), again.parts.align.state_dict().values()):
        assert torch.equal(a, b), k
    player = Player.from_checkpoint(tmp_path / "ck")
    assert isinstance(player, PvdrPlayer) and player.version == 1 and not player.explore
    other = PvdrLearner(spec("pvdr_no_act_rl"), CFG)
    with pytest.raises(Exception, match="another model or method"):
        other.restore(tmp_path / "ck")
    small = dataclasses.replace(CFG, dim=8)
    with pytest.raises(Exception, match="pretrained with"):
        PvdrLearner(AgentSpec.create(load_config("smoke").model, load_config("smoke").ac, load_config("smoke").vae,
                                     method="pvdr", image_size=S, action_dim=A, action_width=A, n_domains=0,
                                     pvdr=small), small).init_world_model(tmp_path / "ck")


def test_a_run_resumes_with_new_learning_rates_but_not_with_new_sizes(tmp_path):
    learner = PvdrLearner(spec(), CFG)
    learner.save(tmp_path / "ck")
    faster = dataclasses.replace(CFG, finetune_lr=1e-3, ppo_clip=0.2, lambda2=0.1)
    cfg = load_config("smoke")
    same_sizes = AgentSpec.create(cfg.model, cfg.ac, cfg.vae, method="pvdr", image_size=S, action_dim=A,
                                  action_width=A, n_domains=0, pvdr=faster)
    assert PvdrLearner(same_sizes, faster).restore(tmp_path / "ck")["step"] == 0  # rates are the run's, not the spec
    wider = AgentSpec.create(cfg.model, cfg.ac, cfg.vae, method="pvdr", image_size=S, action_dim=A, action_width=A,
                             n_domains=0, pvdr=dataclasses.replace(CFG, dim=8))
    with pytest.raises(Exception, match="another model or method"):
        PvdrLearner(wider, dataclasses.replace(CFG, dim=8)).restore(tmp_path / "ck")
