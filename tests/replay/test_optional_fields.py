"""PVDR's optional per-step fields (goal, plan_z, plan_tokens, log_prob, version): validated when present, exact
through Arrow, IPC, Parquet and a real Redis replay + Sampler, and a batch carries one only when all its episodes do."""
import time

import numpy as np
import pyarrow as pa
import pytest

from replay import (
    OPTIONAL,
    DatasetReader,
    DatasetWriter,
    EpisodeError,
    RedisReplay,
    Sampler,
    connect,
    episode_to_ipc,
    episode_to_table,
    ipc_to_episode,
    sample_windows,
    table_to_episode,
    validate_episode,
)

REQUIRED = {"image", "action", "reward", "is_first", "is_last", "is_terminal", "success"}


def _pvdr(make_episode, length=20, seed=1, width=5, tokens=6, fields=tuple(OPTIONAL)):
    """An episode tagged by (seed, step) in every field: reward = 1000 * seed + step, plan_z[t] = [seed, t, ...],
    version = seed, log_prob = -t (step 0 zero, as the recorder writes it); `fields` picks the optional ones."""
    ep, meta = make_episode(length=length, seed=seed)
    steps = np.arange(length, dtype=np.float32)
    ep["reward"] = 1000.0 * seed + steps
    ep["reward"][0] = 0
    meta["return"] = float(ep["reward"].sum(dtype=np.float64))
    plan_z = np.random.default_rng(seed).normal(size=(length, width)).astype(np.float32)
    plan_z[:, 0], plan_z[:, 1] = seed, steps
    extra = {
        "goal": np.broadcast_to(np.full((16, 16, 3), seed, np.uint8), (length, 16, 16, 3)).copy(),
        "plan_z": plan_z,
        "plan_tokens": (np.arange(length * tokens).reshape(length, tokens) % 512).astype(np.float32),
        "log_prob": -steps,
        "version": np.full(length, seed, np.float32),
    }
    for name in extra:
        if name != "goal":
            extra[name][0] = 0
    ep.update({name: extra[name] for name in fields})
    return ep, meta


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert value.dtype == b[key].dtype and value.shape == b[key].shape, key
        np.testing.assert_array_equal(value, b[key], err_msg=key)


def test_the_table_of_optional_fields_is_the_documented_one():
    assert OPTIONAL == {"goal": np.uint8, "plan_z": np.float32, "plan_tokens": np.float32,
                        "log_prob": np.float32, "version": np.float32}


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_arrow_and_ipc_round_trip_is_exact(make_episode, compression):
    ep, meta = _pvdr(make_episode)
    validate_episode(ep, size=16, action_dim=3)
    table = episode_to_table(ep, meta)
    assert table.schema.field("goal").type == pa.binary(16 * 16 * 3)
    assert table.schema.field("plan_z").type == pa.list_(pa.float32(), 5)
    assert table.schema.field("log_prob").type == pa.float32()
    _assert_same(ep, table_to_episode(table)[0])
    back, back_meta = ipc_to_episode(episode_to_ipc(ep, meta, compression))
    _assert_same(ep, back)
    assert back_meta == meta


def test_goal_and_plans_decode_as_views_and_an_episode_without_them_as_before(make_episode):
    ep, meta = _pvdr(make_episode)
    table = episode_to_table(ep, meta)
    back, _ = table_to_episode(table)
    for name in ("goal", "plan_z", "plan_tokens"):
        column = table.column(name).chunk(0)
        buffer = column.buffers()[1] if name == "goal" else column.flatten().buffers()[1]
        assert np.shares_memory(back[name], np.frombuffer(buffer, np.uint8)), name
    plain, plain_meta = make_episode()
    table = episode_to_table(plain, plain_meta)
    assert set(table.column_names) == REQUIRED
    _assert_same(plain, table_to_episode(table)[0])


@pytest.mark.parametrize("fields", [("goal",), ("plan_z", "log_prob"), ("version",)])
def test_any_subset_of_the_fields_round_trips(make_episode, fields):
    ep, meta = _pvdr(make_episode, fields=fields)
    back, _ = ipc_to_episode(episode_to_ipc(ep, meta))
    assert set(back) == REQUIRED | set(fields)
    _assert_same(ep, back)


@pytest.mark.parametrize("field, break_it, words", [
    ("goal", lambda ep: ep.update(goal=ep["goal"].astype(np.float32)), "dtype float32, expected uint8"),
    ("goal", lambda ep: ep.update(goal=np.zeros((20, 8, 8, 3), np.uint8)), "expected image's"),
    ("goal", lambda ep: ep.update(goal=ep["goal"][:-1]), "length 19"),
    ("goal", lambda ep: ep.update(goal=ep["goal"][0]), "shape"),
    ("goal", lambda ep: ep.update(goal=ep["goal"].tolist()), "numpy array"),
    ("plan_z", lambda ep: ep.update(plan_z=ep["plan_z"].astype(np.float64)), "dtype float64"),
    ("plan_z", lambda ep: ep["plan_z"].__setitem__((4, 2), np.nan), "NaN"),
    ("plan_z", lambda ep: ep.update(plan_z=ep["plan_z"][:, :0]), "D >= 1"),
    ("plan_z", lambda ep: ep.update(plan_z=ep["plan_z"][:-2]), "length 18"),
    ("plan_tokens", lambda ep: ep.update(plan_tokens=ep["plan_tokens"].reshape(-1)), "shape"),
    ("plan_tokens", lambda ep: ep.update(plan_tokens=ep["plan_tokens"].astype(np.int64)), "dtype int64"),
    ("log_prob", lambda ep: ep.update(log_prob=ep["log_prob"][:, None]), "shape"),
    ("log_prob", lambda ep: ep.update(log_prob=np.zeros(21, np.float32)), "length 21"),
    ("log_prob", lambda ep: ep["log_prob"].__setitem__(3, -np.inf), "infinite"),
    ("version", lambda ep: ep.update(version=ep["version"].astype(np.int32)), "dtype int32"),
    ("version", lambda ep: ep.update(version=ep["version"][:5]), "length 5"),
    ("plan", lambda ep: ep.update(plan=np.zeros((20, 2), np.float32)), "unexpected field .*optional: goal"),
])
def test_a_bad_optional_field_is_named(make_episode, field, break_it, words):
    ep, meta = _pvdr(make_episode)
    break_it(ep)
    with pytest.raises(EpisodeError, match=words) as info:
        validate_episode(ep)
    assert info.value.field == field and repr(field) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(EpisodeError, match=words):
        episode_to_ipc(ep, meta)


@pytest.mark.parametrize("field, column, words", [
    ("plan_z", lambda ep: pa.FixedSizeListArray.from_arrays(pa.array(ep["plan_z"].astype(np.float64).reshape(-1)), 5),
     "expected fixed_size_list<float>"),
    ("goal", lambda ep: pa.array([b"0123456789"] * 20, pa.binary(10)), "expected fixed_size_binary"),
    ("log_prob", lambda ep: pa.array(ep["log_prob"].astype(np.float64)), "stored dtype float64"),
    ("version", lambda ep: pa.array([None] + [1.0] * 19, pa.float32()), "null values"),
])
def test_a_table_with_a_mistyped_optional_column_is_named(make_episode, field, column, words):
    ep, meta = _pvdr(make_episode)
    table = episode_to_table(ep, meta)
    bad = table.set_column(table.column_names.index(field), field, column(ep))
    bad = bad.replace_schema_metadata(table.schema.metadata)
    with pytest.raises(EpisodeError, match=words) as info:
        table_to_episode(bad)
    assert info.value.field == field


def test_every_corrupted_payload_with_optional_fields_is_an_episode_error(make_episode):
    ep, meta = _pvdr(make_episode, length=30)
    payload = episode_to_ipc(ep, meta, "zstd")
    rng = np.random.default_rng(1)
    for offset in rng.integers(0, len(payload) - 8, 100):
        bad = bytearray(payload)
        bad[offset:offset + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        if bytes(bad) != payload:
            with pytest.raises(EpisodeError):
                ipc_to_episode(bytes(bad))
    _assert_same(ep, ipc_to_episode(payload)[0])


def test_parquet_datasets_round_trip_the_fields(tmp_path, make_episode):
    writer = DatasetWriter(tmp_path / "walker_walk", "dmc", "walker_walk", render_mode="fast", size=16, action_repeat=2,
                           action_dim=3)
    written = [_pvdr(make_episode, seed=1), _pvdr(make_episode, seed=2, fields=())]
    for index, (ep, meta) in enumerate(written):
        writer.write(index, ep, meta)
    back = DatasetReader(tmp_path / "walker_walk").load_all()
    for (ep, _), (got, _) in zip(written, back):
        _assert_same(ep, got)


def _check_window(batch: dict, b: int, steps: int) -> None:
    """Window b of a batch of `_pvdr` episodes: every carried field agrees with its (seed, step) tag."""
    seed, start = divmod(int(batch["reward"][b, 1]), 1000)
    start -= 1
    t = np.arange(start, start + steps)
    if "plan_z" in batch:
        np.testing.assert_array_equal(batch["plan_z"][b, :, 0], np.where(t == 0, 0, seed))
        np.testing.assert_array_equal(batch["plan_z"][b, :, 1], t)
    if "log_prob" in batch:
        np.testing.assert_array_equal(batch["log_prob"][b], -t)
    if "version" in batch:
        np.testing.assert_array_equal(batch["version"][b], np.where(t == 0, 0, seed))
    if "goal" in batch:
        assert (batch["goal"][b] == seed).all()


def test_redis_replay_and_sampler_carry_the_fields(redis_server, make_episode):
    replay = RedisReplay(connect(redis_server.url), capacity_steps=200, size=16, action_dim=3)
    episodes = [_pvdr(make_episode, length=n, seed=s) for s, n in ((1, 12), (2, 20), (3, 25))]
    ids = [replay.insert(*ep) for ep in episodes]
    for episode_id, (ep, meta) in zip(ids, episodes):
        back, back_meta = replay.get(episode_id)
        _assert_same(ep, back)
        assert back_meta == meta
    with Sampler(replay, batch=32, seq_len=8, seed=0, poll_s=0.01) as sampler:
        for _ in range(3):
            batch = sampler.next(timeout=10)
            assert set(batch) == REQUIRED | set(OPTIONAL)
            assert batch["goal"].shape == (32, 8, 16, 16, 3) and batch["goal"].dtype == np.uint8
            assert batch["plan_z"].shape == (32, 8, 5) and batch["plan_z"].dtype == np.float32
            assert batch["plan_tokens"].shape == (32, 8, 6) and batch["plan_tokens"].dtype == np.float32
            assert batch["log_prob"].shape == batch["version"].shape == (32, 8)
            for b in range(32):
                _check_window(batch, b, 8)


def test_a_batch_carries_an_optional_field_only_when_all_its_episodes_have_it(make_episode):
    episodes = [_pvdr(make_episode, seed=1)[0], _pvdr(make_episode, seed=2, fields=("plan_z", "goal"))[0],
                _pvdr(make_episode, seed=3, fields=())[0]]
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(300):
        batch = sample_windows(episodes, batch=2, seq_len=6, rng=rng)
        seeds = {int(s) for s in batch["reward"][:, 1] // 1000}
        expected = set.intersection(*(set(episodes[s - 1]) for s in seeds))
        assert set(batch) == expected, seeds
        for b in range(2):
            _check_window(batch, b, 6)
        seen.add(frozenset(seeds))
    assert len(seen) == 6  # each episode alone and every pair


def test_sampled_episodes_of_another_plan_width_are_a_clear_error(make_episode):
    episodes = [_pvdr(make_episode, seed=1, width=5)[0], _pvdr(make_episode, seed=2, width=7)[0]]
    with pytest.raises(ValueError, match="'plan_z'.*per-step shape"):
        sample_windows(episodes, batch=64, seq_len=6, rng=np.random.default_rng(0))


def test_the_sampler_follows_the_rule_over_a_replay_of_both_kinds(redis_server, make_episode):
    """Prefill episodes without the fields next to PVDR's: batches of one episode carry its own fields; mixed
    batches only the required ones. Nothing crashes, nothing is garbage."""
    replay = RedisReplay(connect(redis_server.url), capacity_steps=200)
    replay.insert(*_pvdr(make_episode, seed=1, fields=()))
    replay.insert(*_pvdr(make_episode, seed=2))
    with Sampler(replay, batch=1, seq_len=6, seed=0, poll_s=0.01) as single, \
            Sampler(replay, batch=32, seq_len=6, seed=0, poll_s=0.01) as mixed:
        kinds, deadline = set(), time.monotonic() + 20
        while len(kinds) < 2 and time.monotonic() < deadline:
            batch = single.next(timeout=10)
            seed = int(batch["reward"][0, 1]) // 1000
            assert set(batch) == (REQUIRED if seed == 1 else REQUIRED | set(OPTIONAL))
            _check_window(batch, 0, 6)
            kinds.add(seed)
        assert kinds == {1, 2}
        batch = mixed.next(timeout=10)
        assert {int(s) for s in batch["reward"][:, 1] // 1000} == {1, 2} and set(batch) == REQUIRED
