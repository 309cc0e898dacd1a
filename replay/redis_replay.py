"""The online replay B in Redis: episodes as compressed Arrow IPC, FIFO eviction by env steps, shared counters.

Key layout (`ns` = namespace, default `replay`; several replays can share one Redis under different namespaces):

| key               | type   | holds                                                                        |
|-------------------|--------|------------------------------------------------------------------------------|
| `{ns}:episodes`   | hash   | episode id -> Arrow IPC stream bytes of the episode (replay/schema.py), lz4    |
| `{ns}:lengths`    | hash   | episode id -> length L in steps                                              |
| `{ns}:fifo`       | list   | stored episode ids, oldest first (ids only grow, so this is also id order)   |
| `{ns}:next_id`    | string | last episode id handed out (INCR)                                            |
| `{ns}:counters`   | hash   | inserted_steps, inserted_episodes, evicted_steps, evicted_episodes,          |
|                   |        | sampled_steps, stored_steps, corrupt_episodes                                |
| `{ns}:identity`   | string | a random token set by the first writer: a store that lost its contents (a   |
|                   |        | flush, a restart without persistence) gets a new one, so readers notice      |

Every payload carries a CRC-32 (replay/schema.py); `fetch` skips one that fails its checks, counts it in
`corrupt_episodes` and says so, so a bad byte is never trained on and never crashes a reader.

One Lua script makes each insert atomic: it evicts the oldest episodes until the new one fits in `capacity_steps`,
then stores the episode, its length, its place in the FIFO and the counters. A reader therefore never sees a partial
episode, and an episode id in `{ns}:fifo` always has its bytes in `{ns}:episodes` (until it is evicted).
"""
from __future__ import annotations

import logging
import secrets

import redis

from replay.client import client_url, redis_errors
from replay.schema import EpisodeError, episode_to_ipc, ipc_to_episode, validate_episode

log = logging.getLogger(__name__)

_INSERT = """
local episodes, lengths, fifo, next_id, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local length, capacity = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('SETNX', KEYS[6], ARGV[4])
local stored = tonumber(redis.call('HGET', counters, 'stored_steps') or '0')
while stored + length > capacity do
  local old = redis.call('LPOP', fifo)
  if not old then break end
  local n = tonumber(redis.call('HGET', lengths, old))
  redis.call('HDEL', episodes, old)
  redis.call('HDEL', lengths, old)
  stored = redis.call('HINCRBY', counters, 'stored_steps', -n)
  redis.call('HINCRBY', counters, 'evicted_steps', n)
  redis.call('HINCRBY', counters, 'evicted_episodes', 1)
end
local id = redis.call('INCR', next_id)
redis.call('HSET', episodes, id, ARGV[1])
redis.call('HSET', lengths, id, length)
redis.call('RPUSH', fifo, id)
redis.call('HINCRBY', counters, 'stored_steps', length)
redis.call('HINCRBY', counters, 'inserted_steps', length)
redis.call('HINCRBY', counters, 'inserted_episodes', 1)
return id
"""
COUNTERS = ("inserted_steps", "inserted_episodes", "evicted_steps", "evicted_episodes", "sampled_steps",
            "stored_steps", "corrupt_episodes")


class RedisReplay:
    """FIFO replay of whole episodes in Redis, bounded by `capacity_steps`; safe to share across processes."""

    def __init__(self, client: redis.Redis, capacity_steps: int, namespace: str = "replay",
                 size: int | None = None, action_dim: int | None = None, compression: str | None = "lz4"):
        """`size`/`action_dim`, when given, are enforced on every insert; `compression`: lz4, zstd or None."""
        self.client = client
        self.capacity_steps = int(capacity_steps)
        self.namespace = namespace
        self.size, self.action_dim, self.compression = size, action_dim, compression
        self.url = client_url(client)
        self._keys = [f"{namespace}:{name}" for name in ("episodes", "lengths", "fifo", "next_id", "counters",
                                                         "identity")]
        self._insert = client.register_script(_INSERT)

    def insert(self, ep: dict, meta: dict) -> int:
        """Validate, then store the episode atomically (evicting the oldest beyond capacity); return its id.
        The optional fields it carries (`goal`, `plan_z`, ...: replay/schema.py) are stored and read back as given.
        A bad episode raises EpisodeError naming the field, and nothing is stored."""
        validate_episode(ep, size=self.size, action_dim=self.action_dim)
        length = len(ep["reward"])
        if length > self.capacity_steps:
            raise ValueError(f"episode of {length} steps exceeds the replay capacity of {self.capacity_steps}")
        payload = episode_to_ipc(ep, meta, self.compression)
        with redis_errors(self.url):
            # a fresh candidate identity per insert: the first insert into an emptied store gives it a new one
            return int(self._insert(keys=self._keys, args=[payload, length, self.capacity_steps,
                                                           secrets.token_hex(8)]))

    def episode_ids(self) -> list[int]:
        """Ids of the stored episodes, oldest first."""
        with redis_errors(self.url):
            return [int(i) for i in self.client.lrange(self._keys[2], 0, -1)]

    def identity(self) -> str | None:
        """The store's identity token (None while it holds nothing): it changes when the store loses its contents."""
        with redis_errors(self.url):
            value = self.client.get(self._keys[5])
        return value.decode() if value is not None else None

    def fetch(self, ids: list[int]) -> list[tuple[int, dict, dict]]:
        """(id, episode, meta) for each id still stored (evicted ids are left out), in one round trip. A payload
        that fails its checks is skipped, counted in `corrupt_episodes` and logged."""
        if not ids:
            return []
        with redis_errors(self.url):
            payloads = self.client.hmget(self._keys[0], ids)
        found = []
        for i, payload in zip(ids, payloads):
            if payload is None:
                continue
            try:
                found.append((i, *ipc_to_episode(payload)))
            except EpisodeError as error:
                log.warning("replay %s: episode %d skipped: %s", self.namespace, i, error)
                with redis_errors(self.url):
                    self.client.hincrby(self._keys[4], "corrupt_episodes", 1)
        return found

    def get(self, episode_id: int) -> tuple[dict, dict]:
        """(episode, meta) of one stored episode; KeyError when it was evicted or never existed."""
        found = self.fetch([episode_id])
        if not found:
            raise KeyError(f"episode {episode_id} is not in replay {self.namespace!r} (evicted or never inserted)")
        return found[0][1:]

    def add_sampled(self, steps: int) -> None:
        """Count `steps` sampled steps (the rate limiter reads this counter)."""
        with redis_errors(self.url):
            self.client.hincrby(self._keys[4], "sampled_steps", steps)

    def counters(self) -> dict[str, int]:
        """All counters, 0 where never written."""
        with redis_errors(self.url):
            values = self.client.hmget(self._keys[4], COUNTERS)
        return {name: int(v or 0) for name, v in zip(COUNTERS, values)}

    def counts(self) -> tuple[int, int]:
        """(inserted_steps, sampled_steps): what RateLimiter works from."""
        c = self.counters()
        return c["inserted_steps"], c["sampled_steps"]

    def num_steps(self) -> int:
        """Env steps stored now."""
        return self.counters()["stored_steps"]

    def stats(self) -> dict[str, float]:
        """Counters and memory as `replay/` metrics."""
        with redis_errors(self.url):
            episodes = self.client.llen(self._keys[2])
            memory = self.client.info("memory")["used_memory"]
        stats = {f"replay/{name}": value for name, value in self.counters().items()}
        stats.update({"replay/episodes": episodes, "replay/capacity_steps": self.capacity_steps,
                      "replay/redis_used_memory": memory})
        return stats
