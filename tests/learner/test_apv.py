"""APV on the learner's code path: the action-free model reads no action, the stacked model's shapes and parameter
counts per preset, the k-NN bonus against a brute-force computation, the pretrained decoder, the learner and the
player with the stacked state."""
import numpy as np
import pytest
import torch

from deploy.config import load_config
from learner import (
    ActorCriticConfig,
    AgentSpec,
    ApvConfig,
    CheckpointError,
    Learner,
    LearnerConfig,
    Player,
    StackedWorldModel,
    WorldModel,
    WorldModelConfig,
    save_checkpoint,
)
from learner.bonus import VideoBonus

S, A, WIDTH = 32, 4, 6
SMALL = WorldModelConfig(depth=4, stoch=6, deter=12, hidden=12, units=12)
AC = ActorCriticConfig(units=12, actor_layers=2, value_layers=2, horizon=3)


def spec(method: str = "apv", model: WorldModelConfig = SMALL, apv: ApvConfig | None = None) -> AgentSpec:
    return AgentSpec.create(model, AC, load_config("smoke").vae, method=method, image_size=S, action_dim=A,
                            action_width=WIDTH, n_domains=0, apv=(apv or ApvConfig()).for_suite("dmc"))


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_action_free_model_has_no_action_input_and_ignores_actions(make_batch):
    model = WorldModel(**SMALL.kwargs(S, 0, reward_head=False))
    assert model.rssm.img_action is None
    batch = make_batch(2, 6, S, WIDTH)
    action = torch.tensor(batch["action"], requires_grad=True)
    embed = model.encode(torch.tensor(batch["image"]))
    post, _ = model.observe(embed, action, torch.tensor(batch["is_first"]), sample=False)
    future = model.predict({k: v[:, -1] for k, v in post.items()}, action)
    (model.features(post).sum() + model.features(future).sum()).backward()
    assert action.grad is None or not action.grad.any()  # no path from the actions to any output
    other, _ = model.observe(embed, -action.detach(), torch.tensor(batch["is_first"]), sample=False)
    assert torch.equal(model.features(post), model.features(other))


@pytest.mark.parametrize("preset", ["smoke", "cpu", "paper", "paper_apv"])
def test_the_stacked_model_per_preset_adds_one_action_free_rssm(preset):
    cfg = load_config(preset)
    plain = WorldModel(**cfg.model.kwargs(64, WIDTH, reward_head=True))
    kwargs = spec(model=cfg.model).model
    stacked = StackedWorldModel(**{**kwargs, "image_size": 64})
    m = cfg.model
    assert stacked.af_rssm.img_action is None and stacked.rssm.img_action is not None
    assert stacked.af_rssm.deter == stacked.rssm.deter == m.deter and stacked.feature_size == plain.feature_size
    if preset == "paper_apv":
        assert m.deter == m.hidden == 1024  # APV's enlarged RSSM
    # the action-free RSSM is the plain one less its action input; the stacked posterior also reads its features
    af = n_params(plain.rssm) - WIDTH * m.hidden
    assert n_params(stacked) == n_params(plain) + af + stacked.af_rssm.feature_size * m.hidden
    assert n_params(stacked.decoder) == n_params(plain.decoder)  # so the pretrained decoder fits


def test_the_stacked_state_carries_both_models_and_imagination_uses_the_action_conditional_one(make_batch):
    model = StackedWorldModel(**spec().model)
    batch = make_batch(2, 6, S, WIDTH)
    embed = model.encode(torch.tensor(batch["image"]))
    first = torch.tensor(batch["is_first"])
    post, prior = model.observe(embed, torch.tensor(batch["action"]), first, sample=False)
    assert {"af_deter", "af_stoch", "af_mean", "af_std", "deter", "stoch"} <= set(post) and "af_deter" in prior
    other, _ = model.observe(embed, -torch.tensor(batch["action"]), first, sample=False)
    assert torch.equal(post["af_deter"], other["af_deter"]) and not torch.equal(post["deter"], other["deter"])
    start = {k: v[:, -1] for k, v in post.items()}
    traj = model.imagine(start, lambda feat: torch.zeros(len(feat), WIDTH), horizon=3)
    assert not any(k.startswith("af_") for k in traj) and traj["deter"].shape == (2, 4, SMALL.deter)


def test_the_bonus_is_the_kth_nearest_neighbour_distance_of_a_brute_force_search():
    cfg = ApvConfig(window=3, k=4, queue=50, proj_dim=8, norm_momentum=0.0, beta=0.5)
    bonus = VideoBonus(10, cfg, seed=1)
    rng = np.random.default_rng(0)
    history = []
    for _ in range(3):  # the queue fills past its size, so the oldest projections drop out
        feat = rng.normal(size=(2, 9, 10)).astype(np.float32)
        reward = rng.normal(size=(2, 9)).astype(np.float32)
        target, metrics = bonus.reward_target(torch.tensor(feat), torch.tensor(reward))
        pooled = np.stack([feat[:, t:t + 3].mean(1) for t in range(7)], 1)  # (2, 7, 10), windows of 3
        proj = (pooled @ bonus.projection.numpy()).reshape(14, 8)
        history = [*proj, *history][:50]  # the newest first
        queue = np.stack(history)
        dist = np.linalg.norm(proj[:, None] - queue[None], axis=-1)
        raw = np.sort(dist, 1)[:, 3]  # the 4th nearest, the projection itself (distance 0) included
        expect = reward[:, :7] + 0.5 * (raw / raw.mean()).reshape(2, 7)  # momentum 0: the norm is this batch's
        np.testing.assert_allclose(target.numpy(), expect, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(bonus.queue[:len(queue)].numpy(), queue, rtol=1e-5, atol=1e-6)
    assert metrics["intr_queue"] == 42.0


def test_a_non_finite_batch_leaves_the_bonus_state_as_it_was():
    bonus = VideoBonus(10, ApvConfig(window=3, k=4, queue=50, proj_dim=8, beta=0.5), seed=1)
    bonus(torch.randn(2, 9, 10))
    state = {k: v.clone() for k, v in bonus.state_dict().items()}
    feat = torch.randn(2, 9, 10)
    feat[1, 4, 2] = float("nan")  # a diverged batch: its update is skipped, so the bonus must not move either
    r_int, _ = bonus(feat)
    assert r_int.shape == (2, 7) and torch.isnan(r_int).all()
    assert all(torch.equal(v, state[k]) for k, v in bonus.state_dict().items())
    assert torch.isfinite(bonus(torch.randn(2, 9, 10))[0]).all()  # the next finite batch scores as before


def test_the_bonus_refuses_windows_longer_than_the_sequence():
    with pytest.raises(ValueError, match="apv.window"):
        VideoBonus(10, ApvConfig(window=5).for_suite("dmc"))(torch.zeros(2, 4, 10))


def test_the_suites_resolve_apvs_settings():
    assert (ApvConfig().for_suite("dmc").beta, ApvConfig().for_suite("dmc").concat_embed) == (0.1, "true")
    assert (ApvConfig().for_suite("metaworld").beta, ApvConfig().for_suite("metaworld").concat_embed) == (1.0, "false")
    assert ApvConfig(beta=0.3, concat_embed="false").for_suite("dmc").beta == 0.3


def pretrained_video_model(tmp_path):
    model = WorldModel(**SMALL.kwargs(S, 0, reward_head=False))
    save_checkpoint(tmp_path / "af", {"model": model}, {"step": 1, "kwargs": model.kwargs})
    return model, tmp_path / "af"


def test_the_student_starts_from_the_pretrained_encoder_action_free_rssm_and_decoder(tmp_path):
    pretrained, directory = pretrained_video_model(tmp_path)
    learner = Learner(spec(), LearnerConfig(model=SMALL, ac=AC))
    learner.init_world_model(directory)
    model = learner.model
    for mine, theirs in ((model.encoder, pretrained.encoder), (model.af_rssm, pretrained.rssm),
                         (model.decoder, pretrained.decoder)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), name
    wider = Learner(spec(model=WorldModelConfig(**{**SMALL.__dict__, "deter": 16})), LearnerConfig(ac=AC))
    with pytest.raises(CheckpointError, match="does not fit the stacked model"):
        wider.init_world_model(directory)


def test_apv_learns_with_the_bonus_round_trips_it_and_acts_with_the_stacked_state(make_batch, tmp_path):
    cfg = LearnerConfig(model=SMALL, ac=AC, apv=ApvConfig(queue=64, window=3))
    learner = Learner(spec(apv=cfg.apv), cfg)
    batch = make_batch(2, 6, S, A)
    metrics = learner.update(batch)
    assert metrics["train/intr_queue"] == 8 and metrics["train/intr_reward"] > 0
    learner.update(make_batch(2, 6, S, A, seed=1))
    learner.save(tmp_path / "ck")
    again = Learner(spec(apv=cfg.apv), cfg)
    again.restore(tmp_path / "ck")
    assert torch.equal(again.bonus.queue, learner.bonus.queue) and int(again.bonus.filled) == 16
    player = Player(learner.spec)
    player.load(*learner.policy_weights())
    obs = {"image": batch["image"][:, 0], "is_first": np.ones(2, bool)}
    assert player(obs).shape == (2, A) and "af_deter" in player.state
    plain = Learner(spec("apv_no_bonus"), cfg)
    assert plain.bonus is None and "train/intr_reward" not in plain.update(batch)


def test_on_meta_world_the_pretrained_video_model_waits_its_hold_updates_while_the_rest_learns(make_batch):
    assert (ApvConfig().for_suite("metaworld").hold_updates, ApvConfig().for_suite("dmc").hold_updates) == (100, 0)
    cfg = LearnerConfig(model=SMALL, ac=AC, apv=ApvConfig(queue=64, window=3, hold_updates=2))
    learner = Learner(spec(apv=cfg.apv), cfg, suite="metaworld")

    def video_and_head():
        return ([p.detach().clone() for m in learner.model.video_model().values() for p in m.parameters()],
                [p.detach().clone() for p in learner.model.rssm.parameters()])

    for seed in range(3):
        (video, head), _ = video_and_head(), learner.update(make_batch(2, 6, S, A, seed=seed))
        moved = [not all(torch.equal(a, b) for a, b in zip(before, after))
                 for before, after in zip((video, head), video_and_head())]
        assert moved == [seed >= 2, True], (seed, moved)  # held for updates 0 and 1, then fine-tuned
        held = [p.requires_grad for m in learner.model.video_model().values() for p in m.parameters()]
        assert set(held) == {seed >= 2}, seed  # imagination's freeze of the world model does not lift the hold
    assert Learner(spec("apv_no_pretrain", apv=cfg.apv), cfg, suite="metaworld").hold_updates == 0  # nothing to hold
