"""Cadence objects and the run's insert/update arithmetic (Schedule, RateLimiter.samples_due), as pure units."""
import pytest

from deploy.config import load_config
from replay import RateLimiter
from runtime import Clock, Deadline, Every, Schedule


def test_every_is_due_once_per_interval_from_its_start():
    every = Every(10, start=5)
    due = [step for step in range(5, 60) if every(step)]
    assert due == [15, 25, 35, 45, 55]
    assert not any(Every(0)(s) for s in range(100))  # 0 = never


def test_every_catches_up_once_after_a_jump():
    every = Every(10)
    assert every(35) and not every(40) and every(45)


def test_clock_is_due_at_first_then_every_interval_and_reset_restarts_it():
    now = [0.0]
    clock = Clock(2.0, now=lambda: now[0])
    assert clock() and not clock()
    now[0] = 1.9
    assert not clock()
    now[0] = 2.0
    assert clock()
    now[0] = 3.5
    clock.reset()
    now[0] = 5.0
    assert not clock()
    now[0] = 5.5
    assert clock()


def test_deadline_passes_after_its_seconds_and_zero_means_none():
    now = [100.0]
    budget = Deadline(60, now=lambda: now[0])
    assert not budget.passed()
    now[0] = 160.0
    assert budget.passed()
    assert not Deadline(0, now=lambda: 1e12).passed()


def test_schedule_derives_the_dreamerv2_ratio_prefill_and_a_deadlock_free_buffer():
    cfg = load_config("smoke", ["train.num_actors=3", "train.envs_per_actor=2", "train.first_updates=7"])
    s = Schedule.of(cfg)
    B, T = cfg.replay.batch, cfg.replay.seq_len
    assert s.repeat == 2 and s.sample == B * T
    assert s.samples_per_insert == B * T * 2 / cfg.train.train_every  # one batch per train_every env steps
    assert s.min_inserts == max(cfg.train.prefill // 2, T)
    assert s.insert == cfg.train.env_chunk * 2
    assert s.error_buffer == max(7 * B * T, s.samples_per_insert * s.insert * 3)
    explicit = Schedule.of(load_config("smoke", ["replay.samples_per_insert=3.5"]))
    assert explicit.samples_per_insert == 3.5


def test_limiter_samples_due_counts_whole_batches_and_never_goes_ahead():
    counts = [0, 0]
    limiter = RateLimiter(2.0, min_inserts=100, error_buffer=50, counts=lambda: tuple(counts))
    assert limiter.samples_due(10) == 0  # before the prefill
    counts[0] = 100  # I * spi - offset = 200 - 200 = 0; plus the buffer: 50 steps = 5 batches of 10
    assert limiter.samples_due(10) == 5
    counts[1] = 50
    assert limiter.samples_due(10) == 0 and not limiter.can_sample(10)
    counts[0] = 110
    assert limiter.samples_due(10) == 2 and limiter.can_sample(20) and not limiter.can_sample(21)


@pytest.mark.parametrize("inserters", [1, 4])
def test_the_sized_buffer_admits_the_first_burst_and_one_insert_from_every_inserter(inserters):
    spi, sample, insert = 16.0, 40, 50
    buffer = RateLimiter.error_buffer_for(spi, sample, insert, inserters, first_samples=3)
    counts = [100, 0]
    limiter = RateLimiter(spi, min_inserts=100, error_buffer=buffer, counts=lambda: tuple(counts))
    assert limiter.samples_due(sample) >= 3  # the first burst right after the prefill
    counts[1] = 100 * spi + buffer  # the learner as far ahead as it may be...
    assert all(limiter.can_insert(insert) for _ in range(inserters))  # ...each actor may still insert a chunk
