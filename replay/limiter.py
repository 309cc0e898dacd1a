"""Samples-per-insert rate limiting (Reverb's SampleToInsertRatio), in env steps, from shared counters.

With I inserted and S sampled steps, `spi` samples_per_insert and offset = spi * min_inserts, the limiter keeps
    offset - error_buffer  <=  I * spi - S  <=  offset + error_buffer
once I >= min_inserts: sampling waits when the learner is ahead, inserting waits when the actors are. Sampling is
refused until min_inserts steps were inserted; inserts are free until then.

The counters come from a callable (`RedisReplay.counts`), so learners and actors in different processes share one
limiter state through Redis. To avoid deadlock, 2 * error_buffer must cover one sample request (B*T steps) and
spi times one insert (an episode's length).
"""
from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """Keeps sampled steps in ratio `samples_per_insert` to inserted steps, within `error_buffer`."""

    def __init__(self, samples_per_insert: float, min_inserts: int, error_buffer: float, *,
                 counts: Callable[[], tuple[int, int]], poll_s: float = 0.01):
        """`counts() -> (inserted_steps, sampled_steps)`, e.g. `RedisReplay.counts`."""
        if samples_per_insert <= 0 or min_inserts < 1 or error_buffer < 0:
            raise ValueError(f"need samples_per_insert > 0, min_inserts >= 1, error_buffer >= 0; got "
                             f"{samples_per_insert}, {min_inserts}, {error_buffer}")
        self.spi, self.min_inserts, self.error_buffer = samples_per_insert, min_inserts, error_buffer
        self.counts, self.poll_s = counts, poll_s
        offset = samples_per_insert * min_inserts
        self.min_diff, self.max_diff = offset - error_buffer, offset + error_buffer

    def can_sample(self, n: int) -> bool:
        """May `n` more steps be sampled now?"""
        inserted, sampled = self.counts()
        return inserted >= self.min_inserts and inserted * self.spi - sampled - n >= self.min_diff

    def can_insert(self, n: int) -> bool:
        """May `n` more steps be inserted now?"""
        inserted, sampled = self.counts()
        return inserted + n <= self.min_inserts or (inserted + n) * self.spi - sampled <= self.max_diff

    def samples_due(self, n: int) -> int:
        """How many samples of `n` steps each may be taken now without waiting (0 before `min_inserts`)."""
        inserted, sampled = self.counts()
        if inserted < self.min_inserts:
            return 0
        return max(int((inserted * self.spi - self.min_diff - sampled) // n), 0)

    @staticmethod
    def error_buffer_for(samples_per_insert: float, sample: int, insert: int, inserters: int = 1,
                         first_samples: int = 1) -> float:
        """The error buffer that cannot deadlock: it admits the first burst of `first_samples` samples of `sample`
        steps, any one sample, and one insert of `insert` steps from each of `inserters` at once."""
        return float(max(first_samples * sample, sample, samples_per_insert * insert * max(inserters, 1)))

    def _await(self, ready: Callable[[int], bool], n: int, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not ready(n):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(self.poll_s)
        return True

    def await_sample(self, n: int, timeout: float | None = None) -> bool:
        """Block until `n` steps may be sampled; False on timeout."""
        if n > 2 * self.error_buffer:
            raise ValueError(f"sampling {n} steps at once needs error_buffer >= {n / 2}, have "
                             f"{self.error_buffer}: it could never be allowed once inserts are throttled")
        return self._await(self.can_sample, n, timeout)

    def await_insert(self, n: int, timeout: float | None = None) -> bool:
        """Block until `n` steps may be inserted; False on timeout."""
        return self._await(self.can_insert, n, timeout)
