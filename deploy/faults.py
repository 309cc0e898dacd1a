"""Fault injection into a live run, for tests and `bench/faults.py`: real faults of real parts.

    kill_actor("learner")                     # kill -9 of an actor's process (Ray restarts it within its budget)
    kill_redis(url)                           # kill -9 of the redis-server behind the replay
    corrupt_payload(url, episode_id)          # 8 bytes overwritten inside a stored episode's payload
    os.environ[INJECT] = "worker=0,env=0,diverge_at=150"   # before Ray starts: env actor 0's simulation diverges
    outcome = run_with_faults(cfg, inject=True)           # a training run with all of the above, and what it kept

The environment side (`actors.FaultInjectEnv`, driven by `VID2ACT_INJECT`) lives in `actors/faults.py`.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import ray

from actors import INJECT_ENV_VAR
from deploy.stats import read_history
from replay import RedisReplay, connect

INJECT = INJECT_ENV_VAR
"""The environment variable env actors read their fault schedule from (`actors/faults.py`)."""


def actor_pid(name: str) -> int:
    """The process id of the live actor named `name` (one of ours with a `pid()` method; ValueError if none)."""
    return int(ray.get(ray.get_actor(name).pid.remote(), timeout=120))


def kill_actor(name: str) -> int:
    """SIGKILL the process of the live actor `name` (as `kill -9` would); returns its pid."""
    pid = actor_pid(name)
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_redis(url: str) -> int:
    """SIGKILL the redis-server behind `url` (it must run on this machine); returns its pid."""
    pid = int(connect(url).info("server")["process_id"])
    os.kill(pid, signal.SIGKILL)
    return pid


def corrupt_payload(url: str, episode_id: int, namespace: str = "replay", offset: int = 64) -> None:
    """Overwrite 8 bytes of stored episode `episode_id`'s payload at `offset` (inside its Arrow buffers)."""
    client = connect(url)
    payload = bytearray(client.hget(f"{namespace}:episodes", episode_id))
    payload[offset:offset + 8] = bytes(b ^ 0xFF for b in payload[offset:offset + 8])
    client.hset(f"{namespace}:episodes", episode_id, bytes(payload))



@dataclass
class Outcome:
    """What a run went through and what it kept."""

    summary: dict
    """`deploy.train.train`'s summary: env_steps, updates, version."""
    injected: list[str]
    """The faults injected, in order."""
    acknowledged: int
    """Episodes the env actors reported as inserted (acknowledged by Redis)."""
    stored: int
    """Episodes the replay counted as inserted, read back from its append-only file after the run."""
    counts: dict[str, float] = field(default_factory=dict)
    """Faults the run counted: env_faults, actor_restarts, learner_restarts, corrupt_episodes, store_resets."""
    seconds: float = 0.0


def _wait(condition, timeout: float, what: str, run: threading.Thread, every: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if not run.is_alive() or time.monotonic() > deadline:
            state = "ended" if not run.is_alive() else "hangs"
            raise RuntimeError(f"no {what} within {timeout:.0f} s (the run {state})")
        time.sleep(every)


def _fault_round(url: str, capacity: int, pause_s: float) -> list[str]:
    """One round of faults on a live run, `pause_s` apart; returns what was injected."""
    newest = RedisReplay(connect(url), capacity).episode_ids()[-1]
    faults = {"corrupt payload": lambda: corrupt_payload(url, newest),
              "kill -9 env-actor-0": lambda: kill_actor("env-actor-0"),
              "kill -9 redis-server": lambda: kill_redis(url),
              "kill -9 learner": lambda: kill_actor("learner")}
    for fault in faults.values():
        fault()
        time.sleep(pause_s)
    return list(faults)


def run_with_faults(cfg, inject: bool, pause_s: float = 4.0, at_env_steps: tuple[int, ...] = ()) -> Outcome:
    """Train `cfg` (embedded Redis, the Ray this process is connected to) in a thread; with `inject`, a round of
    faults once the learner trains (or once the run reaches each of `at_env_steps`): 8 bytes of a stored episode
    overwritten, then `kill -9` of env actor 0, of redis-server and of the learner, `pause_s` apart (a diverged
    simulation comes from `VID2ACT_INJECT`, set before Ray started). The learner's restart re-reads every stored
    episode, so the corrupt one is met and skipped."""
    from deploy.redis_server import RedisServer
    from deploy.train import train

    run_dir, outcome, injected = Path(cfg.logdir), {}, []

    def go() -> None:
        try:
            outcome["summary"] = train(cfg)
        except BaseException as error:  # noqa: BLE001 -- re-raised below, in the caller's thread
            outcome["error"] = error

    def trained_to(steps: int) -> bool:  # a learner update logged at (or after) `steps` env steps
        return any("train/updates" in r and r["env_steps"] >= steps for r in read_history(run_dir, missing_ok=True))

    started, thread = time.monotonic(), threading.Thread(target=go, name="faulty-run", daemon=True)
    thread.start()
    for steps in (at_env_steps or (0,)) if inject else ():
        _wait(lambda s=steps: trained_to(s), 24 * 3600 if steps else 300, f"learner update at {steps} env steps",
              thread, every=10 if steps else 0.2)
        injected += _fault_round(RedisServer(run_dir / "redis", start=False).url, cfg.replay.capacity, pause_s)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    with RedisServer(run_dir / "redis") as server:  # stopped with the run: read its counters back from the AOF
        counters = RedisReplay(connect(server.url), cfg.replay.capacity).counters()
    rows = read_history(run_dir, missing_ok=True)
    counts = {"env_faults": sum(r.get("actor/env_faults", 0) for r in rows),
              "actor_restarts": max((r.get("actor/restarts", 0) for r in rows), default=0),
              "learner_restarts": max((r.get("train/learner_restarts", 0) for r in rows), default=0),
              "corrupt_episodes": counters["corrupt_episodes"],
              "store_resets": max((r.get("replay/store_resets", 0) for r in rows), default=0)}
    return Outcome(outcome["summary"], injected, int(sum(r.get("actor/episodes", 0) for r in rows)),
                   counters["inserted_episodes"], counts, time.monotonic() - started)
