"""Offline source datasets D_i on disk (Parquet), and uniform window sampling.

Layout of one dataset (one source task):

    <root>/<task>/
        manifest.json              # see below; rewritten atomically after every episode
        episode-00000.parquet      # one episode per file, the Arrow form of replay/schema.py
        episode-00001.parquet
        ...

`manifest.json`: `{"format": "vid2act-dataset", "schema_version", "suite", "task", "meta": {common metadata:
render_mode, size, action_dim, action_repeat, ...}, "episodes": [{"file", "index", "policy", "seed", "return",
"success", "length", "bytes", "sha256"}, ...] (sorted by index), "totals": {"episodes", "steps", "bytes",
"mean_return"}}`.

Writes go to a hidden temp file and are moved in place with `os.replace`, so a kill leaves either the old state or
the new one, never half a file; a process lock serialises manifest updates from several writers.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from replay.schema import (
    SCHEMA_VERSION,
    EpisodeError,
    episode_to_table,
    table_to_episode,
    validate_episode,
)

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
FORMAT = "vid2act-dataset"


class DatasetError(ValueError):
    """A dataset file that cannot be used; `.path` names the file, `.reason` the field or the fault."""

    def __init__(self, path: str | Path, reason: str, hint: str | None = None):
        hint = hint or ("re-run `vid2act collect` with the same arguments and `collect.verify=true` to rewrite it, "
                        "or skip it (`vid2act pretrain --skip-corrupt`)")
        super().__init__(f"{path}: {reason}; {hint}")
        self.path = str(path)
        self.reason = reason


def episode_file(index: int) -> str:
    return f"episode-{index:05d}.parquet"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: Path, write) -> None:
    """Call write(tmp_path) then move tmp_path over path; the temp name carries our pid."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DatasetWriter:
    """Writes one dataset directory; `common_meta` (render_mode, size, action_dim, ...) is shared by all episodes."""

    def __init__(self, directory: str | Path, suite: str, task: str, **common_meta):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.suite, self.task, self.common = suite, task, common_meta
        for tmp in self.dir.glob(".*.tmp"):  # leftovers of killed writers
            pid = tmp.name.rsplit(".", 2)[-2]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                tmp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """Exclusive across processes: manifest read-modify-write by several writers."""
        with open(self.dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _manifest(self) -> dict:
        path = self.dir / MANIFEST
        if path.exists():
            try:
                manifest = json.loads(path.read_text())
                if not isinstance(manifest, dict) or not isinstance(manifest.get("episodes"), list):
                    raise ValueError("no list of episodes")
                keys = {"file", "index", "length", "bytes", "sha256"}
                if not all(isinstance(e, dict) and keys <= set(e) for e in manifest["episodes"]):
                    raise ValueError(f"an episode entry lacks one of {sorted(keys)}")
            except (ValueError, UnicodeDecodeError) as err:
                raise DatasetError(path, f"unreadable or malformed manifest ({err})",
                                   "move it away (or delete it) and re-run `vid2act collect`: episodes it cannot "
                                   "vouch for are collected again") from None
            if (manifest.get("suite"), manifest.get("task")) != (self.suite, self.task):
                raise DatasetError(path, f"holds {manifest.get('suite')}/{manifest.get('task')}, "
                                         f"not {self.suite}/{self.task}", "write to another directory")
            return manifest
        return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "suite": self.suite, "task": self.task,
                "meta": self.common, "episodes": [], "totals": {}}

    def missing(self, indices: Iterable[int], verify: bool = False) -> list[int]:
        """The episodes of `indices` a resumed run must (re)write: not in the manifest, or their file is gone or has
        another size than recorded (a truncated or replaced file); `verify` also re-hashes every file (slow)."""
        entries = {e["index"]: e for e in self._manifest()["episodes"]}

        def good(i: int) -> bool:
            entry, path = entries.get(i), self.dir / episode_file(i)
            if entry is None or not path.exists() or path.stat().st_size != entry["bytes"]:
                return False
            return not verify or _sha256(path) == entry["sha256"]

        return [i for i in indices if not good(i)]

    def write(self, index: int, ep: dict, meta: dict) -> Path:
        """Validate and write episode `index` (replacing an old copy), then update the manifest; both atomic."""
        meta = {"suite": self.suite, "task": self.task, **self.common, **meta, "index": index}
        validate_episode(ep, size=self.common.get("size"), action_dim=self.common.get("action_dim"))
        table = episode_to_table(ep, meta)
        path = self.dir / episode_file(index)
        _write_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", use_dictionary=False))
        entry = {"file": path.name, "index": index, "policy": meta["policy"], "seed": meta["seed"],
                 "return": meta["return"], "success": bool(meta.get("success", False)), "length": meta["length"],
                 "bytes": path.stat().st_size,
                 "sha256": _sha256(path)}
        with self._lock():
            manifest = self._manifest()
            episodes = [e for e in manifest["episodes"] if e["index"] != index] + [entry]
            episodes.sort(key=lambda e: e["index"])
            manifest["episodes"] = episodes
            manifest["totals"] = {
                "episodes": len(episodes), "steps": sum(e["length"] for e in episodes),
                "bytes": sum(e["bytes"] for e in episodes),
                "mean_return": float(np.mean([e["return"] for e in episodes]))}
            text = json.dumps(manifest, indent=1)
            _write_atomic(self.dir / MANIFEST, lambda tmp: tmp.write_text(text))
        return path


class DatasetReader:
    """Reads and checks one dataset directory; every file is checksummed and schema-validated as it is read."""

    def __init__(self, directory: str | Path, skip_corrupt: bool = False):
        self.dir = Path(directory)
        self.skip_corrupt = skip_corrupt
        collect = "run `vid2act collect` to create it, or check the path"
        if not self.dir.is_dir():
            raise DatasetError(self.dir, "dataset directory not found", collect)
        path = self.dir / MANIFEST
        if not path.exists():
            raise DatasetError(path, "manifest missing (not a dataset, or collection never finished an episode)",
                               collect)
        self._manifest_bytes = path.read_bytes()
        try:
            manifest = json.loads(self._manifest_bytes)
            ok = (manifest["format"] == FORMAT and isinstance(manifest["episodes"], list)
                  and all({"file", "index", "length", "sha256"} <= set(e) for e in manifest["episodes"]))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise DatasetError(path, "unreadable or malformed manifest", "re-run `vid2act collect` to rebuild it")
        if manifest.get("schema_version") != SCHEMA_VERSION:
            raise DatasetError(path, f"schema version {manifest.get('schema_version')}, this code reads "
                                     f"{SCHEMA_VERSION}", "re-collect the dataset with this version")
        self.manifest = manifest
        self.meta = {"suite": manifest["suite"], "task": manifest["task"], **manifest["meta"]}

    def __len__(self) -> int:
        """Episodes listed in the manifest (a corrupt one skipped under skip_corrupt still counts here)."""
        return len(self.manifest["episodes"])

    def manifest_hash(self) -> str:
        """sha256 of the manifest as read: identifies exactly this dataset's contents."""
        return hashlib.sha256(self._manifest_bytes).hexdigest()

    def _read(self, entry: dict) -> tuple[dict, dict]:
        path = self.dir / entry["file"]
        if not path.exists():
            raise DatasetError(path, "file missing")
        if _sha256(path) != entry["sha256"]:
            raise DatasetError(path, "checksum mismatch (truncated or corrupt file)")
        try:
            ep, meta = table_to_episode(pq.read_table(path))
        except EpisodeError as err:
            raise DatasetError(path, f"field {err.field!r}: {err.problem}") from None
        except (pa.ArrowException, OSError) as err:
            raise DatasetError(path, f"unreadable Parquet ({err})") from None
        try:
            validate_episode(ep, size=self.meta.get("size"), action_dim=self.meta.get("action_dim"))
        except EpisodeError as err:
            raise DatasetError(path, f"field {err.field!r}: {err.problem}") from None
        if meta["length"] != entry["length"]:
            raise DatasetError(path, f"length {meta['length']} disagrees with the manifest's {entry['length']}")
        return ep, meta

    def episodes(self) -> Iterator[tuple[dict, dict]]:
        """Yield (episode, meta) in index order; a bad file raises DatasetError, or is skipped with a warning."""
        for entry in self.manifest["episodes"]:
            try:
                yield self._read(entry)
            except DatasetError as err:
                if not self.skip_corrupt:
                    raise
                log.warning("skipping %s: %s", err.path, err.reason)

    def load_all(self) -> list[tuple[dict, dict]]:
        return list(self.episodes())


def sample_windows(episodes: Sequence[dict], batch: int, seq_len: int,
                   rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Sample `batch` windows of `seq_len` steps, uniform over all valid (episode, start) pairs.

    A window lies inside one episode, so `is_first` is True only at a window's step 0 when it starts the episode.
    Returns fresh arrays shaped (B, T, ...) per field (`image` (B, T, H, W, 3) uint8, `action` (B, T, A) float32,
    ...); episodes shorter than seq_len contribute no windows. An optional field (replay.schema.OPTIONAL: `goal`
    (B, T, H, W, 3) uint8, `plan_z` / `plan_tokens` (B, T, D) float32, `log_prob` / `version` (B, T) float32) is in
    the batch only when every episode sampled into it has it; otherwise it is left out of that batch. The sampled
    episodes must agree on each field's per-step shape (ValueError naming the field otherwise), and some episode
    must be long enough (ValueError).
    """
    lengths = np.fromiter((len(ep["reward"]) for ep in episodes), np.int64, len(episodes))
    counts = np.maximum(lengths - seq_len + 1, 0)  # (N,) windows per episode
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f"no episode holds a window of {seq_len} steps ({len(episodes)} episodes)")
    picks = rng.integers(0, total, size=batch)  # (B,) flat window ids
    ends = np.cumsum(counts)  # (N,) flat id one past each episode's last window
    which = np.searchsorted(ends, picks, side="right")  # (B,) episode per window
    starts = picks - (ends - counts)[which]  # (B,) start step inside it
    sampled = [episodes[i] for i in np.unique(which)]
    out = {k: np.empty((batch, seq_len, *v.shape[1:]), v.dtype) for k, v in sampled[0].items()
           if all(k in ep for ep in sampled)}
    for key in out:
        shapes = {ep[key].shape[1:] for ep in sampled}
        if len(shapes) > 1:
            raise ValueError(f"field {key!r}: the sampled episodes differ in per-step shape ({sorted(shapes)}), "
                             f"so they cannot share a batch")
    for b, (i, s) in enumerate(zip(which, starts)):
        for key, value in out.items():
            value[b] = episodes[i][key][s:s + seq_len]
    return out
