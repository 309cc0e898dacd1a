"""The episode schema: validation names the field; Arrow and IPC round trips are exact."""
import numpy as np
import pyarrow as pa
import pytest

from replay.schema import (
    EpisodeError,
    episode_to_ipc,
    episode_to_table,
    ipc_to_episode,
    table_to_episode,
    validate_episode,
    validate_meta,
)


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key, value in a.items():
        assert value.dtype == b[key].dtype and value.shape == b[key].shape, key
        np.testing.assert_array_equal(value, b[key], err_msg=key)


def test_valid_episode_passes(make_episode):
    ep, meta = make_episode(terminal=True)
    validate_episode(ep, size=16, action_dim=3)
    validate_meta(meta, ep)


@pytest.mark.parametrize("field, break_it, words", [
    ("image", lambda ep: ep.pop("image"), "missing"),
    ("image", lambda ep: ep.update(image=ep["image"].astype(np.float32)), "dtype"),
    ("image", lambda ep: ep.update(image=ep["image"][:, :8]), "H == W"),
    ("action", lambda ep: ep.update(action=ep["action"][:-1]), "length"),
    ("action", lambda ep: ep["action"].__setitem__((3, 1), np.nan), "NaN"),
    ("action", lambda ep: ep["action"].__setitem__((0, 0), 1.0), "step 0"),
    ("reward", lambda ep: ep.update(reward=ep["reward"][:, None]), "shape"),
    ("is_first", lambda ep: ep["is_first"].__setitem__(5, True), "step 0 and only there"),
    ("is_last", lambda ep: ep["is_last"].__setitem__(-1, False), "last step"),
    ("is_terminal", lambda ep: ep["is_terminal"].__setitem__(2, True), "not the last"),
    ("success", lambda ep: ep.update(success=[False] * 20), "numpy array"),
    ("extra", lambda ep: ep.update(extra=np.zeros(20)), "unexpected"),
])
def test_validation_names_the_field(make_episode, field, break_it, words):
    ep, _ = make_episode()
    break_it(ep)
    with pytest.raises(EpisodeError, match=words) as info:
        validate_episode(ep)
    assert info.value.field == field and repr(field) in str(info.value)


def test_validation_checks_size_and_action_dim(make_episode):
    ep, _ = make_episode()
    with pytest.raises(EpisodeError, match="expected 32x32"):
        validate_episode(ep, size=32)
    with pytest.raises(EpisodeError, match="action_dim 6"):
        validate_episode(ep, action_dim=6)


def test_meta_must_agree_with_episode(make_episode):
    ep, meta = make_episode()
    with pytest.raises(EpisodeError, match="meta.return"):
        validate_meta({**meta, "return": meta["return"] + 1}, ep)
    with pytest.raises(EpisodeError, match="meta.seed"):
        validate_meta({k: v for k, v in meta.items() if k != "seed"}, ep)
    with pytest.raises(EpisodeError, match="meta.length"):
        validate_meta({**meta, "length": 3}, ep)


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_arrow_and_ipc_round_trip_is_exact(make_episode, compression):
    ep, meta = make_episode(terminal=True)
    meta["extra"] = {"note": "kept"}
    table = episode_to_table(ep, meta)
    assert table.num_rows == 20
    back, back_meta = table_to_episode(table)
    _assert_same(ep, back)
    assert back_meta == meta
    back, back_meta = ipc_to_episode(episode_to_ipc(ep, meta, compression))
    _assert_same(ep, back)
    assert back_meta == meta


def test_image_decodes_without_a_copy(make_episode):
    ep, meta = make_episode()
    table = episode_to_table(ep, meta)
    back, _ = table_to_episode(table)
    assert np.shares_memory(back["image"], np.frombuffer(table.column("image").chunk(0).buffers()[1], np.uint8))


def test_chunked_table_round_trips(make_episode):
    """Parquet reads can yield several chunks per column, some with offsets."""
    ep, meta = make_episode()
    table = episode_to_table(ep, meta)
    chunked = pa.concat_tables([table.slice(0, 7), table.slice(7)])
    assert chunked.column("image").num_chunks == 2
    _assert_same(ep, table_to_episode(chunked)[0])


def test_garbage_payload_is_rejected():
    with pytest.raises(EpisodeError, match="not a replay payload"):
        ipc_to_episode(b"not arrow at all")


@pytest.mark.parametrize("compression", ["lz4", "zstd", None])
def test_every_corrupted_payload_is_an_episode_error_never_a_crash_or_silent_data(make_episode, compression):
    """Bytes overwritten anywhere (8 at a time, 200 places) never reach pyarrow's decompressors (which abort the
    process on some corrupt input) and never decode to different data: the checksum names them."""
    ep, meta = make_episode(length=30, size=16)
    payload = episode_to_ipc(ep, meta, compression)
    rng = np.random.default_rng(0)
    for offset in rng.integers(0, len(payload) - 8, 200):
        bad = bytearray(payload)
        bad[offset:offset + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        if bytes(bad) == payload:
            continue
        with pytest.raises(EpisodeError):
            ipc_to_episode(bytes(bad))
    _assert_same(ep, ipc_to_episode(payload)[0])
