"""Offline datasets: Parquet round trip, resumable writes, corrupt/truncated/missing files, window sampling."""
import json
import logging

import numpy as np
import pytest

from replay.dataset import (
    DatasetError,
    DatasetReader,
    DatasetWriter,
    episode_file,
    sample_windows,
)

COMMON = {"render_mode": "fast", "size": 16, "action_repeat": 2, "action_dim": 3}


@pytest.fixture
def dataset(tmp_path, make_episode):
    """A 3-episode dataset; returns (dir, [(ep, meta), ...])."""
    writer = DatasetWriter(tmp_path / "walker_walk", "dmc", "walker_walk", **COMMON)
    written = []
    for index in range(3):
        ep, meta = make_episode(length=12 + index, seed=index)
        writer.write(index, ep, meta)
        written.append((ep, meta))
    return tmp_path / "walker_walk", written


def test_round_trip_and_manifest(dataset):
    path, written = dataset
    reader = DatasetReader(path)
    assert len(reader) == 3
    assert reader.meta == {"suite": "dmc", "task": "walker_walk", **COMMON}
    for (ep, meta), (back, back_meta) in zip(written, reader.episodes()):
        for key in ep:
            np.testing.assert_array_equal(ep[key], back[key])
        assert back_meta["seed"] == meta["seed"] and back_meta["index"] == meta["seed"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["totals"]["episodes"] == 3 and manifest["totals"]["steps"] == 12 + 13 + 14
    assert [e["file"] for e in manifest["episodes"]] == [episode_file(i) for i in range(3)]
    assert len(reader.manifest_hash()) == 64


def test_writer_resumes_and_cleans_temp_leftovers(dataset, make_episode):
    path, _ = dataset
    (path / ".episode-00003.parquet.999999999.tmp").write_bytes(b"half a file from a killed writer")
    writer = DatasetWriter(path, "dmc", "walker_walk", **COMMON)
    assert not list(path.glob(".*.tmp"))
    assert writer.missing(range(4)) == [3]
    before = DatasetReader(path).manifest_hash()
    writer.write(3, *make_episode(seed=3))
    writer.write(3, *make_episode(seed=3))  # a rewrite replaces, never duplicates
    reader = DatasetReader(path)
    assert len(reader) == 4 and reader.manifest_hash() != before
    (path / episode_file(1)).write_bytes(b"corrupt")
    assert writer.missing(range(4)) == [1]  # a re-run rewrites a truncated or replaced episode
    data = bytearray((path / episode_file(2)).read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one flipped bit: only a verifying resume finds it
    (path / episode_file(2)).write_bytes(bytes(data))
    assert writer.missing(range(4)) == [1] and writer.missing(range(4), verify=True) == [1, 2]


def test_writer_rejects_a_bad_episode(tmp_path, make_episode):
    writer = DatasetWriter(tmp_path / "d", "dmc", "walker_walk", **COMMON)
    ep, meta = make_episode(size=32)
    with pytest.raises(ValueError, match="image"):
        writer.write(0, ep, meta)
    assert not list((tmp_path / "d").glob("*.parquet"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_damaged_file_raises_naming_it(dataset, damage):
    path, _ = dataset
    victim = path / episode_file(1)
    data = bytearray(victim.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
    elif damage == "truncate":
        victim.write_bytes(bytes(data[: len(data) // 2]))
    else:
        victim.unlink()
    reader = DatasetReader(path)
    with pytest.raises(DatasetError) as info:
        reader.load_all()
    assert info.value.path == str(victim)
    assert episode_file(1) in str(info.value) and "--skip-corrupt" in str(info.value)
    assert "collect.verify=true" in str(info.value)  # the rewrite the hint promises is the one `collect` does


def test_skip_corrupt_warns_and_skips(dataset, caplog):
    path, _ = dataset
    (path / episode_file(0)).write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING, logger="replay.dataset"):
        episodes = DatasetReader(path, skip_corrupt=True).load_all()
    assert [meta["seed"] for _, meta in episodes] == [1, 2]
    assert episode_file(0) in caplog.text


def test_missing_directory_and_manifest(tmp_path):
    with pytest.raises(DatasetError, match="directory not found.*vid2act collect"):
        DatasetReader(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="manifest missing"):
        DatasetReader(tmp_path / "empty")
    (tmp_path / "empty" / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="malformed manifest"):
        DatasetReader(tmp_path / "empty")
    with pytest.raises(DatasetError, match="empty/manifest.json: unreadable or malformed manifest.*vid2act collect"):
        DatasetWriter(tmp_path / "empty", "dmc", "walker_walk").missing(range(3))  # `collect` on such a dataset


def test_sample_windows_uniform_and_within_episodes(make_episode):
    episodes = [make_episode(length=length, seed=i)[0] for i, length in enumerate([5, 8, 30])]
    for ep in episodes:  # tag each step with (episode, step) through the reward
        ep["reward"] = np.arange(len(ep["reward"]), dtype=np.float32) + 100 * len(ep["reward"])
    batch = sample_windows(episodes, batch=2000, seq_len=6, rng=np.random.default_rng(0))
    assert batch["image"].shape == (2000, 6, 16, 16, 3) and batch["action"].shape == (2000, 6, 3)
    assert batch["is_first"].shape == (2000, 6) and batch["image"].dtype == np.uint8
    steps = batch["reward"] % 100
    assert (np.diff(steps, axis=1) == 1).all()  # consecutive steps of one episode
    assert not batch["is_first"][:, 1:].any()
    np.testing.assert_array_equal(batch["is_first"][:, 0], steps[:, 0] == 0)
    lengths = batch["reward"][:, 0] // 100
    assert set(np.unique(lengths)) == {8, 30}  # the 5-step episode holds no window
    share_of_long = (lengths == 30).mean()  # 25 of 28 windows
    assert abs(share_of_long - 25 / 28) < 0.03
    with pytest.raises(ValueError, match="no episode holds a window"):
        sample_windows(episodes[:1], 2, 6, np.random.default_rng(0))
