"""Episodes on disk and in Redis: the schema, offline datasets, the online replay, its sampler and rate limiter.

An episode is `dict[str, np.ndarray]` of L frames plus a metadata dict (schema: replay/schema.py).

    validate_episode(ep, size=64, action_dim=6)             # EpisodeError naming the bad field
    OPTIONAL                                                # PVDR's optional per-step fields -> dtype: goal, plan_z,
                                                            # plan_tokens, log_prob, version; carried end to end when
                                                            # present, in a batch when all its episodes have it

    # offline source datasets D_i (Parquet + manifest.json; replay/dataset.py)
    writer = DatasetWriter("data/sources/walker_walk", "dmc", "walker_walk", size=64, action_dim=6, ...)
    for i in writer.missing(range(50)): writer.write(i, *play(i))      # resume: what is missing or damaged
    reader = DatasetReader("data/sources/walker_walk", skip_corrupt=False)
    for ep, meta in reader.episodes(): ...                  # DatasetError naming the bad file
    batch = sample_windows(episodes, batch=16, seq_len=50, rng=np.random.default_rng(0))   # (B, T, ...)

    # online replay B (Redis; replay/redis_replay.py documents the key layout)
    replay = RedisReplay(connect(url), capacity_steps=500_000)
    episode_id = replay.insert(ep, meta)                    # atomic, FIFO eviction, counters
    sampler = Sampler(replay, batch=16, seq_len=50, seed=0) # learner side: prefetch thread + local cache
    limiter = RateLimiter(samples_per_insert=8, min_inserts=2500, error_buffer=4000, counts=replay.counts)
    if limiter.await_sample(16 * 50, timeout=60): batch = sampler.next()
    n = limiter.samples_due(16 * 50)                        # how many batches are due now (a driver's question)
    ReplayConfig                                            # the typed `replay.*` config

Knows numpy, pyarrow and redis only: no torch, no Ray.
"""
from replay.client import ReplayConnectionError, connect, mask_url
from replay.config import ReplayConfig
from replay.dataset import DatasetError, DatasetReader, DatasetWriter, sample_windows
from replay.limiter import RateLimiter
from replay.redis_replay import RedisReplay
from replay.sampler import Sampler
from replay.schema import (
    OPTIONAL,
    EpisodeError,
    episode_to_ipc,
    episode_to_table,
    ipc_to_episode,
    table_to_episode,
    validate_episode,
    validate_meta,
)

__all__ = [
    "OPTIONAL", "DatasetError", "DatasetReader", "DatasetWriter", "EpisodeError", "RateLimiter", "RedisReplay",
    "ReplayConfig", "ReplayConnectionError", "Sampler", "connect", "mask_url", "episode_to_ipc", "episode_to_table",
    "ipc_to_episode", "sample_windows", "table_to_episode", "validate_episode", "validate_meta",
]
