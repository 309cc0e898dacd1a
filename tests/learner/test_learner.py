"""The Vid2Act learner's loss terms (Eq. 3-8): shapes, where gradients flow and where they must not."""
import numpy as np
import pytest
import torch

from learner.action_vae import ActionVAE
from learner.behavior import lambda_return
from learner.config import DistillConfig
from learner.distill import DomainDistiller
from learner import ActionVAEConfig, ActorCriticConfig, AgentSpec, Learner, LearnerConfig, Player

B, T, S, A, FT = 3, 6, 32, 6, 20


def spec(method="vid2act", n=2):
    model = dict(image_size=S, action_dim=8, depth=4, stoch=6, discrete=0, deter=12, hidden=12, min_std=0.1,
                 units=12, reward_layers=2, kl_balance=0.8, free_nats=1.0, kl_scale=1.0, reward_head=True,
                 reward_scale=2.0)
    return AgentSpec(model=model, action_dim=A, method=method, n_domains=0 if method == "dreamerv2" else n,
                     units=12, actor_layers=2, value_layers=2, vae_latent=4, vae_hidden=16)


def hyper(horizon=3, vae_batch=16, **ac) -> LearnerConfig:
    return LearnerConfig(ac=ActorCriticConfig(horizon=horizon, **ac), vae=ActionVAEConfig(batch=vae_batch))




def pairs(n=2, m=50):
    return [(torch.randn(m, FT), torch.rand(m, A) * 2 - 1) for _ in range(n)]


def test_domain_weights_sum_to_one_and_gradients_reach_student_and_f_weight():
    d = DomainDistiller(FT, 10, n_teachers=3)
    teacher = torch.randn(3, B, T, FT, requires_grad=True)
    student = torch.randn(B, T, 10, requires_grad=True)
    loss, w, metrics = d(teacher, student)
    assert w.shape == (3, B, T)
    torch.testing.assert_close(w.sum(0), torch.ones(B, T))
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0  # e_t is pulled toward the teachers
    assert d.f_weight.weight.grad.abs().sum() > 0  # the weights are not detached: f_weight learns
    assert teacher.grad is None  # teachers are frozen
    assert {"train/domain_weight/0", "train/distill_loss"} <= set(metrics)


def test_weight_of_the_source_that_equals_the_target_rises():
    """Eq. 3's f_weight is one linear layer on concat(s^i, e): the e part is the same for every i and cancels in
    the softmax, so weights can only depend on the teacher's own features. Real teachers' features differ in
    their statistics; so do these (means +1 and -1)."""
    torch.manual_seed(0)
    d = DomainDistiller(10, 10, n_teachers=2, cfg=DistillConfig(weight_floor=0.1))
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    for _ in range(300):
        student = torch.randn(8, 5, 10) + 1.0
        teacher = torch.stack([student, torch.randn(8, 5, 10) - 1.0])  # source 0 sees exactly the target
        loss, w, _ = d(teacher, student)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert w[0].mean() > 0.8, w.mean((1, 2))


def test_uniform_weights_for_the_ablation():
    d = DomainDistiller(FT, 10, n_teachers=4, uniform=True)
    _, w, _ = d(torch.randn(4, B, T, FT), torch.randn(B, T, 10))
    torch.testing.assert_close(w, torch.full_like(w, 0.25))


def test_action_vae_shapes_and_guidance():
    vae = ActionVAE(10, A, n_domains=3, latent=4, hidden=16)
    loss, m = vae.loss(torch.randn(7, 10), torch.rand(7, A) * 2 - 1, torch.tensor([0, 1, 2, 0, 1, 2, 0]))
    assert loss.ndim == 0 and m["train/vae_kl"] >= 0
    assert vae.guidance(torch.randn(7, 10), torch.tensor(1)).shape == (7, 50)
    assert vae.decode(torch.randn(7, 10), torch.tensor(2)).abs().max() <= 1


def test_lambda_return_matches_hand_computation():
    r = torch.tensor([[1.0, 2.0]])
    v = torch.tensor([[0.0, 10.0, 20.0]])
    out = lambda_return(r, v, discount=0.5, lambda_=0.5)
    last = 2.0 + 0.5 * 20.0  # t=1: r + g * ((1-l) v2 + l * v2)
    first = 1.0 + 0.5 * (0.5 * 10.0 + 0.5 * last)
    torch.testing.assert_close(out, torch.tensor([[first, last]]))


@pytest.mark.parametrize("method", ["vid2act", "dreamerv2", "no_domain_weights", "no_action_guidance"])
def test_every_method_updates_from_one_code_path(method, make_batch):
    s = spec(method)
    learner = Learner(s, hyper(), FT, pairs() if s.guided else None)
    teacher = None if method == "dreamerv2" else torch.randn(2, B, T, FT)
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    metrics = learner.update(make_batch(B, T, S, A), teacher)
    assert all(np.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(before[k], v) for k, v in learner.model.state_dict().items())
    assert ("train/distill_loss" in metrics) == (method != "dreamerv2")
    assert ("train/vae_loss" in metrics) == (method in ("vid2act", "no_domain_weights"))


def test_behaviour_learning_sends_no_gradient_into_the_action_vae_or_world_model(make_batch):
    learner = Learner(spec(), hyper(), FT, pairs())
    data = make_batch(B, T, S, A)
    _, post, _ = learner.model.loss(data)
    for p in [*learner.vae.parameters(), *learner.model.parameters()]:
        p.grad = None
    learner.ac.update(learner.model, post, learner._guide())
    assert all(p.grad is None for p in learner.vae.parameters())
    assert all(p.grad is None for p in learner.model.parameters())
    assert any(p.grad is not None for p in learner.ac.actor.parameters())


def test_unknown_method_and_missing_sources_fail_clearly():
    with pytest.raises(ValueError, match="unknown method"):
        Learner(spec("ppo"), hyper(), FT, None)
    with pytest.raises(ValueError, match="source domains"):
        Learner(spec(), hyper(), FT, None)


def test_player_acts_with_broadcast_weights_and_resets_at_episode_start(make_batch):
    learner = Learner(spec(), hyper(), FT, pairs())
    player = Player(spec().to_dict(), explore=False)
    frames = make_batch(B, T, S, A)["image"][:, 0]
    random = player(dict(image=frames, is_first=np.ones(B, bool)))  # no weights yet: random actions
    assert random.shape == (B, A) and np.abs(random).max() <= 1
    weights, version = learner.policy_weights()
    assert version == learner.updates == 0
    player.load(weights, version=3)
    assert player.version == 3
    a1 = player(dict(image=frames, is_first=np.ones(B, bool)))
    player(dict(image=frames, is_first=np.zeros(B, bool)))
    a3 = player(dict(image=frames, is_first=np.ones(B, bool)))  # a fresh episode: same start, same mode action
    np.testing.assert_allclose(a1, a3, atol=1e-5)


def test_student_starts_from_a_pretrained_world_model(tmp_path):
    """The pretrained-DreamerV2 baseline: a teacher's weights (no reward head) initialise the student."""
    from learner import CheckpointError, WorldModel, save_checkpoint

    kwargs = dict(spec("dreamerv2").model, reward_head=False)
    teacher = WorldModel(**kwargs)
    save_checkpoint(tmp_path, {"model": teacher}, {"step": 0})
    learner = Learner(spec("dreamerv2"), hyper())
    learner.init_world_model(tmp_path)
    for name, value in teacher.state_dict().items():
        assert torch.equal(learner.model.state_dict()[name], value)
    wider = WorldModel(**dict(kwargs, deter=24))
    save_checkpoint(tmp_path / "wider", {"model": wider}, {"step": 0})
    with pytest.raises(CheckpointError, match="wider.*does not fit"):
        learner.init_world_model(tmp_path / "wider")


def test_per_teacher_heads_map_each_teacher_with_its_own_f_distill():
    d = DomainDistiller(FT, 10, n_teachers=3, cfg=DistillConfig(heads="per_teacher"))
    teacher = torch.randn(3, B, T, FT)
    u = d.distill(teacher)
    assert u.shape == (3, B, T, 10) and len(d.f_distill) == 3
    torch.testing.assert_close(u[2], d.f_distill[2](teacher[2]))
    torch.testing.assert_close(d.distill(teacher[1], domain=1), u[1])  # the action VAE's per-domain path


def test_distance_weights_favour_the_teacher_closest_to_the_student():
    d = DomainDistiller(FT, FT, n_teachers=2, cfg=DistillConfig(weights="distance", tau=0.1))
    with torch.no_grad():
        d.f_distill[0].weight.copy_(torch.eye(FT))
        d.f_distill[0].bias.zero_()
    student = torch.randn(B, T, FT)
    teacher = torch.stack([student, student + 3.0])  # teacher 0 maps exactly onto the student
    _, w, _ = d(teacher, student)
    assert (w[0] > 0.99).all()


@pytest.mark.parametrize("floor, dominant, floored", [("all", 0, True), ("dominant", 1, True),
                                                       ("dominant", 0, False), ("none", 1, False)])
def test_the_weight_floor_applies_where_configured(floor, dominant, floored):
    """Teacher 0 matches the student (distance 0, weight ~1); teacher 1 is far (weight ~0): its term stays in the loss
    at the floor's weight only where the floor applies."""
    d = DomainDistiller(FT, 10, n_teachers=2, cfg=DistillConfig(floor=floor, weights="distance", tau=1e-3))
    teacher = torch.randn(2, B, T, FT)
    student = d.distill(teacher)[0].detach()
    loss, w, m = d(teacher, student, dominant=dominant)
    far = float(m["train/distill_dist/1"])
    assert float(loss.detach()) == pytest.approx((0.1 if floored else float(w[1].mean())) * far, rel=1e-4, abs=1e-6)


def test_bilinear_weights_see_the_student_where_eq3s_linear_layer_cannot():
    """Eq. 3's linear score on concat(s^i, e) cancels e under the softmax over i; s^i W e does not."""
    torch.manual_seed(0)
    teacher, student = torch.randn(2, B, T, FT), torch.randn(B, T, 10)
    for form, moves in (("linear", False), ("bilinear", True)):
        d = DomainDistiller(FT, 10, n_teachers=2, cfg=DistillConfig(weights=form))
        _, w, _ = d(teacher, student)
        _, w2, _ = d(teacher, student + torch.randn_like(student))
        assert (not torch.allclose(w, w2, atol=1e-5)) == moves, form


def test_action_vae_kl_is_averaged_over_the_latent_unless_summed():
    vae = ActionVAE(10, A, n_domains=2, latent=4, hidden=16)
    args = torch.randn(7, 10), torch.rand(7, A) * 2 - 1, torch.zeros(7, dtype=torch.long)
    torch.manual_seed(1)
    _, mean = vae.loss(*args, kl="mean")
    torch.manual_seed(1)
    _, total = vae.loss(*args, kl="sum")
    torch.testing.assert_close(total["train/vae_kl"], 4 * mean["train/vae_kl"])


def test_actor_guidance_mixes_domains_by_weight_and_normalises():
    from learner.action_vae import actor_guidance

    vae, feat = ActionVAE(10, A, n_domains=3, latent=4, hidden=16), torch.randn(5, 10)
    z = torch.zeros(5, 4)
    one = actor_guidance(vae, feat, torch.tensor([0.0, 1.0, 0.0]), zero_z=True, norm=False)
    torch.testing.assert_close(one, vae.guidance(feat, torch.tensor(1), z))  # one-hot: the dominant domain alone
    mixed = actor_guidance(vae, feat, torch.tensor([0.2, 0.5, 0.3]), zero_z=True, norm=False)
    expect = sum(w * vae.guidance(feat, torch.tensor(d), z) for d, w in enumerate((0.2, 0.5, 0.3)))
    torch.testing.assert_close(mixed, expect)
    normed = actor_guidance(vae, feat, torch.tensor([0.2, 0.5, 0.3]), zero_z=True, norm=True)
    torch.testing.assert_close(normed.mean(-1), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.std(-1, unbiased=False), torch.ones(5), atol=1e-3, rtol=0)


def test_alpha_anneals_linearly_to_zero_over_the_configured_env_steps(make_batch):
    cfg = hyper()
    cfg.distill = DistillConfig(alpha=0.8, anneal_steps=1000)
    learner = Learner(spec("no_action_guidance"), cfg, FT)
    assert [learner.distill_alpha(s) for s in (0, 500, 1000, 5000)] == pytest.approx([0.8, 0.4, 0.0, 0.0])
    metrics = learner.update(make_batch(B, T, S, A), torch.randn(2, B, T, FT), env_steps=250)
    assert metrics["train/distill_alpha"] == pytest.approx(0.6)
    assert Learner(spec("no_action_guidance"), hyper(), FT).distill_alpha(10**9) == 1.0  # the paper: constant


def test_dreamerv2_std_forms_and_the_forms_older_checkpoints_keep():
    """RSSM std: 2 sigmoid(x / 2) + min_std (DreamerV2's sigmoid2); kwargs saved without `std_act` keep softplus.
    Actor: std 2 sigmoid((x + init_std) / 2) + 0.1 starts at 1.1 with DreamerV2's init_std 0."""
    from learner import WorldModel
    from learner.behavior import Actor

    kwargs = dict(spec().model)
    x = torch.linspace(-3, 3, 2 * 6)
    new = WorldModel(**kwargs, std_act="sigmoid2").rssm._dist(x, sample=False)["std"]
    torch.testing.assert_close(new, 2 * torch.sigmoid(x[6:] / 2) + 0.1)
    old = WorldModel(**kwargs).rssm._dist(x, sample=False)["std"]
    torch.testing.assert_close(old, torch.nn.functional.softplus(x[6:]) + 0.1)
    actor = Actor(8, A, 12, 2, init_std=0.0)
    with torch.no_grad():
        for p in actor.parameters():
            p.zero_()
    assert actor(torch.randn(3, 8)).std.mean().item() == pytest.approx(1.1)
    assert AgentSpec.from_dict({k: v for k, v in spec().to_dict().items() if k != "actor_init_std"}).actor_init_std == 2
