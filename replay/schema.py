"""The episode schema: validation and Arrow conversions (no pickle anywhere).

An episode is `dict[str, np.ndarray]` of length L (frames), DreamerV2 style:

| field         | dtype   | shape       | meaning                                                        |
|---------------|---------|-------------|----------------------------------------------------------------|
| `image`       | uint8   | (L, H, W, 3)| the observed frame                                             |
| `action`      | float32 | (L, A)      | action[t] led to image[t]; action[0] = 0; the env's native A   |
| `reward`      | float32 | (L,)        | reward received on arriving at image[t]; reward[0] = 0         |
| `is_first`    | bool    | (L,)        | True only at [0]                                               |
| `is_last`     | bool    | (L,)        | True only at [-1]                                              |
| `is_terminal` | bool    | (L,)        | True only where the env terminated (implies is_last)           |
| `success`     | bool    | (L,)        | Meta-World task success; False for DMC                         |
| `goal`        | uint8   | (L, H, W, 3)| optional: PVDR's. The goal image the episode is conditioned on |
|               |         |             | (same H, W as image; the same at every step)                   |
| `plan_z`      | float32 | (L, D)      | optional: PVDR's. The dynamics representation z* that planning |
|               |         |             | chose for action[t]; D >= 1; zeros at [0]                      |
| `plan_tokens` | float32 | (L, D)      | optional: PVDR's. That plan's token indices, flattened (exact  |
|               |         |             | small integers); D >= 1; zeros at [0]                          |
| `log_prob`    | float32 | (L,)        | optional: PVDR's. Log-probability of action[t] under the       |
|               |         |             | acting policy; 0 at [0]                                        |
| `version`     | float32 | (L,)        | optional: PVDR's. Policy-weights version that chose action[t]  |
|               |         |             | (-1: before any weights, random prefill); 0 at [0]             |

The optional fields (`OPTIONAL`) may each be present or absent; a present one is checked like the others (dtype,
length L, shape, finite values; their step-0 convention is the recorder's, not checked). Any other key is an error.

Metadata (`meta`, a JSON-able dict) holds at least: suite, task, policy, seed (int), return (= reward.sum()),
length (= L), render_mode, size (= H = W), action_repeat, action_dim (= A); extra keys are kept.

Arrow form (one row per step): `image` fixed_size_binary(H*W*3) (decodes to a (L, H, W, 3) view without a copy),
`action` fixed_size_list<float32>[A], the rest as float32/bool columns; a present optional field is a column too
(`goal` like `image`, `plan_z`/`plan_tokens` like `action`, `log_prob`/`version` float32), an absent one no column,
so a table without them reads exactly as before (SCHEMA_VERSION stays 1). The schema's metadata key `vid2act`
holds JSON `{"schema_version", "image_shape", "meta"}`. A replay payload (the Redis value) is `PAYLOAD_MAGIC`, the
CRC-32 of the rest (4 bytes, big-endian), then an Arrow IPC stream whose buffers are lz4- or zstd-compressed; the
checksum is verified before any byte reaches pyarrow (whose decompressors abort the process on some corrupt input),
and the decoded table is fully validated.
"""
from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 1
FIELDS: dict[str, np.dtype] = {
    "image": np.dtype(np.uint8),
    "action": np.dtype(np.float32),
    "reward": np.dtype(np.float32),
    "is_first": np.dtype(bool),
    "is_last": np.dtype(bool),
    "is_terminal": np.dtype(bool),
    "success": np.dtype(bool),
}
OPTIONAL: dict[str, np.dtype] = {
    "goal": np.dtype(np.uint8),
    "plan_z": np.dtype(np.float32),
    "plan_tokens": np.dtype(np.float32),
    "log_prob": np.dtype(np.float32),
    "version": np.dtype(np.float32),
}
_OPTIONAL_SHAPES = {"goal": (4, "(L, H, W, 3) like image"), "plan_z": (2, "(L, D) with D >= 1"),
                    "plan_tokens": (2, "(L, D) with D >= 1"), "log_prob": (1, "(L,)"), "version": (1, "(L,)")}
_DTYPES = {**FIELDS, **OPTIONAL}
_FRAMES = ("image", "goal")  # fixed_size_binary(H*W*3) columns
_ROWS = ("action", "plan_z", "plan_tokens")  # fixed_size_list<float32> columns
FLAGS = ("is_first", "is_last", "is_terminal", "success")
META_KEYS: dict[str, type | tuple[type, ...]] = {
    "suite": str, "task": str, "policy": str, "seed": int, "return": (int, float), "length": int,
    "render_mode": str, "size": int, "action_repeat": int, "action_dim": int,
}
_META_KEY = b"vid2act"
PAYLOAD_MAGIC = b"V2A\x01"


class EpisodeError(ValueError):
    """An episode (or its metadata) that breaks the schema; `.field` names the culprit."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"episode field {field!r}: {problem}")
        self.field = field
        self.problem = problem


def _check_arrays(ep: dict) -> None:
    """Every key is a field of the schema, every required one is there, each a numpy array of its dtype."""
    if not isinstance(ep, dict):
        raise EpisodeError("<episode>", f"expected a dict of arrays, got {type(ep).__name__}")
    for name in ep:
        if name not in _DTYPES:
            raise EpisodeError(name, f"unexpected field (the schema has {', '.join(FIELDS)}; optional: "
                                     f"{', '.join(OPTIONAL)})")
    for name, dtype in _DTYPES.items():
        if name not in ep:
            if name in FIELDS:
                raise EpisodeError(name, "missing")
            continue
        value = ep[name]
        if not isinstance(value, np.ndarray):
            raise EpisodeError(name, f"expected a numpy array, got {type(value).__name__}")
        if value.dtype != dtype:
            raise EpisodeError(name, f"dtype {value.dtype}, expected {dtype}")


def _check_optional(ep: dict, image: np.ndarray) -> None:
    """The optional fields present: their shapes against `image` (L, H, W, 3), finite floats."""
    for name in OPTIONAL:
        if name not in ep:
            continue
        value, (ndim, expected) = ep[name], _OPTIONAL_SHAPES[name]
        if value.ndim != ndim or (ndim == 2 and value.shape[1] < 1):
            raise EpisodeError(name, f"shape {value.shape}, expected {expected}")
        if value.shape[0] != image.shape[0]:
            raise EpisodeError(name, f"length {value.shape[0]} differs from image length {image.shape[0]}")
        if name == "goal" and value.shape != image.shape:
            raise EpisodeError(name, f"frames of shape {value.shape[1:]}, expected image's {image.shape[1:]}")
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise EpisodeError(name, "holds NaN or infinite values")


def validate_episode(ep: dict, *, size: int | None = None, action_dim: int | None = None) -> None:
    """Raise EpisodeError naming the first field that is missing, unexpected, mistyped, misshapen or inconsistent
    (the optional fields are checked only when present)."""
    _check_arrays(ep)
    image, action = ep["image"], ep["action"]
    if image.ndim != 4 or image.shape[-1] != 3 or image.shape[1] != image.shape[2]:
        raise EpisodeError("image", f"shape {image.shape}, expected (L, H, W, 3) with H == W")
    if size is not None and image.shape[1] != size:
        raise EpisodeError("image", f"frames are {image.shape[1]}x{image.shape[2]}, expected {size}x{size}")
    length = image.shape[0]
    if length < 1:
        raise EpisodeError("image", "episode is empty (L = 0)")
    if action.ndim != 2 or action.shape[1] < 1:
        raise EpisodeError("action", f"shape {action.shape}, expected (L, A)")
    if action_dim is not None and action.shape[1] != action_dim:
        raise EpisodeError("action", f"width {action.shape[1]}, expected action_dim {action_dim}")
    for name in FIELDS:
        if ep[name].shape[0] != length:
            raise EpisodeError(name, f"length {ep[name].shape[0]} differs from image length {length}")
    for name in ("reward", *FLAGS):
        if ep[name].ndim != 1:
            raise EpisodeError(name, f"shape {ep[name].shape}, expected ({length},)")
    for name in ("action", "reward"):
        if not np.isfinite(ep[name]).all():
            raise EpisodeError(name, "holds NaN or infinite values")
    if np.any(action[0] != 0) or ep["reward"][0] != 0:
        raise EpisodeError("action" if np.any(action[0] != 0) else "reward",
                           "step 0 must be zero (no action or reward leads to the first frame)")
    first, last = ep["is_first"], ep["is_last"]
    if not first[0] or first[1:].any():
        raise EpisodeError("is_first", "must be True at step 0 and only there")
    if not last[-1] or last[:-1].any():
        raise EpisodeError("is_last", "must be True at the last step and only there")
    if (ep["is_terminal"] & ~last).any():
        raise EpisodeError("is_terminal", "True at a step that is not the last")
    _check_optional(ep, image)


def validate_meta(meta: dict, ep: dict) -> None:
    """Raise EpisodeError naming a metadata key that is missing, mistyped or disagrees with the episode."""
    if not isinstance(meta, dict):
        raise EpisodeError("<meta>", f"expected a dict, got {type(meta).__name__}")
    for key, kind in META_KEYS.items():
        if key not in meta:
            raise EpisodeError(f"meta.{key}", "missing")
        if not isinstance(meta[key], kind) or isinstance(meta[key], bool):
            raise EpisodeError(f"meta.{key}", f"{meta[key]!r} is not of type {kind}")
    length, size, width = ep["image"].shape[0], ep["image"].shape[1], ep["action"].shape[1]
    for key, want in (("length", length), ("size", size), ("action_dim", width)):
        if meta[key] != want:
            raise EpisodeError(f"meta.{key}", f"{meta[key]} disagrees with the episode's {want}")
    total = float(ep["reward"].sum(dtype=np.float64))
    if not math.isclose(meta["return"], total, rel_tol=1e-4, abs_tol=1e-3):
        raise EpisodeError("meta.return", f"{meta['return']} differs from reward.sum() = {total}")
    try:
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise EpisodeError("<meta>", f"not JSON-serialisable: {err}") from None


def _to_arrow(value: np.ndarray, name: str) -> pa.Array:
    """One field's (L, ...) array -> its Arrow column (contiguous frames without a copy)."""
    if name in _FRAMES:  # (L, H, W, 3) uint8 -> fixed_size_binary(H*W*3)
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(value[0].size), len(value),
                                                    [None, pa.py_buffer(np.ascontiguousarray(value))])
    if name in _ROWS:  # (L, D) float32 -> fixed_size_list<float32>[D]
        return pa.FixedSizeListArray.from_arrays(pa.array(value.reshape(-1)), value.shape[1])
    return pa.array(value)


def episode_to_table(ep: dict, meta: dict) -> pa.Table:
    """Validated episode -> Arrow table with one row per step and the metadata in the schema (no image copy);
    an optional field becomes a column only when the episode has it. EpisodeError for an invalid episode or meta."""
    validate_episode(ep)
    validate_meta(meta, ep)
    columns = {name: _to_arrow(ep[name], name) for name in _DTYPES if name in ep}
    header = {"schema_version": SCHEMA_VERSION, "image_shape": list(ep["image"].shape[1:]), "meta": meta}
    return pa.table(columns, metadata={_META_KEY: json.dumps(header).encode()})


def _column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        raise EpisodeError(name, "missing column")
    column = table.column(name)
    array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if array.null_count:
        raise EpisodeError(name, f"{array.null_count} null values")
    return array


def _from_arrow(table: pa.Table, name: str, shape: list[int]) -> np.ndarray:
    """One column -> its (L, ...) array; frames and rows are read-only views into the Arrow buffers."""
    array, length = _column(table, name), table.num_rows
    if name in _FRAMES:
        frame_bytes = int(np.prod(shape))
        if array.type != pa.binary(frame_bytes):
            raise EpisodeError(name, f"arrow type {array.type}, expected fixed_size_binary[{frame_bytes}]")
        return np.frombuffer(array.buffers()[1], np.uint8, length * frame_bytes,
                             array.offset * frame_bytes).reshape(length, *shape)
    if name in _ROWS:
        if not pa.types.is_fixed_size_list(array.type) or array.type.value_type != pa.float32():
            raise EpisodeError(name, f"arrow type {array.type}, expected fixed_size_list<float>")
        return array.flatten().to_numpy(zero_copy_only=True).reshape(length, array.type.list_size)
    return array.to_numpy(zero_copy_only=False)


def table_to_episode(table: pa.Table) -> tuple[dict, dict]:
    """Arrow table -> validated (episode, meta), with each optional field the table has a column of. Image, action
    and the 2-D/4-D optional fields are read-only views into Arrow buffers. EpisodeError names a missing column or
    a bad type, dtype, shape or value."""
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise EpisodeError("<schema>", "no vid2act metadata: not an episode table")
    try:
        header = json.loads(raw)
        version, shape, meta = header["schema_version"], header["image_shape"], header["meta"]
    except (ValueError, KeyError, TypeError) as err:
        raise EpisodeError("<schema>", f"unreadable vid2act metadata ({err})") from None
    if version != SCHEMA_VERSION:
        raise EpisodeError("<schema>", f"schema version {version}, this code reads {SCHEMA_VERSION}")
    ep = {name: _from_arrow(table, name, shape) for name in _DTYPES
          if name in FIELDS or name in table.column_names}
    for name, value in ep.items():
        if value.dtype != _DTYPES[name]:
            raise EpisodeError(name, f"stored dtype {value.dtype}, expected {_DTYPES[name]}")
    validate_episode(ep)
    validate_meta(meta, ep)
    return ep, meta


def episode_to_ipc(ep: dict, meta: dict, compression: str | None = "lz4") -> bytes:
    """Episode -> a checksummed replay payload: PAYLOAD_MAGIC, CRC-32, Arrow IPC stream bytes (buffers compressed
    with lz4/zstd/None)."""
    table = episode_to_table(ep, meta)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=compression)
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    stream = sink.getvalue()
    return b"".join([PAYLOAD_MAGIC, zlib.crc32(stream).to_bytes(4, "big"), memoryview(stream)])


def ipc_to_episode(data) -> tuple[dict, dict]:
    """A replay payload (any bytes-like) -> validated (episode, meta); EpisodeError for a bad magic, a checksum
    mismatch or an invalid table (the bytes are checked before pyarrow decodes them)."""
    view = memoryview(data)
    head = len(PAYLOAD_MAGIC)
    if len(view) < head + 4 or bytes(view[:head]) != PAYLOAD_MAGIC:
        raise EpisodeError("<payload>", "not a replay payload (no vid2act header): written by another version, "
                                        "or corrupt")
    stream = view[head + 4:]
    if zlib.crc32(stream) != int.from_bytes(view[head:head + 4], "big"):
        raise EpisodeError("<payload>", "checksum mismatch: the stored bytes are corrupt")
    try:
        table = pa.ipc.open_stream(pa.py_buffer(stream)).read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError) as err:  # ArrowInvalid, ArrowMemoryError, a bad UTF-8 name...
        raise EpisodeError("<payload>", f"unreadable Arrow IPC stream ({type(err).__name__}: {err})") from None
    return table_to_episode(table)
