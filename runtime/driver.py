"""The driver of Algorithm 1: env workers and the learner kept in ratio, weights broadcast, state checkpointed.

    driver = Driver(cfg, plan, learner, spawn_env, executor=Inline(), replay=replay, on_metrics=log)
    summary = driver.run()          # {"env_steps", "updates", "version"}

The driver only decides *what is due*: the rate limiter says how many updates are due and whether a worker may
insert another chunk; `Every` says when to broadcast weights, checkpoint and evaluate; `Clock` when to poll for a
new worker count and when to warn about a stall. *Where* calls run is the executor's business: `Inline` runs each
call at once in this process (`vid2act train --local`, a debugger, a unit test); deploy's Ray executor sends it to
an actor and hands back an object ref. The same driver runs both.
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from learner import checkpoint_exists

from runtime.builders import RunError, RunPlan
from runtime.cadence import Clock, Deadline, Every
from runtime.config import RunSettings

log = logging.getLogger(__name__)
STALL_WARNING_S = 120.0
"""Seconds without any result before the driver says what it is waiting for."""


class Executor(Protocol):
    """Where the driver's calls run: `call` starts one and returns a future; `wait` returns those finished."""

    def call(self, worker: Any, method: str, *args) -> Any: ...

    def wait(self, futures: list, timeout: float) -> list: ...

    def get(self, future: Any) -> Any:
        """The call's result; its exception if it raised; WorkerLost if the worker died and was not restarted."""

    def publish(self, learner: Any) -> tuple[Any, int]:
        """(what env workers receive as weights, version) of the learner's current policy."""

    def retire(self, worker: Any) -> None:
        """Stop a worker for good (it closes its envs or its sampler first)."""


class WorkerLost(RuntimeError):
    """A worker's process is gone for good (an executor raises it from `get`); the message says what Ray said."""


class _Done:
    """A finished call (Inline's future), numbered in call order."""

    calls = itertools.count()

    def __init__(self, value: Any):
        self.value, self.order = value, next(self.calls)


class Inline:
    """Runs every call at once in this process: the whole run under one debugger."""

    def call(self, worker: Any, method: str, *args) -> _Done:
        return _Done(getattr(worker, method)(*args))

    def wait(self, futures: list, timeout: float) -> list:
        return sorted(futures, key=lambda future: future.order)  # all finished: the oldest call first

    def get(self, future: _Done) -> Any:
        return future.value

    def publish(self, learner: Any) -> tuple[Any, int]:
        return learner.publish()

    def retire(self, worker: Any) -> None:
        worker.close()


class Driver:
    """Keeps env workers and one learner in the configured samples-per-insert ratio until the step budget."""

    def __init__(self, cfg: RunSettings, plan: RunPlan, learner: Any, spawn_env: Callable[[int], Any], *,
                 executor: Executor, replay: Any, on_metrics: Callable[[int, int, dict, str], None],
                 wanted_workers: Callable[[], int] | None = None, evaluator: Any = None):
        """`spawn_env(index)` makes env worker `index`; `replay.counts()` -> (inserted, sampled) agent steps
        (`replay.add_sampled(-n)` owes a restarted learner the n steps it lost); `on_metrics(env_steps, updates,
        metrics, source)` receives every result with who reported it (`learner`, `env-actor-<i>`, `evaluator`);
        `wanted_workers()` the requested worker count (default: the configured one);
        `evaluator` (an `actors.EvalWorker`) evaluates broadcast weights every `train.eval_every` env steps."""
        self.cfg, self.plan, self.learner, self.spawn_env = cfg, plan, learner, spawn_env
        self.executor, self.replay, self.on_metrics = executor, replay, on_metrics
        self.wanted_workers = wanted_workers or (lambda: cfg.train.num_actors)
        self.schedule = plan.schedule
        self.limiter = self.schedule.limiter(replay.counts)
        self.workers: dict[int, Any] = {}
        self.busy: dict[Any, int] = {}  # future -> worker index
        self.learner_job: Any = None
        self.offset = 0  # env steps a lost replay had counted (set on resume)
        self.evaluator, self.eval_job, self.eval_at = evaluator, None, 0
        self.pids: dict[tuple, float | None] = {}  # (kind, worker) -> the process id of its last result
        self.restarts = {"env": 0, "learner": 0}

    # -- the loop ---------------------------------------------------------------------------------------------------
    def run(self, evaluated: int = 0) -> dict:
        """Run to the step budget (or `train.minutes`); {env_steps, updates, version}. `evaluated`: the env steps of
        the run's last evaluation (resuming: its history's), from which the eval cadence goes on."""
        t, ex = self.cfg.train, self.executor
        counters = ex.get(ex.call(self.learner, "counters"))
        self.updates, self.version, self.weights = counters["updates"], counters["version"], None
        stored = self.env_steps()
        self.offset = max(counters["env_steps"] - stored, 0)
        if self.offset:  # a replay that lost its contents (deleted, flushed): the run's count goes on, it refills
            log.warning("the replay holds %d env steps but the checkpoint had reached %d: its contents were lost; "
                        "counting on from there while it refills", stored, counters["env_steps"])
        if self.version > 0:  # resumed: act with the restored policy at once
            self.weights, self.version = ex.publish(self.learner)
        self.sync, self.save = Every(t.sync_every, self.updates), Every(t.checkpoint_every, self.updates)
        self.eval_due = Every(t.eval_every if self.evaluator is not None else 0, evaluated)
        poll, stall, deadline = Clock(0.5), Clock(STALL_WARNING_S), Deadline(60 * t.minutes)
        wanted = t.num_actors
        stall.reset()
        resuming = checkpoint_exists(Path(self.cfg.logdir) / "checkpoint")
        log.info("train: %s on %s%s, %d env workers%s", t.method, self.cfg.env.task,
                 f", {len(self.plan.teachers)} teachers" if self.plan.teachers else "", wanted,
                 ", resuming from its checkpoint" if resuming else
                 f", the student initialised from {self.plan.init_from}" if self.plan.init_from else "")
        while True:
            done = self.env_steps() >= t.steps or deadline.passed()
            if done and self.learner_job is None:
                break
            if poll() and (asked := self.wanted_workers()) != wanted:
                log.info("env workers: %d -> %d (requested while running)", wanted, asked)
                wanted = asked
            self._scale_to(wanted)
            if not done:
                self._dispatch()
            pending = [*self.busy, *(job for job in (self.learner_job, self.eval_job) if job is not None)]
            if not pending:
                inserted, sampled = self.replay.counts()
                raise RuntimeError(f"nothing to run at {inserted} inserted / {sampled} sampled steps: the rate limiter "
                                   f"admits neither side (samples_per_insert={self.schedule.samples_per_insert:g}); "
                                   f"please report")
            ready = ex.wait(pending, timeout=5.0)
            if ready:
                stall.reset()
                self._handle(ready[0])
            elif stall():
                log.warning("no result from %d running calls for %.0f s: are actors pending for resources? see "
                            "`ray status` and the dashboard's actor list", len(pending), STALL_WARNING_S)
        if self.eval_job is not None:  # the last evaluation's point belongs on the curve
            self._handle(self.eval_job)
        if self.evaluator is not None and self.weights is not None and self.eval_at < self.env_steps():
            self.eval_at = self.env_steps()  # the final policy's point, at the budget
            self.eval_job = self.executor.call(self.evaluator, "evaluate", self.weights, self.version)
            self._handle(self.eval_job)
        ex.get(ex.call(self.learner, "save", self.env_steps()))
        return {"env_steps": self.env_steps(), "updates": self.updates, "version": self.version}

    def _handle(self, future: Any) -> None:
        """Hand one finished call's metrics on, with who reported them and the env step they belong to."""
        steps = self.env_steps()
        if future is self.learner_job:
            metrics, source = self._learner_done(future), "learner"
        elif future is self.eval_job:
            metrics, source, steps = self.executor.get(future), "evaluator", self.eval_at
            self.eval_job = None
        else:
            source = f"env-actor-{self.busy[future]}"
            metrics = self._env_done(future)
        self.on_metrics(steps, self.updates, metrics, source)

    def env_steps(self) -> int:
        """Env steps collected so far: inserted agent steps times the action repeat, plus what a lost replay had."""
        return self.replay.counts()[0] * self.schedule.repeat + self.offset

    def _dispatch(self) -> None:
        """Start a chunk on every idle worker the limiter admits, and the updates that are due on an idle learner."""
        ex = self.executor
        for i, worker in self.workers.items():
            if i not in self.busy.values() and self.limiter.can_insert(self.schedule.insert):
                self.busy[ex.call(worker, "step", self.cfg.train.env_chunk, self.version, self.weights)] = i
        if self.learner_job is None:
            due = min(self.limiter.samples_due(self.schedule.sample), max(self.cfg.train.sync_every, 1))
            if due > 0:
                self.learner_job = ex.call(self.learner, "train", due, self.env_steps())
        if self.eval_job is None and self.weights is not None and self.eval_due(self.env_steps()):
            self.eval_at = self.env_steps()  # the curve's x: the env steps the evaluated weights had seen
            self.eval_job = ex.call(self.evaluator, "evaluate", self.weights, self.version)

    def _learner_done(self, future: Any) -> dict:
        ex, self.learner_job = self.executor, None
        try:
            metrics = ex.get(future)
        except WorkerLost as error:
            raise RunError(f"the learner died and was not restarted (its restart budget, train.learner_restarts="
                           f"{self.cfg.train.learner_restarts}, is spent): {error}") from None
        if self._restarted("learner", metrics.pop("learner/pid", None)):
            # the updates since its checkpoint were undone, their batches still counted as sampled: owe them back
            # (sampled = (updates + the one prefetched batch) x batch steps, as in a run that never stopped)
            owed = self.replay.counts()[1] - (int(metrics["train/updates"]) + 1) * self.schedule.sample
            self.replay.add_sampled(-max(owed, 0))
            log.warning("the learner's process died and was restarted: it resumed from its last checkpoint (at "
                        "update %d now, it was at %d); the rate limiter owes it the %d updates undone (the replay "
                        "ratio holds); the run goes on", int(metrics["train/updates"]), self.updates,
                        max(owed, 0) // self.schedule.sample)
            self.sync.last = self.save.last = int(metrics["train/updates"])
        metrics["train/learner_restarts"] = float(self.restarts["learner"])
        self.updates = int(metrics["train/updates"])
        if self.sync(self.updates):
            self.weights, self.version = ex.publish(self.learner)
        if self.save(self.updates):
            ex.get(ex.call(self.learner, "save", self.env_steps()))
            videos = ex.get(ex.call(self.learner, "videos"))  # open-loop videos at the checkpoint cadence
            if videos:
                self.on_metrics(self.env_steps(), self.updates, videos, "learner")
        return metrics

    def _env_done(self, future: Any) -> dict:
        worker = self.busy.pop(future)
        try:
            metrics = self.executor.get(future)
        except WorkerLost as error:  # restarts spent: replace it with a fresh worker (its finished episodes are in)
            log.warning("env worker %d died for good (%s); starting a fresh one", worker, error)
            self.workers.pop(worker)
            self.restarts["env"] += 1
            return {"actor/restarts": float(self.restarts["env"]), "actor/count": float(len(self.workers))}
        self._restarted("env", metrics.pop("actor/pid", None), key=worker)
        metrics["actor/version_lag"] = float(self.version - metrics["actor/version"])
        metrics["actor/restarts"] = float(self.restarts["env"])
        metrics["actor/count"] = float(len(self.workers))
        return metrics

    def _restarted(self, kind: str, pid: float | None, key: object = None) -> bool:
        """Whether the process behind `kind` (`learner`, or env worker `key`) changed since its last result: a new
        pid means it was restarted (counted in `restarts[kind]`)."""
        key = (kind, key)
        restarted = pid is not None and self.pids.get(key, pid) != pid
        self.pids[key] = pid
        self.restarts[kind] += int(restarted)
        return restarted

    def _scale_to(self, n: int) -> None:
        """Start workers up to `n`; retire idle ones beyond it (a busy worker finishes its chunk first)."""
        while len(self.workers) < n:
            i = max(self.workers, default=-1) + 1
            self.workers[i] = self.spawn_env(i)
        for i in sorted(self.workers, reverse=True)[: max(len(self.workers) - n, 0)]:
            if i not in self.busy.values():
                self.executor.retire(self.workers.pop(i))

    def close(self) -> None:
        """Retire every env worker and the learner (each closes what it opened)."""
        for worker in [*(self.workers.pop(i) for i in list(self.workers)), self.learner]:
            try:
                self.executor.retire(worker)
            except Exception as error:  # noqa: BLE001 -- a worker already gone: nothing left to close
                log.debug("retiring %s: %s", worker, error)
