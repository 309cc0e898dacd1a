"""PVDR's models: the token round trip, the CVAE's shapes, causal decoder and stop-gradient (Eq. 1), planning's
choice (Eq. 2), the supervised alignment (Eq. 5) and PPO through torchrl."""
import dataclasses

import numpy as np
import pytest
import torch
from tensordict import TensorDict

from deploy.config import load_config
from learner import PvdrConfig, Tokenizer, VisualDynamicsModel
from learner.pvdr.alignment import Alignment
from learner.pvdr.planner import Plan, choose, goal_distance, plan_toward

SMOKE = dataclasses.replace(load_config("smoke").pvdr)  # grid 4, codebook 32, dim 16, 1 block each
A = 3


def squares(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """n frames of an orange 8x8 square at random places on blue: (n, size, size, 3) uint8."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((n, size, size, 3), np.uint8)
    frames[..., 2] = 160
    for f, (y, x) in zip(frames, rng.integers(0, size - 8, (n, 2))):
        f[y:y + 8, x:x + 8] = (255, 128, 0)
    return torch.as_tensor(frames)


def test_the_tokenizer_round_trips_frames_through_its_codebook():
    torch.manual_seed(0)
    tok = Tokenizer(32, grid=8, codebook=64, code_dim=16, channels=32)
    opt = torch.optim.Adam(tok.parameters(), lr=3e-3)
    frames = squares(64)
    first = None
    for _ in range(150):
        loss, metrics = tok.loss(frames)
        first = first if first is not None else float(metrics["recon_mse"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    tokens = tok.encode(frames[:8])
    assert tokens.shape == (8, 8, 8) and tokens.dtype == torch.long and 0 <= tokens.min() <= tokens.max() < 64
    back = tok.decode(tokens)
    back = back.detach()
    assert back.shape == (8, 32, 32, 3) and 0 <= float(back.min()) and float(back.max()) <= 1
    mse = float(((back - frames[:8].float() / 255) ** 2).mean())
    assert mse < first / 4, (mse, first)  # the round trip keeps the picture, not just its mean colour
    assert torch.equal(tok.encode(frames[:8]), tokens)  # encoding is deterministic
    with pytest.raises(ValueError, match="does not tile"):
        Tokenizer(32, grid=6, codebook=8, code_dim=4, channels=4)


def test_encoding_never_moves_the_codebook_even_in_training_mode():
    """Online, frames of a new task leave source codes unused: encoding them must not re-assign those codes."""
    torch.manual_seed(0)
    tok = Tokenizer(32, grid=8, codebook=16, code_dim=8, channels=8)
    tok.loss(squares(16))  # k-means initialisation and one EMA update, as pretraining does
    codebook = tok.vq.codebook.clone()
    other = torch.full((16, 32, 32, 3), 30, dtype=torch.uint8)  # frames unlike the training ones
    assert tok.training
    for _ in range(5):
        tok.encode(other)
    assert torch.equal(tok.vq.codebook, codebook)
    tok.loss(other)  # while the tokenizer trains, its codebook does move
    assert not torch.equal(tok.vq.codebook, codebook)


def snippet(cfg: PvdrConfig, B: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, cfg.codebook, (B, cfg.context, cfg.grid, cfg.grid), generator=g)
    y = torch.randint(0, cfg.codebook, (B, cfg.future, cfg.grid, cfg.grid), generator=g)
    return x, y


def test_the_cvae_shapes_and_its_decoder_is_causal():
    torch.manual_seed(0)
    model, cfg = VisualDynamicsModel(SMOKE), SMOKE
    x, y = snippet(cfg)
    mean, std = model.posterior(x, y)
    assert mean.shape == std.shape == (3, cfg.grid, cfg.grid, cfg.z_dim) and float(std.min().detach()) > 0
    assert model.prior(x)[0].shape == mean.shape
    logits = model.decode_logits(x, mean, y[:, :-1])
    assert logits.shape == (3, cfg.future, cfg.grid, cfg.grid, cfg.codebook)
    other = y.clone()
    other[:, 1:] = (other[:, 1:] + 1) % cfg.codebook  # change every future frame after the first
    changed = model.decode_logits(x, mean, other[:, :-1])
    assert torch.allclose(logits[:, :2], changed[:, :2], atol=1e-5)  # frames 1-2 see y_1 only: unchanged
    assert not torch.allclose(logits[:, 2:], changed[:, 2:])
    assert model.generate(x, mean).shape == y.shape


def test_cached_generation_gives_the_tokens_of_decoding_the_whole_prefix_each_frame():
    torch.manual_seed(1)
    model = VisualDynamicsModel(dataclasses.replace(SMOKE, decoder_depth=2)).eval()
    x, _ = snippet(SMOKE, B=6)
    z = torch.randn(6, SMOKE.grid, SMOKE.grid, SMOKE.z_dim)
    with torch.no_grad():
        y = x[:, :0]
        for _ in range(SMOKE.future):  # the reference: the causal decoder over the growing prefix, frame by frame
            y = torch.cat([y, model.decode_logits(x, z, y)[:, -1:].argmax(-1)], 1)
        assert torch.equal(model.generate(x, z), y)


def test_the_prior_loss_moves_the_prior_and_never_the_encoder():
    torch.manual_seed(0)
    model = VisualDynamicsModel(SMOKE)
    x, y = snippet(SMOKE)
    mean, std = model.posterior(x, y)
    model.prior_kl(x, mean, std).backward()
    encoder = [p.grad for p in [*model.encoder.parameters(), *model.posterior_head.parameters()]]
    assert all(g is None or not g.any() for g in encoder)  # sg[E] in Eq. 1
    assert any(p.grad is not None and p.grad.any() for p in model.prior_head.parameters())
    loss, metrics = model.loss(x, y)
    assert torch.isfinite(loss) and set(metrics) == {"rec_nll", "kl_posterior", "kl_prior", "loss"}


def test_planning_keeps_the_candidate_whose_plan_is_nearest_the_goal():
    goal = torch.full((2, 8, 8, 3), 0.5)
    offsets = torch.tensor([[0.3, -0.2, 0.05, 0.1], [0.02, 0.4, -0.3, -0.01]])  # row 0: index 2, row 1: index 3
    frames = (0.5 + offsets).view(2, 4, 1, 1, 1, 1).expand(2, 4, 3, 8, 8, 3)
    drawn = Plan(torch.arange(8.0).view(2, 4, 1, 1, 1), torch.arange(8).view(2, 4, 1, 1, 1), frames, None)
    plan = choose(drawn, goal)
    assert plan.z.flatten().tolist() == [2.0, 7.0] and plan.tokens.flatten().tolist() == [2, 7]
    assert torch.allclose(plan.distance, torch.tensor([0.05, 0.01]))
    assert torch.equal(plan.frames, frames[[0, 1], [2, 3]])


def test_planning_decodes_every_candidate_from_the_prior():
    torch.manual_seed(0)
    cfg = SMOKE
    tok = Tokenizer(32, cfg.grid, cfg.codebook, cfg.code_dim, cfg.channels)
    tok.encode(squares(32))  # k-means initialises the codebook
    model = VisualDynamicsModel(cfg).eval()
    x = tok.encode(squares(2 * cfg.context, seed=1)).view(2, cfg.context, cfg.grid, cfg.grid)
    goal = squares(2, seed=2).float() / 255
    plan = plan_toward(model, tok, x, goal, candidates=6)
    assert plan.z.shape == (2, cfg.grid, cfg.grid, cfg.z_dim)
    assert plan.tokens.shape == (2, cfg.future, cfg.grid, cfg.grid)
    assert plan.frames.shape == (2, cfg.future, 32, 32, 3) and plan.distance.shape == (2,)
    assert torch.allclose(plan.distance, goal_distance(plan.frames, goal))
    assert plan_toward(model, tok, x, goal, candidates=6, random_z=True).z.shape == plan.z.shape


def test_the_supervised_alignment_recovers_a_known_action_map():
    torch.manual_seed(0)
    align = Alignment(SMOKE, A)
    weights = torch.randn(SMOKE.z_dim, A)
    opt = torch.optim.Adam(align.parameters(), lr=3e-3)
    tokens = torch.randint(0, SMOKE.codebook, (256, SMOKE.context, SMOKE.grid, SMOKE.grid))
    z = torch.randn(256, SMOKE.grid, SMOKE.grid, SMOKE.z_dim)
    action = torch.tanh(z.mean((1, 2)) @ weights)  # the action each representation stands for
    losses = []
    for _ in range(300):
        idx = torch.randint(0, 256, (64,))
        loss, _ = align.supervised_loss(tokens[idx], z[idx], action[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-20:]) < 0.2 * np.mean(losses[:20]), (losses[:3], losses[-3:])


def test_ppo_through_torchrl_moves_the_policy_toward_the_rewarded_action():
    torch.manual_seed(0)
    align = Alignment(dataclasses.replace(SMOKE, ppo_entropy=0.0, actor_lr=3e-3), A)
    target = torch.tensor([0.6, -0.5, 0.3])
    tokens = torch.randint(0, SMOKE.codebook, (32, 4, SMOKE.context, SMOKE.grid, SMOKE.grid))
    z = torch.randn(32, 4, SMOKE.grid, SMOKE.grid, SMOKE.z_dim)

    def error() -> float:
        action, _ = align.act(tokens.flatten(0, 1), z.flatten(0, 1), explore=False)
        return float((action - target).pow(2).sum(-1).mean())

    before = error()
    for _ in range(40):  # a one-step bandit per row: reward -||a - target||^2, episodes of 4 steps
        action, log_prob = align.act(tokens.flatten(0, 1), z.flatten(0, 1))
        reward = -(action - target).pow(2).sum(-1).view(32, 4, 1)
        done = torch.zeros(32, 4, 1, dtype=torch.bool)
        done[:, -1] = True
        batch = TensorDict({"tokens": tokens, "z": z, "action": action.view(32, 4, A),
                            align.log_prob_key: log_prob.view(32, 4),
                            "next": {"tokens": tokens, "z": z, "reward": reward, "done": done, "terminated": done}},
                           batch_size=[32, 4])
        metrics = align.ppo_update(batch)
        assert all(np.isfinite(v) for v in metrics.values())
    assert error() < 0.5 * before, (before, error())


def test_ppo_takes_every_epoch_over_shuffled_minibatches_of_the_batch():
    torch.manual_seed(0)
    align = Alignment(dataclasses.replace(SMOKE, ppo_minibatch=50, ppo_epochs=2), A)
    B, T = 16, 8  # 128 transitions: 3 minibatches of 42-43 per epoch
    tokens = torch.randint(0, SMOKE.codebook, (B, T, SMOKE.context, SMOKE.grid, SMOKE.grid))
    z = torch.randn(B, T, SMOKE.grid, SMOKE.grid, SMOKE.z_dim)
    action, log_prob = align.act(tokens.flatten(0, 1), z.flatten(0, 1))
    done = torch.zeros(B, T, 1, dtype=torch.bool)
    batch = TensorDict({"tokens": tokens, "z": z, "action": action.view(B, T, A), align.log_prob_key:
                        log_prob.view(B, T), "next": {"tokens": tokens, "z": z, "reward": torch.randn(B, T, 1),
                                                      "done": done, "terminated": done}}, batch_size=[B, T])
    metrics = align.ppo_update(batch, torch.Generator().manual_seed(0))
    assert metrics["ppo_steps"] == 6
    steps = {int(state["step"]) for state in align.actor_opt.state.values()}
    assert steps == {6}, steps  # Adam stepped once per minibatch
    before = {k: v.clone() for k, v in align.state_dict().items()}
    batch["next", "reward"][0, 0] = float("nan")  # a non-finite advantage: every minibatch holding it moves nothing
    align.ppo_update(batch, torch.Generator().manual_seed(0))
    assert all(torch.isfinite(v).all() for v in align.state_dict().values())
    assert any(not torch.equal(v, before[k]) for k, v in align.state_dict().items())  # the other minibatches step
