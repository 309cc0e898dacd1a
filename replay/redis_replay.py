"""The online replay B in Redis: episodes as compressed Arrow IPC, FIFO eviction by env steps, shared counters.

Key layout (`ns` = namespace, default `replay`; several replays can share one Redis under different namespaces):

| key               | type   | holds                                                                        |
|-------------------|--------|------------------------------------------------------------------------------|
| `{ns}:episodes`   | hash   | episode id -> Arrow IPC stream bytes of the episode (replay/schema.py), lz4    |
| `{ns}:lengths`    | hash   | episode id -> length L in steps                                              |
| `{ns}:fifo`       | list   | stored episode ids, oldest first (ids only grow, so this is also id order)   |
| `{ns}:next_id`    | string | last episode id handed out (INCR)                                            |
| `{ns}:counters`   | hash   | inserted_steps, inserted_episodes, evicted_steps, evicted_episodes,          |
|                   |        | sampled_steps, stored_steps                                                  |

One Lua script makes each insert atomic: it evicts the oldest episodes until the new one fits in `capacity_steps`,
then stores the episode, its length, its place in the FIFO and the counters. A reader therefore never sees a partial
episode, and an episode id in `{ns}:fifo` always has its bytes in `{ns}:episodes` (until it is evicted).
"""
from __future__ import annotations

import redis

from replay.client import client_url, redis_errors
from replay.schema import episode_to_ipc, ipc_to_episode, validate_episode

_INSERT = """
local episodes, lengths, fifo, next_id, counters = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local length, capacity = tonumber(ARGV[2]), tonumber(ARGV[3])
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
            "stored_steps")


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
        self._keys = [f"{namespace}:{name}" for name in ("episodes", "lengths", "fifo", "next_id", "counters")]
        self._insert = client.register_script(_INSERT)

    def insert(self, ep: dict, meta: dict) -> int:
        """Validate, then store the episode atomically (evicting the oldest beyond capacity); return its id.
        A bad episode raises EpisodeError naming the field, and nothing is stored."""
        validate_episode(ep, size=self.size, action_dim=self.action_dim)
        length = len(ep["reward"])
        if length > self.capacity_steps:
            raise ValueError(f"episode of {length} steps exceeds the replay capacity of {self.capacity_steps}")
        payload = episode_to_ipc(ep, meta, self.compression)
        with redis_errors(self.url):
            return int(self._insert(keys=self._keys, args=[memoryview(payload), length, self.capacity_steps]))

    def episode_ids(self) -> list[int]:
        """Ids of the stored episodes, oldest first."""
        with redis_errors(self.url):
            return [int(i) for i in self.client.lrange(self._keys[2], 0, -1)]

    def fetch(self, ids: list[int]) -> list[tuple[int, dict, dict]]:
        """(id, episode, meta) for each id still stored (evicted ids are left out), in one round trip."""
        if not ids:
            return []
        with redis_errors(self.url):
            payloads = self.client.hmget(self._keys[0], ids)
        return [(i, *ipc_to_episode(p)) for i, p in zip(ids, payloads) if p is not None]

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
