"""The Redis replay against a real redis-server on loopback: eviction, sampling, concurrency, durability, errors."""
import threading
import time

import numpy as np
import pytest

from deploy.redis_server import RedisServer
from replay import (
    EpisodeError,
    RateLimiter,
    RedisReplay,
    ReplayConnectionError,
    Sampler,
    connect,
)


def _tagged(make_episode, length, seed):
    """An episode whose reward encodes (seed, step): reward = 1000 * seed + step (reward[0] stays 0)."""
    ep, meta = make_episode(length=length, seed=seed)
    ep["reward"] = (1000.0 * seed + np.arange(length)).astype(np.float32)
    ep["reward"][0] = 0
    meta["return"] = float(ep["reward"].sum(dtype=np.float64))
    return ep, meta


def _check_invariants(replay):
    c = replay.counters()
    ids = replay.episode_ids()
    lengths = [len(replay.get(i)[0]["reward"]) for i in ids]
    assert ids == sorted(ids)
    assert c["stored_steps"] == sum(lengths) == c["inserted_steps"] - c["evicted_steps"]
    assert c["stored_steps"] <= replay.capacity_steps
    assert len(ids) == c["inserted_episodes"] - c["evicted_episodes"]
    return ids


def test_fifo_eviction_and_counters(redis_server, make_episode):
    replay = RedisReplay(connect(redis_server.url), capacity_steps=50)
    ids = [replay.insert(*make_episode(length=n, seed=i)) for i, n in enumerate([20, 15, 10, 25, 25])]
    kept = _check_invariants(replay)
    assert kept == ids[3:]  # 25 + 25 fill 50 of 50; everything older went, oldest first
    c = replay.counters()
    assert (c["inserted_steps"], c["evicted_steps"], c["evicted_episodes"]) == (95, 45, 3)
    with pytest.raises(KeyError, match="evicted"):
        replay.get(ids[0])
    back, meta = replay.get(ids[-1])
    np.testing.assert_array_equal(back["image"], make_episode(length=25, seed=4)[0]["image"])
    assert meta["seed"] == 4 and replay.num_steps() == 50
    stats = replay.stats()
    assert stats["replay/episodes"] == 2 and stats["replay/redis_used_memory"] > 0
    with pytest.raises(ValueError, match="exceeds the replay capacity"):
        replay.insert(*make_episode(length=51))


@pytest.mark.parametrize("field", ["image", "is_last", "meta"])
def test_bad_episode_stores_nothing(redis_server, make_episode, field):
    client = connect(redis_server.url)
    replay = RedisReplay(client, capacity_steps=100, size=16)
    ep, meta = make_episode()
    if field == "image":
        ep["image"] = make_episode(size=32)[0]["image"]
    elif field == "is_last":
        ep["is_last"][-1] = False
    else:
        meta["length"] = 3
    with pytest.raises(EpisodeError, match=field):
        replay.insert(ep, meta)
    assert client.keys("*") == []


def test_sampler_windows_are_valid_and_follow_eviction(redis_server, make_episode):
    replay = RedisReplay(connect(redis_server.url), capacity_steps=60)
    for seed, length in enumerate([12, 20, 25], start=1):
        replay.insert(*_tagged(make_episode, length, seed))
    with Sampler(replay, batch=64, seq_len=8, seed=0, prefetch=2, poll_s=0.01) as sampler:
        batch = sampler.next(timeout=10)
        assert batch["image"].shape == (64, 8, 16, 16, 3) and batch["action"].shape == (64, 8, 3)
        episode, step = np.divmod(batch["reward"][:, 1:], 1000)
        assert (episode == episode[:, :1]).all() and (np.diff(step, axis=1) == 1).all()  # one episode, in order
        starts = step[:, 0] - 1  # window start inside its episode
        np.testing.assert_array_equal(batch["is_first"][:, 0], starts == 0)
        assert not batch["is_first"][:, 1:].any()
        np.testing.assert_array_equal(batch["is_last"][:, -1], starts + 8 == np.array([12, 20, 25])[
            episode[:, 0].astype(int) - 1])
        replay.insert(*_tagged(make_episode, 30, 4))  # evicts seeds 1 and 2 (12 + 20 steps)
        for _ in range(200):
            seen = set(np.divmod(sampler.next(timeout=10)["reward"][:, 1], 1000)[0].astype(int))
            if seen <= {3, 4} and 4 in seen:
                break
        assert seen <= {3, 4} and 4 in seen
        assert sampler.stats()["replay/cache_steps"] == 55
    assert replay.counters()["sampled_steps"] >= 2 * 64 * 8
    with Sampler(replay, batch=4, seq_len=8) as restarted:  # a learner restart rebuilds its cache from Redis
        restarted.next(timeout=10)
        assert restarted.stats()["replay/cache_episodes"] == 2


def test_sampler_times_out_without_long_enough_episodes(redis_server, make_episode):
    replay = RedisReplay(connect(redis_server.url), capacity_steps=100)
    replay.insert(*make_episode(length=5))
    with Sampler(replay, batch=2, seq_len=8, poll_s=0.01) as sampler, \
            pytest.raises(TimeoutError, match="1 episodes \\(longest 5 steps\\).*needs 8 steps.*replay.seq_len"):
        sampler.next(timeout=0.3)


def test_a_corrupt_payload_is_skipped_counted_and_never_sampled(redis_server, make_episode):
    """8 flipped bytes in one stored episode: the reader skips it, counts it, and trains on the others only."""
    from deploy.faults import corrupt_payload

    replay = RedisReplay(connect(redis_server.url), capacity_steps=1000)
    ids = [replay.insert(*_tagged(make_episode, 20, seed)) for seed in (1, 2, 3)]
    corrupt_payload(redis_server.url, ids[1])
    assert [i for i, _, _ in replay.fetch(ids)] == [ids[0], ids[2]]
    assert replay.counters()["corrupt_episodes"] == 1
    with Sampler(replay, batch=8, seq_len=5, poll_s=0.01) as sampler:
        seeds = {int(s) for _ in range(10) for s in (sampler.next(timeout=10)["reward"][:, 1] // 1000)}
    assert seeds == {1, 3}


def test_the_sampler_notices_a_store_that_lost_its_contents_and_resyncs(redis_server, make_episode):
    """FLUSHALL while writers go on: ids restart at 1, and the learner's cache must not keep the deleted episodes."""
    replay = RedisReplay(connect(redis_server.url), capacity_steps=1000)
    for seed in (1, 2):
        replay.insert(*_tagged(make_episode, 20, seed))
    with Sampler(replay, batch=4, seq_len=5, poll_s=0.01) as sampler:
        assert {int(s) for s in sampler.next(timeout=10)["reward"][:, 1] // 1000} <= {1, 2}
        replay.client.flushall()
        replay.insert(*_tagged(make_episode, 20, 7))  # id 1 again, in a new store
        deadline = time.monotonic() + 10
        while sampler.resets == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sampler.resets == 1 and sampler.stats()["replay/cache_episodes"] <= 1
        for _ in range(6):  # no batch of the deleted episodes is handed out, prefetched ones included
            assert {int(s) for s in sampler.next(timeout=10)["reward"][:, 1] // 1000} == {7}


def test_concurrent_writers_and_a_reader(redis_server, make_episode):
    replay = RedisReplay(connect(redis_server.url), capacity_steps=150)
    errors, ids = [], []

    def write(worker: int) -> None:
        own = RedisReplay(connect(redis_server.url), capacity_steps=150)
        try:
            for k in range(8):
                ids.append(own.insert(*_tagged(make_episode, 10 + k, 10 * worker + k + 1)))
        except Exception as err:  # noqa: BLE001 -- surfaced below
            errors.append(err)

    with Sampler(replay, batch=8, seq_len=6, poll_s=0.005) as sampler:
        writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
        for t in writers:
            t.start()
        batches = [sampler.next(timeout=20) for _ in range(20)]
        for t in writers:
            t.join()
    assert not errors
    assert sorted(ids) == list(range(1, 25))
    kept = _check_invariants(replay)
    assert kept == sorted(ids)[-len(kept):]
    assert replay.counters()["inserted_episodes"] == 24
    for batch in batches:
        step = batch["reward"][:, 1:] % 1000
        assert (np.diff(step, axis=1) == 1).all()


def test_killed_server_keeps_acknowledged_episodes(tmp_path, make_episode):
    server = RedisServer(tmp_path / "redis")
    try:
        replay = RedisReplay(connect(server.url), capacity_steps=1000)
        ids = [replay.insert(*make_episode(seed=i)) for i in range(5)]
        server.kill()  # SIGKILL right after the last acknowledgement
        server.start()
        replay = RedisReplay(connect(server.url), capacity_steps=1000)
        assert replay.episode_ids() == ids
        assert replay.counters()["inserted_steps"] == 100
        np.testing.assert_array_equal(replay.get(ids[-1])[0]["image"], make_episode(seed=4)[0]["image"])
        url = server.url
        server.stop()
        again = RedisServer(tmp_path / "redis")  # a new run on the same dir reuses port and password
        assert again.url == url and RedisReplay(connect(url), 1000).episode_ids() == ids
        again.stop()
    finally:
        server.stop()


def test_auth_is_required(redis_server):
    no_password = f"redis://127.0.0.1:{redis_server.port}/0"
    with pytest.raises(ReplayConnectionError, match="requires a password"):
        connect(no_password)
    wrong = redis_server.url.replace(redis_server.password, "wrong")
    with pytest.raises(ReplayConnectionError, match=r"redis://:\*\*\*@127.0.0.1") as info:
        connect(wrong)
    assert "wrong" not in str(info.value)


def test_unreachable_url_is_a_clear_error(redis_server):
    url = redis_server.url
    redis_server.stop()
    with pytest.raises(ReplayConnectionError, match="cannot reach Redis at redis://:\\*\\*\\*@127.0.0.1") as info:
        connect(url, retries=1, backoff=0.01)
    assert redis_server.password not in str(info.value)


def test_out_of_memory_is_a_clear_error(tmp_path, make_episode):
    with RedisServer(tmp_path / "redis", maxmemory_bytes=3 << 20) as server:
        replay = RedisReplay(connect(server.url), capacity_steps=10**9, compression=None)
        with pytest.raises(ReplayConnectionError, match="out of memory.*maxmemory"):
            for seed in range(200):
                replay.insert(*make_episode(length=100, size=32, seed=seed))
        _check_invariants(replay)


def test_rate_limiter_keeps_the_ratio():
    inserted, sampled = [0], [0]
    limiter = RateLimiter(samples_per_insert=2.0, min_inserts=10, error_buffer=20,
                          counts=lambda: (inserted[0], sampled[0]))
    assert not limiter.can_sample(1) and limiter.can_insert(10)  # below min_inserts: insert freely
    inserted[0] = 10
    # offset = 20, so I*spi - S must stay in [0, 40]
    assert limiter.can_sample(20) and not limiter.can_sample(21)
    assert limiter.can_insert(10) and not limiter.can_insert(11)
    sampled[0] = 20
    assert limiter.can_insert(20) and not limiter.can_sample(1)
    assert not limiter.await_sample(1, timeout=0.05)
    inserted[0] = 15
    assert limiter.await_sample(10, timeout=0.05)
    with pytest.raises(ValueError, match="error_buffer"):
        limiter.await_sample(41)
    with pytest.raises(ValueError):
        RateLimiter(0, 10, 20, counts=lambda: (0, 0))


def test_rate_limiter_reads_shared_redis_counters(redis_server, make_episode):
    replay = RedisReplay(connect(redis_server.url), capacity_steps=100)
    limiter = RateLimiter(samples_per_insert=1.0, min_inserts=20, error_buffer=10, counts=replay.counts)
    assert not limiter.can_sample(10)
    replay.insert(*make_episode(length=20))
    assert limiter.can_sample(10)
    replay.add_sampled(10)
    assert not limiter.can_sample(1)
