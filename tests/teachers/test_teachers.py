"""Teachers (Eq. 2): overfitting, checkpoints and resume, batched (both encoder layouts) == looped == Ray features,
frozen, clear errors, shipped in a sources bundle."""
import dataclasses
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from deploy.config import load_config
from learner import CHECKPOINT_SIDECAR, CheckpointError, WorldModel
from learner.checkpoint import TENSORS
from replay import DatasetReader, DatasetWriter
from teachers import LocalTeachers, Pretrainer, TeacherConfig, TeacherPool, load_teacher, teacher_info, write_report

SIZE, A, L = 16, 2, 24
KW = dict(image_size=SIZE, action_dim=3, depth=2, stoch=4, discrete=0, deter=8, hidden=8, min_std=0.1, units=8,
          reward_layers=1, kl_balance=0.8, free_nats=1.0, kl_scale=1.0)
SETTINGS = dict(batch=4, seq_len=8, lr=3e-3, eps=1e-5, clip=100.0, log_every=5, checkpoint_every=5, heldout=1)


def moving_square(seed: int) -> tuple[dict, dict]:
    """A 4x4 square the 2-d action moves around a 16x16 frame: learnable action-conditioned video."""
    rng = np.random.default_rng(seed)
    action = rng.uniform(-1, 1, (L, A)).astype(np.float32)
    action[0] = 0
    pos, image = np.array([6.0, 6.0]), np.zeros((L, SIZE, SIZE, 3), np.uint8)
    for t in range(L):
        pos = np.clip(pos + 2 * action[t], 0, SIZE - 4)
        y, x = pos.astype(int)
        image[t, y:y + 4, x:x + 4] = (255, 128, 0)
    ep = {"image": image, "action": action, "reward": np.zeros(L, np.float32), "is_first": np.arange(L) == 0,
          "is_last": np.arange(L) == L - 1, "is_terminal": np.zeros(L, bool), "success": np.zeros(L, bool)}
    meta = {"policy": "random", "seed": seed, "return": 0.0, "length": L}
    return ep, meta


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "square"
    writer = DatasetWriter(root, "dmc", "square", render_mode="fast", size=SIZE, action_repeat=2, action_dim=A)
    for i in range(4):
        writer.write(i, *moving_square(i))
    reader = DatasetReader(root)
    info = {"suite": "dmc", "task": "square", "action_dim": A, "manifest_hash": reader.manifest_hash()}
    return root, [ep for ep, _ in reader.load_all()], info


def trainer(out, dataset, steps, seed=0, **kw):
    _, episodes, info = dataset
    return Pretrainer(out, episodes, info, dict(KW, **kw), TeacherConfig(steps=steps, **SETTINGS), seed=seed,
                      progress=False)


def make_teachers(tmp_path, dataset, n, **kw):
    dirs = []
    for i in range(n):
        t = trainer(tmp_path / f"t{i}", dataset, steps=0, seed=i, **kw)
        t.save()
        dirs.append(tmp_path / f"t{i}")
    return dirs


def test_teacher_overfits_tiny_dataset(tmp_path, dataset):
    t = trainer(tmp_path / "t", dataset, steps=80)
    first = t.update()["teacher/loss"]
    losses = [t.update()["teacher/loss"] for _ in range(79)]
    assert np.mean(losses[-5:]) < first / 3, (first, losses[-5:])  # falls at least 3x in 80 steps


def test_resume_after_kill_continues_exactly(tmp_path, dataset):
    straight = trainer(tmp_path / "a", dataset, steps=6)
    straight.run()
    killed = trainer(tmp_path / "b", dataset, steps=3)
    killed.run()  # checkpoints at step 3, then the process "dies"
    resumed = trainer(tmp_path / "b", dataset, steps=6)
    assert resumed.step == 3
    resumed.run()
    assert resumed.step == straight.step == 6
    for (name, p), q in zip(straight.model.named_parameters(), resumed.model.parameters()):
        assert torch.equal(p, q), name
    info = json.loads((tmp_path / "b" / "checkpoint.json").read_text())
    assert info["step"] == 6 and info["manifest_hash"] == dataset[2]["manifest_hash"]
    assert list((tmp_path / "b" / "tb").glob("events.*"))
    with pytest.raises(CheckpointError, match="deter"):  # another architecture in the same directory
        trainer(tmp_path / "b", dataset, steps=6, deter=16)


def test_resume_applies_the_configured_learning_rate(tmp_path, dataset):
    trainer(tmp_path / "t", dataset, steps=2).run()
    _, episodes, info = dataset
    resumed = Pretrainer(tmp_path / "t", episodes, info, KW, TeacherConfig(steps=4, **{**SETTINGS, "lr": 1e-5}),
                         progress=False)
    assert resumed.step == 2 and resumed.optimizer.param_groups[0]["lr"] == 1e-5


def test_checkpoint_round_trip_and_report(tmp_path, dataset):
    t = trainer(tmp_path / "t", dataset, steps=5)
    t.run()
    model, info = load_teacher(tmp_path / "t")
    assert info["step"] == 5 and info["task"] == "square" and info["kwargs"]["reward_head"] is False
    for p, q in zip(t.model.parameters(), model.parameters()):
        assert torch.equal(p, q) and not q.requires_grad
    report = write_report(model, t.heldout_eps, tmp_path / "report", context=5, horizon=45)
    assert report["context"] == 5 and report["horizon"] == L - 5 and len(report["psnr"]) == L - 5
    for name in ("openloop.png", "openloop.json", "openloop_metrics.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0


def test_batched_equals_loop_equals_ray(tmp_path, dataset):
    import ray

    from deploy.ray_runtime import local_ray
    from deploy.teacher_service import RemoteTeachers, remote_features, start_teacher_actors
    dirs = make_teachers(tmp_path, dataset, 3)
    pool = TeacherPool.load(dirs)
    batch = {k: np.stack([ep[k][:8] for ep in dataset[1][:2]]) for k in ("image", "action", "is_first")}
    batched = pool.features(batch["image"], batch["action"], batch["is_first"])
    looped = pool.features_loop(batch["image"], batch["action"], batch["is_first"])
    assert batched.shape == (3, 2, 8, pool.feature_size)
    assert torch.allclose(batched, looped, atol=1e-5)
    assert not torch.allclose(batched[0], batched[1])  # each teacher its own features
    grouped = TeacherPool.load(dirs, grouped_convs=True)  # CUDA's encoder layout: one (grouped) conv per layer
    assert not pool.grouped_convs and grouped.grouped_convs
    torch.testing.assert_close(grouped.features(batch["image"], batch["action"], batch["is_first"]), looped,
                               atol=1e-5, rtol=1e-5)
    local_ray()
    try:
        handles = start_teacher_actors([str(d) for d in dirs], groups=2, num_cpus=1)
        remote = remote_features(handles, batch)
        # the learner's two views of the pool: the action VAE's source features agree, and both check the student
        far, near = RemoteTeachers(handles), LocalTeachers(pool)
        assert far.feature_size == near.feature_size == pool.feature_size
        assert far.domains == near.domains == ["square"] * 3  # metric names come from the teachers' sidecars
        for i in (0, 2):  # teacher 2 lives in the second actor
            got, want = far.source_pairs(i, str(dataset[0]), 50, 0), near.source_pairs(i, str(dataset[0]), 50, 0)
            assert got[0].shape == (50, pool.feature_size)
            torch.testing.assert_close(got[0], want[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(got[1], want[1])
        with pytest.raises(ray.exceptions.RayTaskError, match="does not match the teachers"):
            far.check_compatible({**KW, "deter": 16})
    finally:
        ray.shutdown()
    assert remote.shape == (3, 2, 8, pool.feature_size)
    np.testing.assert_allclose(remote, batched.numpy(), atol=1e-5)


def test_frozen_teachers_receive_no_gradients(tmp_path, dataset):
    pool = TeacherPool.load(make_teachers(tmp_path, dataset, 2))
    student = WorldModel(**KW, reward_head=True)
    batch = {k: np.stack([ep[k][:8] for ep in dataset[1][:2]]) for k in ("image", "action", "is_first", "reward")}
    feat_NBTF = pool.features(batch["image"], batch["action"], batch["is_first"])
    loss, post, _ = student.loss(batch)
    loss = loss + (feat_NBTF - student.features(post)).pow(2).mean()  # a distillation-like term
    loss.backward()
    assert not feat_NBTF.requires_grad
    assert all(p.grad is None for m in pool.models for p in m.parameters())
    assert all(p.grad is not None for p in student.encoder.parameters())


def test_clear_errors(tmp_path, dataset):
    dirs = make_teachers(tmp_path, dataset, 1)
    other = make_teachers(tmp_path / "wide", dataset, 1, deter=16)
    with pytest.raises(ValueError, match="differ in architecture.*deter"):
        TeacherPool.load(dirs + other)
    pool = TeacherPool.load(dirs)
    with pytest.raises(ValueError, match="feature size"):
        pool.check_compatible(dict(KW, deter=16))
    pool.check_compatible(dict(KW, reward_head=True))  # the reward head does not change features
    with pytest.raises(ValueError, match="built for 3"):
        pool.features(np.zeros((1, 2, SIZE, SIZE, 3), np.uint8), np.zeros((1, 2, 4), np.float32),
                      np.ones((1, 2), bool))
    with pytest.raises(CheckpointError, match="checkpoint.json: missing"):
        TeacherPool.load([tmp_path / "nowhere"])
    with pytest.raises(CheckpointError, match="nowhere.*vid2act pretrain"):
        teacher_info(tmp_path / "nowhere")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / CHECKPOINT_SIDECAR).write_text("{not json")
    with pytest.raises(CheckpointError, match=f"{garbage / CHECKPOINT_SIDECAR}: unreadable"):
        teacher_info(garbage)
    tensors = dirs[0] / TENSORS
    data = bytearray(tensors.read_bytes())
    data[-100:] = bytes(100)  # same size, still parses: a silently different teacher without the recorded hash
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=f"{tensors}: content does not match the hash.*vid2act pretrain"):
        TeacherPool.load(dirs)


def test_pretrain_command(tmp_path, dataset):
    from deploy import pretrain
    cfg = load_config("smoke", ["env.size=16", "model.action_pad=3", "teacher.steps=4", "teacher.checkpoint_every=2",
                                "teacher.seq_len=8"])
    summary = pretrain.pretrain(cfg, dataset[0], tmp_path / "teacher")
    assert summary["steps"] == 4 and summary["action_width"] == 3
    for name in ("checkpoint.safetensors", "checkpoint.json", "config.yaml", "report/openloop.png"):
        assert (tmp_path / "teacher" / name).exists()
    pool = TeacherPool.load([tmp_path / "teacher"])
    assert pool.tasks == ["dmc/square"] and pool.kwargs["depth"] == dataclasses.asdict(cfg.model)["depth"]


def test_sources_bundle_ships_teachers_without_optimiser_moments(tmp_path, dataset):
    spec = importlib.util.spec_from_file_location("sources_pack", Path(__file__).parents[2] / "bench" /
                                                  "sources_pack.py")
    sources_pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sources_pack)
    root, bundle, fresh = tmp_path / "root", tmp_path / "bundle", tmp_path / "fresh"
    teacher = trainer(root / "teachers" / "square", dataset, steps=5)
    teacher.run()
    (root / "teachers" / "square" / "config.yaml").write_text("seed: 0\n")
    (root / "agents" / "dmc-square").mkdir(parents=True)
    (root / "agents" / "dmc-square" / "final.json").write_text("{}")
    bundle.mkdir()
    (bundle / "teacher-square-openloop.json").write_text("{}")  # a report kept beside the bundle: not a source
    manifest = sources_pack.pack(root, bundle)
    assert "teacher-square-openloop.json" not in manifest
    full = (root / "teachers" / "square" / TENSORS).stat().st_size
    assert manifest[f"teachers/square/{TENSORS}"]["bytes"] < full / 2.5  # Adam's two slots dropped

    assert sorted(sources_pack.unpack(bundle, fresh)) == sorted(manifest)
    model, _ = load_teacher(fresh / "teachers" / "square")
    for p, q in zip(teacher.model.parameters(), model.parameters()):
        assert torch.equal(p, q)
    resumed = trainer(fresh / "teachers" / "square", dataset, steps=6)  # Adam restarts from zero moments
    assert resumed.step == 5 and not resumed.optimizer.state
    resumed.run()
    assert resumed.step == 6
    assert sources_pack.unpack(bundle, fresh) == []  # what the root holds is kept

    tensors = bundle / "teachers" / "square" / TENSORS
    data = bytearray(tensors.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tensors.write_bytes(bytes(data))
    with pytest.raises(SystemExit, match=f"{tensors}: missing or not the file MANIFEST.json records"):
        sources_pack.unpack(bundle, tmp_path / "other")
    assert not (tmp_path / "other").exists()
