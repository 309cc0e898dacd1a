"""The agent definition: methods decide the parts, the learner owns and round-trips its state, the player reads
checkpoints, and acting code never loads the training module."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from learner import (
    METHODS,
    ActionVAEConfig,
    ActorCriticConfig,
    AgentSpec,
    CheckpointError,
    Learner,
    LearnerConfig,
    Player,
    WorldModelConfig,
    get_method,
)

B, T, S, A, FT = 2, 5, 32, 4, 20
SMALL = WorldModelConfig(depth=4, stoch=6, deter=12, hidden=12, units=12)


def make_spec(method: str, n: int = 2) -> AgentSpec:
    return AgentSpec.create(SMALL, ActorCriticConfig(units=12, actor_layers=2, value_layers=2),
                            ActionVAEConfig(latent=4, hidden=16), method=method, image_size=S, action_dim=A,
                            action_width=6, n_domains=n)


def config(**model) -> LearnerConfig:
    return LearnerConfig(model=WorldModelConfig(**{**SMALL.__dict__, **model}), ac=ActorCriticConfig(horizon=3),
                         vae=ActionVAEConfig(batch=8))


def make_learner(method="vid2act", seed=0, **model) -> Learner:
    spec = make_spec(method)
    pairs = [(torch.randn(30, FT), torch.rand(30, A) * 2 - 1) for _ in range(2)] if spec.guided else None
    return Learner(spec, config(**model), FT, pairs, seed=seed, domains=["walker_walk", "hopper_stand"])




def teachers(spec):
    return torch.randn(2, B, T, FT) if spec.teachers else None


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if not method.pvdr])  # PVDR's own tests
def test_a_method_value_decides_which_parts_are_built_and_trained(name, make_batch):
    method, learner = get_method(name), make_learner(name)
    assert (learner.distiller is not None) == method.teachers
    assert (learner.vae is not None) == method.guided
    assert learner.spec.n_domains == (2 if method.teachers else 0)
    if method.teachers:
        assert learner.distiller.uniform == method.uniform_weights
    metrics = learner.update(make_batch(B, T, S, A), teachers(learner.spec))
    assert ("train/domain_weight/walker_walk" in metrics) == method.teachers  # named where features come from
    assert ("train/vae_loss" in metrics) == method.guided
    player = Player(learner.spec)
    assert (player.vae is not None) == method.guided
    assert player.actor.net.net[0].in_features == learner.ac.actor.net.net[0].in_features  # one builder for both


def test_unknown_methods_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown method 'ppo'.*vid2act"):
        get_method("ppo")


def test_learner_state_round_trips_through_save_and_restore(tmp_path, make_batch):
    learner = make_learner()
    for i in range(3):
        learner.update(make_batch(B, T, S, A, i), teachers(learner.spec))
    saved_stream = torch.get_rng_state()
    learner.save(tmp_path / "ckpt", env_steps=1234)
    twin = make_learner(seed=1)  # other initial weights: everything must come from the checkpoint
    info = twin.restore(tmp_path / "ckpt")
    assert info["env_steps"] == 1234 and twin.updates == learner.updates == 3 and twin.version == 3
    assert torch.equal(torch.get_rng_state(), saved_stream)  # the random streams go on where they stopped
    assert torch.equal(twin.generator.get_state(), learner.generator.get_state())
    assert twin.ac.updates == learner.ac.updates
    torch.testing.assert_close(twin.running.value, learner.running.value)
    for name, part in learner._parts().items():
        theirs = twin._parts()[name].state_dict()
        if isinstance(part, torch.optim.Optimizer):
            mine = part.state_dict()["state"]
            for index, slots in mine.items():
                for slot, value in slots.items():
                    torch.testing.assert_close(theirs["state"][index][slot], value)
        else:
            for key, value in part.state_dict().items():
                torch.testing.assert_close(theirs[key], value, msg=f"{name}.{key}")


def test_restore_applies_the_configured_learning_rates(tmp_path, make_batch):
    """What the config says is what runs: a resumed learner uses the rates it is built with, not the saved ones."""
    learner = make_learner()
    learner.update(make_batch(B, T, S, A), teachers(learner.spec))
    learner.save(tmp_path)
    resumed = make_learner(lr=1e-5)
    resumed.restore(tmp_path)
    assert resumed.model_opt.param_groups[0]["lr"] == 1e-5 and resumed.vae_opt.param_groups[0]["lr"] == 1e-5
    assert resumed.ac.actor_opt.param_groups[0]["lr"] == ActorCriticConfig().actor_lr


def test_restore_refuses_a_checkpoint_of_another_method(tmp_path):
    make_learner("dreamerv2").save(tmp_path)
    with pytest.raises(CheckpointError, match="another model or method"):
        make_learner("vid2act").restore(tmp_path)


def test_weights_are_versioned_by_updates_and_the_player_reads_them_from_a_checkpoint(tmp_path, make_batch):
    learner = make_learner()
    _, v0 = learner.policy_weights()
    for i in range(2):
        learner.update(make_batch(B, T, S, A, i), teachers(learner.spec))
    weights, version = learner.policy_weights()
    assert (v0, version) == (0, 2)
    learner.save(tmp_path)
    player = Player.from_checkpoint(tmp_path)
    assert player.version == version and int(player.mixture.argmax()) == learner.running.dominant()
    saved = player.weights()
    assert saved.keys() == weights.keys()
    for key, value in weights.items():
        np.testing.assert_array_equal(saved[key], value, err_msg=key)
    frames = dict(image=make_batch(B, T, S, A)["image"][:, 0], is_first=np.ones(B, bool))
    broadcast = Player(learner.spec, explore=False)
    broadcast.load(weights, version)
    np.testing.assert_allclose(player(frames), broadcast(frames), atol=1e-6)


def test_a_player_reports_an_unusable_checkpoint_by_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint.json: missing"):
        Player.from_checkpoint(tmp_path)


def test_acting_processes_do_not_load_the_training_module():
    code = "import sys, actors, learner; learner.Player; assert 'learner.learner' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_diverging_learner_skips_nonfinite_updates_then_stops_and_never_publishes_nan(tmp_path, make_batch):
    """Learning rate 1e3 on the tiny model: losses blow up; no non-finite step is applied, the skips are counted,
    `nonfinite_limit` in a row stop training, and what is broadcast or saved is always finite."""
    from learner import DivergenceError

    learner = make_learner("dreamerv2", lr=1e3)
    learner.config.ac.actor_lr = learner.config.ac.critic_lr = 1e3
    learner.config.model.nonfinite_limit = 3
    for group in (*learner.ac.actor_opt.param_groups, *learner.ac.critic_opt.param_groups):
        group["lr"] = 1e3
    learner.save(tmp_path / "good")
    skipped, error = 0, None
    for i in range(200):
        try:
            skipped = learner.update(make_batch(B, T, S, A, i))["train/skipped_updates"]
        except DivergenceError as err:
            error = err
            break
        weights, _ = learner.policy_weights()  # raises rather than returning NaN
        assert all(np.isfinite(v).all() for v in weights.values() if v.dtype.kind == "f")
    assert error is not None and "3 updates in a row" in str(error) and "lower model.lr" in str(error)
    assert skipped >= 2 and learner.skipped >= 3
    for p in learner.model.parameters():
        assert torch.isfinite(p).all()  # the skipped steps moved nothing
    learner.save(tmp_path / "after")  # still finite: saved
    assert Player.from_checkpoint(tmp_path / "good").version == 0  # the earlier checkpoint is untouched


def test_a_corrupt_checkpoint_names_its_file_instead_of_loading_other_weights(tmp_path, make_batch):
    learner = make_learner()
    learner.update(make_batch(B, T, S, A), teachers(learner.spec))
    learner.save(tmp_path)
    tensors = tmp_path / "checkpoint.safetensors"
    data = bytearray(tensors.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 100] = bytes(b ^ 0x55 for b in data[middle:middle + 100])  # inside the tensors
    tensors.write_bytes(bytes(data))
    for load in (make_learner().restore, Player.from_checkpoint):
        with pytest.raises(CheckpointError, match="checkpoint.safetensors: content does not match the hash"):
            load(tmp_path)


def test_the_distillation_variants_train_end_to_end(make_batch):
    """Per-teacher heads, the mean target, the floor on the dominant teacher only and distance weights, together."""
    from learner import DistillConfig

    spec = make_spec("vid2act")
    cfg = config()
    cfg.distill = DistillConfig(heads="per_teacher", target="mean", floor="dominant", weights="distance", tau=0.5)
    pairs = [(torch.randn(30, FT), torch.rand(30, A) * 2 - 1) for _ in range(2)]
    learner = Learner(spec, cfg, FT, pairs, domains=["walker_walk", "hopper_stand"])
    before = [p.clone() for p in learner.distiller.f_distill[1].parameters()]
    for i in range(3):
        metrics = learner.update(make_batch(B, T, S, A, i), torch.randn(2, B, T, FT))
    assert all(np.isfinite(v) for v in metrics.values()) and learner.updates == 3
    assert abs(metrics["train/domain_weight/walker_walk"] + metrics["train/domain_weight/hopper_stand"] - 1) < 1e-5
    assert any(not torch.equal(a, b) for a, b in zip(before, learner.distiller.f_distill[1].parameters()))


def test_the_actor_reads_a_slow_g_with_z_zero_when_configured(tmp_path, make_batch):
    """vae.slow_every: the actor's G (broadcast, checkpointed as `vae`) changes only every slow_every updates;
    vae.zero_z: h_G is deterministic in imagination and acting."""
    from learner import ActionVAEConfig

    model_cfg = config()
    model_cfg.vae = ActionVAEConfig(batch=8, slow_every=3, zero_z=True, latent=4, hidden=16)
    spec = AgentSpec.create(SMALL, ActorCriticConfig(units=12, actor_layers=2, value_layers=2), model_cfg.vae,
                            method="vid2act", image_size=S, action_dim=A, action_width=6, n_domains=2)
    pairs = [(torch.randn(30, FT), torch.rand(30, A) * 2 - 1) for _ in range(2)]
    learner = Learner(spec, model_cfg, FT, pairs)
    assert learner.guide_vae is not learner.vae and spec.vae_zero_z
    frozen = {k: v.clone() for k, v in learner.guide_vae.state_dict().items()}
    for i in range(2):
        learner.update(make_batch(B, T, S, A, i), torch.randn(2, B, T, FT))
    assert all(torch.equal(v, learner.guide_vae.state_dict()[k]) for k, v in frozen.items())  # not yet synced
    learner.update(make_batch(B, T, S, A, 2), torch.randn(2, B, T, FT))
    for k, v in learner.vae.state_dict().items():  # synced at update 3
        assert torch.equal(v, learner.guide_vae.state_dict()[k])
    guide, feat = learner._guide(), torch.randn(5, learner.model.feature_size)
    torch.testing.assert_close(guide(feat), guide(feat))  # z = 0: no sampling noise
    learner.save(tmp_path)
    player = Player.from_checkpoint(tmp_path, explore=True)
    for k, v in learner.guide_vae.state_dict().items():  # the acting G is the slow one
        assert torch.equal(player.vae.state_dict()[k], v)
    twin = Learner(spec, model_cfg, FT, pairs, seed=3)
    twin.restore(tmp_path)
    for k, v in learner.vae.state_dict().items():
        assert torch.equal(twin.vae.state_dict()[k], v)


def test_a_spec_saved_before_a_field_existed_still_matches():
    saved = make_spec("vid2act").to_dict()
    del saved["vae_zero_z"]  # a checkpoint written before vae.zero_z existed
    assert AgentSpec.from_dict(saved).to_dict() == make_spec("vid2act").to_dict()


def test_a_soft_mixture_of_domains_reaches_the_player(tmp_path, make_batch):
    """vae.mixture: the actor reads every domain's h_G weighted by the running weights, in imagination, in the
    broadcast and in a checkpoint's player."""
    vae = ActionVAEConfig(batch=8, mixture=True, norm=True, latent=4, hidden=16)
    spec = AgentSpec.create(SMALL, ActorCriticConfig(units=12, actor_layers=2, value_layers=2), vae,
                            method="vid2act", image_size=S, action_dim=A, action_width=6, n_domains=2)
    cfg = config()
    cfg.vae = vae
    learner = Learner(spec, cfg, FT, [(torch.randn(30, FT), torch.rand(30, A) * 2 - 1) for _ in range(2)])
    learner.update(make_batch(B, T, S, A), torch.randn(2, B, T, FT))
    weights, _ = learner.policy_weights()
    running = learner.running.value / learner.running.value.sum()
    np.testing.assert_allclose(weights["mixture"], running.numpy(), rtol=1e-6)
    assert 0 < weights["mixture"].min() < weights["mixture"].max() < 1  # a mixture, not a switch
    learner.save(tmp_path)
    player = Player.from_checkpoint(tmp_path)
    torch.testing.assert_close(player.mixture, running)
    frames = make_batch(B, T, S, A)["image"][:, 0]
    assert player(dict(image=frames, is_first=np.ones(B, bool))).shape == (B, A)
