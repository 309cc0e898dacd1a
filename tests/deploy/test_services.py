"""The embedded Redis is supervised: `kill -9` of redis-server mid-stream costs no acknowledged episode."""
import threading

from deploy.faults import kill_redis
from deploy.redis_server import RedisServer
from deploy.services import supervised
from replay import RedisReplay, connect


def test_a_killed_embedded_redis_is_restarted_on_its_aof_and_writers_ride_out_the_gap(tmp_path, make_episode):
    server = RedisServer(tmp_path / "redis")
    acknowledged, errors = [], []
    try:
        with supervised(server, every_s=0.1):
            replay = RedisReplay(connect(server.url), capacity_steps=100_000)

            def write() -> None:
                try:
                    for seed in range(60):
                        acknowledged.append(replay.insert(*make_episode(length=20, seed=seed)))
                except Exception as error:  # noqa: BLE001 -- surfaced below
                    errors.append(error)

            writer = threading.Thread(target=write)
            writer.start()
            while len(acknowledged) < 20:
                pass
            first = kill_redis(server.url)
            writer.join(timeout=60)
            assert not errors, errors
            assert server.process.pid != first  # a new redis-server process
            assert replay.counters()["inserted_episodes"] >= len(acknowledged) == 60
            assert set(acknowledged) <= set(replay.episode_ids())
    finally:
        server.stop()
