"""The learner-side sampler: a background thread mirrors recent episodes from RedisReplay and prefetches batches.

    sampler = Sampler(replay, batch=16, seq_len=50, seed=0)
    batch = sampler.next()    # {"image": (B, T, H, W, 3) uint8, "action": (B, T, A) float32, ...}
                              # + the optional fields (`goal`, `plan_z`, ...) every sampled episode has
    sampler.close()

The thread polls Redis every `poll_s`: each new episode is pulled and decoded once into a local cache (numpy views of
Arrow buffers); what Redis evicted, or what exceeds `cache_steps`, leaves the cache. Batches are drawn from the cache
by `sample_windows` (uniform over valid windows) into a queue of `prefetch` batches, so a learner step costs one
queue get. Sampled steps are added to the Redis counter by the thread when it polls (at most `poll_s` late;
`close()` flushes the rest), so `next()` makes no round trip. Redis stays the durable store: a restarted learner
builds its cache anew from it.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict

import numpy as np

from replay.dataset import sample_windows
from replay.redis_replay import RedisReplay

_PULL_CHUNK = 8  # episodes fetched per Redis round trip
log = logging.getLogger(__name__)


class Sampler:
    """Prefetching (B, T) batch source over a RedisReplay; `next()` blocks until a batch is ready."""

    def __init__(self, replay: RedisReplay, batch: int, seq_len: int, seed: int = 0, prefetch: int = 4,
                 cache_steps: int | None = None, poll_s: float = 0.05):
        """`cache_steps`: most env steps kept locally (default: the replay's capacity, i.e. everything)."""
        self.replay, self.batch, self.seq_len = replay, batch, seq_len
        self.cache_steps = cache_steps or replay.capacity_steps
        self.poll_s = poll_s
        self._rng = np.random.default_rng(seed)
        self._cache: OrderedDict[int, dict] = OrderedDict()  # episode id -> episode, oldest first
        self._steps = 0  # env steps in the cache
        self._windows = 0  # valid (episode, start) windows in the cache
        self._last_id = 0  # newest episode id pulled
        self._identity: str | None = None  # the store's identity when last synced
        self.resets = 0  # store resets noticed
        self._taken = 0  # steps handed out by next() (written by the caller only)
        self._counted = 0  # of those, steps added to Redis' sampled counter (written by one thread at a time)
        self._queue: queue.Queue = queue.Queue(prefetch)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="replay-sampler", daemon=True)
        self._thread.start()

    def _add(self, episode_id: int, ep: dict) -> None:
        self._cache[episode_id] = ep
        self._steps += len(ep["reward"])
        self._windows += max(len(ep["reward"]) - self.seq_len + 1, 0)

    def _drop(self, episode_id: int) -> None:
        ep = self._cache.pop(episode_id)
        self._steps -= len(ep["reward"])
        self._windows -= max(len(ep["reward"]) - self.seq_len + 1, 0)

    def _check_identity(self) -> bool:
        """A store that lost its contents (ids restart at 1) is detected by its identity: drop the cache and the
        batches drawn from it, resync. Returns whether it was reset."""
        identity = self.replay.identity()
        reset = identity != self._identity and self._identity is not None
        self._identity = identity
        if reset:
            log.warning("replay at %s was reset (its episodes are gone: flushed, or restarted without persistence); "
                        "dropping the learner's cache of %d episodes and resyncing", self.replay.url, len(self._cache))
            for episode_id in list(self._cache):
                self._drop(episode_id)
            self._last_id = 0
            while not self._queue.empty():  # prefetched batches of deleted episodes are never handed out
                self._queue.get_nowait()
            self.resets += 1
        return reset

    def _sync(self) -> bool:
        """Drop what Redis evicted, pull what is new (each episode once), keep within cache_steps; returns whether
        the store was found reset."""
        reset = self._check_identity()
        ids = self.replay.episode_ids()
        oldest = ids[0] if ids else self._last_id + 1
        for episode_id in [i for i in self._cache if i < oldest]:
            self._drop(episode_id)
        new = [i for i in ids if i > self._last_id]
        for start in range(0, len(new), _PULL_CHUNK):
            for episode_id, ep, _ in self.replay.fetch(new[start:start + _PULL_CHUNK]):
                self._add(episode_id, ep)
            while self._steps > self.cache_steps and len(self._cache) > 1:
                self._drop(next(iter(self._cache)))
        if new:
            self._last_id = new[-1]
        return reset

    def _count_sampled(self) -> None:
        taken = self._taken
        if taken > self._counted:
            self.replay.add_sampled(taken - self._counted)
            self._counted = taken

    def _run(self) -> None:
        pending, next_sync = None, 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= next_sync:
                    self._count_sampled()
                    if self._sync():
                        pending = None  # drawn from the deleted episodes
                    next_sync = time.monotonic() + self.poll_s
                if pending is None:
                    if self._windows == 0:
                        self._stop.wait(self.poll_s)
                        continue
                    pending = sample_windows(list(self._cache.values()), self.batch, self.seq_len, self._rng)
                try:
                    self._queue.put(pending, timeout=self.poll_s)
                    pending = None
                except queue.Full:
                    pass
        except BaseException as err:  # noqa: BLE001 -- handed to the learner thread by next()
            self._error = err

    def next(self, timeout: float | None = None) -> dict[str, np.ndarray]:
        """The next (B, T, ...) batch (the fields of `sample_windows`: an optional one such as `plan_z` only when
        every episode sampled into the batch has it); B*T steps count as sampled. TimeoutError after `timeout`
        seconds; RuntimeError when the sampling thread failed or the sampler is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._error is not None:
                raise RuntimeError(f"replay sampler thread failed: {self._error}") from self._error
            if self._stop.is_set():
                raise RuntimeError("sampler is closed")
            try:
                batch = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"no batch within {timeout:g} s: {self.why_no_batch()}") from None
        self._taken += self.batch * self.seq_len
        return batch

    def why_no_batch(self) -> str:
        """What the cache holds against what a batch needs, in one sentence."""
        longest = max((len(ep["reward"]) for ep in list(self._cache.values())), default=0)
        if not self._cache:
            return ("the replay holds no episode yet: are env workers running and inserting? (the learner's cache "
                    f"was reset {self.resets} times)")
        return (f"the replay holds {len(self._cache)} episodes (longest {longest} steps) and a training window needs "
                f"{self.seq_len} steps; episodes shorter than the window can never be sampled (replay.seq_len vs "
                f"env.time_limit)" if longest < self.seq_len else
                f"the replay holds {len(self._cache)} episodes with {self._windows} windows, but no batch was drawn")

    def stats(self) -> dict[str, float]:
        """The local cache as `replay/` metrics."""
        return {"replay/cache_episodes": len(self._cache), "replay/cache_steps": self._steps,
                "replay/prefetched": self._queue.qsize(), "replay/store_resets": self.resets}

    def close(self) -> None:
        """Stop the thread and count what was sampled since its last pass (idempotent)."""
        self._stop.set()
        self._thread.join()
        self._count_sampled()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
