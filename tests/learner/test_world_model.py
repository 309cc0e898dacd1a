"""World model (Eq. 1-2): shapes and parameter counts per preset, is_first resets, gradients, KL terms."""
import numpy as np
import pytest
import torch

from deploy.config import load_config
from learner import WorldModel, autocast, pad_action, pick_device
from learner.losses import balanced_kl_loss, kl_categorical, kl_gaussian

# Regression numbers: a change here is an architecture change (action width 6).
PARAMS = {"smoke": (30876, 30187), "cpu": (1437884, 1365283), "paper": (5345380, 5084179)}


def tiny(size=16, discrete=0, reward_head=True, action_dim=3):
    torch.manual_seed(0)
    return WorldModel(size, action_dim, depth=2, stoch=4, discrete=discrete, deter=8, hidden=8, min_std=0.1,
                      units=8, reward_layers=1, kl_balance=0.8, free_nats=1.0, kl_scale=1.0, reward_head=reward_head)


def batch(B=2, T=5, size=16, A=3, seed=0):
    rng = np.random.default_rng(seed)
    first = np.zeros((B, T), bool)
    first[:, 0] = True
    return dict(image=rng.integers(0, 256, (B, T, size, size, 3), dtype=np.uint8),
                action=rng.uniform(-1, 1, (B, T, A)).astype(np.float32),
                reward=rng.random((B, T)).astype(np.float32), is_first=first)


@pytest.mark.parametrize("preset", list(PARAMS))
def test_parameter_counts_per_preset(preset):
    cfg = load_config(preset)
    for head, expected in zip((True, False), PARAMS[preset]):
        model = WorldModel(**cfg.model.kwargs(cfg.env.size, 6, reward_head=head))
        assert sum(p.numel() for p in model.parameters()) == expected
    assert model.feature_size == cfg.model.stoch + cfg.model.deter


@pytest.mark.parametrize("size", [16, 32, 64])
@pytest.mark.parametrize("discrete", [0, 3])
def test_shapes(size, discrete):
    model = tiny(size, discrete)
    B, T = 2, 3
    loss, post, metrics = model.loss(batch(B, T, size))
    F = model.feature_size
    assert F == (4 * discrete if discrete else 4) + 8
    assert loss.dim() == 0 and set(metrics) >= {"image_nll", "kl", "reward_nll", "loss"}
    assert model.features(post).shape == (B, T, F)
    assert model.decode(model.features(post)).shape == (B, T, size, size, 3)
    start = {k: v[:, -1] for k, v in post.items()}
    traj = model.imagine(start, lambda feat: torch.tanh(feat[..., :3]), horizon=4)
    assert traj["deter"].shape == (B, 5, 8) and traj["action"].shape == (B, 5, 3)
    assert torch.all(traj["action"][:, 0] == 0)
    assert model.predict(start, torch.zeros(B, 4, 2))["stoch"].shape[:2] == (B, 4)  # narrower actions pad


def test_is_first_resets_state():
    model = tiny()
    data = batch(1, 8)
    data["is_first"][0, 4] = True  # a new episode starts at t = 4
    embed = model.encode(torch.from_numpy(data["image"]))
    action, first = torch.from_numpy(data["action"]), torch.from_numpy(data["is_first"])
    post, _ = model.observe(embed, action, first, sample=False)
    alone, _ = model.observe(embed[:, 4:], action[:, 4:], first[:, 4:], sample=False)
    assert torch.allclose(model.features(post)[:, 4:], model.features(alone), atol=1e-6)
    first[0, 4] = False  # without the reset the carried state changes the features
    carried, _ = model.observe(embed, action, first, sample=False)
    assert not torch.allclose(model.features(carried)[:, 4:], model.features(alone), atol=1e-4)


@pytest.mark.parametrize("discrete", [0, 3])
def test_gradients_reach_every_parameter(discrete):
    model = tiny(discrete=discrete)
    model.free_nats = 0.0  # free nats would (correctly) block the KL gradient at init
    loss, _, _ = model.loss(batch())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_kl_gaussian_and_categorical_match_torch():
    D = torch.distributions
    m1, s1, m2, s2 = torch.randn(5, 4), torch.rand(5, 4) + 0.1, torch.randn(5, 4), torch.rand(5, 4) + 0.1
    ref = D.kl_divergence(D.Independent(D.Normal(m1, s1), 1), D.Independent(D.Normal(m2, s2), 1))
    assert torch.allclose(kl_gaussian(m1, s1, m2, s2), ref, atol=1e-5)
    l1, l2 = torch.randn(5, 3, 4), torch.randn(5, 3, 4)
    ref = D.kl_divergence(D.Categorical(logits=l1), D.Categorical(logits=l2)).sum(-1)
    assert torch.allclose(kl_categorical(l1, l2), ref, atol=1e-5)


def _states(kl_scale):
    post = {"mean": torch.zeros(4, 3, requires_grad=True), "std": torch.ones(4, 3)}
    prior = {"mean": torch.full((4, 3), kl_scale, requires_grad=True), "std": torch.ones(4, 3)}
    return post, prior


def test_free_nats_on_the_batch_mean():
    post, prior = _states(0.1)  # KL = 3 * 0.1^2 / 2 = 0.015 per (b, t), below 1 nat
    loss, kl = balanced_kl_loss(post, prior, 0.8, 1.0)
    assert loss.item() == pytest.approx(1.0) and kl.item() == pytest.approx(0.015)
    loss.backward()
    assert post["mean"].grad.abs().sum() == 0 and prior["mean"].grad.abs().sum() == 0


def test_kl_balancing_splits_gradient_08_02():
    post, prior = _states(2.0)  # KL = 6 per (b, t), above free nats
    loss, kl = balanced_kl_loss(post, prior, 0.8, 1.0)
    assert loss.item() == pytest.approx(6.0) and kl.item() == pytest.approx(6.0)
    loss.backward()
    # d KL / d mean is +-(mean_post - mean_prior) / N: the prior side gets 0.8 of it, the posterior side 0.2.
    n = post["mean"].shape[0]
    assert torch.allclose(prior["mean"].grad, torch.full((4, 3), 0.8 * 2.0 / n))
    assert torch.allclose(post["mean"].grad, torch.full((4, 3), -0.2 * 2.0 / n))


def test_pad_action_and_device():
    assert pad_action(np.ones((2, 3), np.float32), 5).shape == (2, 5)
    assert torch.equal(pad_action(torch.ones(2, 3), 4)[:, 3], torch.zeros(2))
    with pytest.raises(ValueError, match="at most 2"):
        pad_action(np.ones((2, 3)), 2)
    device = pick_device("cpu")
    with autocast(device):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
