"""An env actor's work: K environments of the target task acting with the latest broadcast policy.

    worker = EnvWorker("dmc/walker_walk", env_kwargs, num_envs=2, spec=agent_spec, sink=replay.insert)
    metrics = worker.step(100, version, weights)   # adopt weights if `version` moved, then step all K envs 100 times;
                                                   # finished episodes go to `sink(ep, meta)`

Plain Python: runtime/ drives it in-process, deploy/ makes it a Ray actor. Episodes reach the sink whole or not at
all, so an actor that dies loses at most its unfinished episodes. Before the first weights arrive the Player acts
at random (prefill).
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from actors import faults
from actors.faults import FaultInjectEnv
from actors.loop import Episode, EnvLoop, episode_meta
from actors.suites import make_env
from learner import Player


class EnvWorker:
    def __init__(self, task: str, env_kwargs: dict, num_envs: int, spec: dict,
                 sink: Callable[[Episode, dict], object], seed: int = 0, worker: int = 0):
        self.task, self.worker, self.sink = task, worker, sink
        self.render_mode = env_kwargs.get("render_mode", "fast")
        seeds = np.random.SeedSequence([seed, worker])
        self.envs = [make_env(task, **env_kwargs, seed=int(s.generate_state(1)[0])) for s in seeds.spawn(num_envs)]
        self.envs = [FaultInjectEnv(env, **plan) if (plan := faults.schedule(worker, i)) else env
                     for i, env in enumerate(self.envs)]  # tests and bench/faults.py only (VID2ACT_INJECT)
        self.player = Player.for_spec(spec, explore=True, seed=seed + worker)
        self.loop = EnvLoop(self.envs, self.player, self._finished, seed=int(seeds.generate_state(1)[0]))
        self.episodes: list[dict] = []

    def step(self, steps: int, version: int, weights: dict[str, np.ndarray] | None) -> dict[str, float]:
        """Adopt `weights` when `version` differs from the policy's, then `run(steps)`."""
        if weights is not None and version != self.player.version:  # a restarted learner may publish an older one
            self.player.load(weights, version)
        return self.run(steps)

    @property
    def version(self) -> int:
        return self.player.version

    def _finished(self, episode: Episode) -> None:
        meta = episode_meta(self.envs[0].unwrapped, episode, "player", 0, self.render_mode, worker=self.worker,
                            version=self.player.version)
        self.sink(episode, meta)
        self.episodes.append(meta)

    def run(self, steps: int) -> dict[str, float]:
        """Step every env `steps` times; return `actor/` metrics for this chunk."""
        started, self.episodes, faults = time.perf_counter(), [], self.loop.faults
        for _ in range(steps):
            self.loop.step()
        elapsed = time.perf_counter() - started
        repeat = self.envs[0].unwrapped.action_repeat
        metrics = {"actor/agent_steps": float(steps * len(self.envs)),
                   "fps/env_frames": steps * len(self.envs) * repeat / elapsed,
                   "actor/version": float(self.player.version), "actor/episodes": float(len(self.episodes)),
                   "actor/env_faults": float(self.loop.faults - faults)}
        if self.episodes:
            metrics["actor/return"] = float(np.mean([m["return"] for m in self.episodes]))
            metrics["actor/success"] = float(np.mean([m["success"] for m in self.episodes]))
        return metrics

    def close(self) -> None:
        for env in self.envs:
            env.close()
