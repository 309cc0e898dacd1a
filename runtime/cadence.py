"""Cadence as small objects (after dreamerv3's `embodied.when`): the driver asks "is it due?", never does modulo.

    sync = Every(10)                 # by a counter: sync(updates) is True once per 10 updates
    poll = Clock(0.5)                # by wall-clock seconds: poll() is True at most every 0.5 s
    budget = Deadline(60 * minutes)  # budget.passed(); Deadline(0) never passes
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable


class Every:
    """Due when a counter has advanced by `every` since it was last due (or since `start`); never when every <= 0."""

    def __init__(self, every: int, start: int = 0):
        self.every, self.last = every, start

    def __call__(self, step: int) -> bool:
        if self.every <= 0 or step - self.last < self.every:
            return False
        self.last = step
        return True


class Clock:
    """Due when `seconds` of wall-clock time passed since it was last due (the first call is due)."""

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic):
        self.seconds, self.now, self.last = seconds, now, -math.inf

    def __call__(self) -> bool:
        if self.now() - self.last < self.seconds:
            return False
        self.last = self.now()
        return True

    def reset(self) -> None:
        """Count the interval from now (something happened that makes the check moot)."""
        self.last = self.now()


class Deadline:
    """A wall-clock budget of `seconds` from construction; 0 or less = no budget."""

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic):
        self.now = now
        self.at = now() + seconds if seconds > 0 else math.inf

    def passed(self) -> bool:
        return self.now() >= self.at
