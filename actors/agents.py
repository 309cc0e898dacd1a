"""DMC behaviour agents: SAC on state observations with stable-baselines3, saved as `medium` and `expert`.

    train_agent("dmc/walker_walk", "data/agents", steps=150_000, medium_return=300, expert_return=700, ...)
    policy = load_agent("data/agents", "dmc/walker_walk", "medium")     # the Policy protocol of actors.loop

Why stable-baselines3 and not RLlib: the issue's first try of RLlib SAC (new API stack) on these 2 busy cores took
minutes per hundred env steps once learning started; a learner process plus env-runner machinery per update is
far heavier than one SB3 gradient step, and walker-walk must reach a medium return in ~30 CPU-minutes. SB3's SAC
is a maintained reference implementation; we write no RL algorithm ourselves. `bench/agents.py` measures both.

Checkpoints: the actor's weights in safetensors plus a JSON sidecar (task, level, return, steps, sizes); loading
rebuilds the network from the sidecar — nothing is unpickled.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces
from safetensors import SafetensorError
from safetensors.torch import load, save

from actors.suites import make_state_env

NET_ARCH = [256, 256]


def _agent_dir(agents_dir: str | Path, task: str) -> Path:
    return Path(agents_dir) / task.replace("/", "-")


def _policy(obs_dim: int, action_dim: int):
    from stable_baselines3.sac.policies import SACPolicy

    box = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    act = spaces.Box(-1.0, 1.0, (action_dim,), np.float32)
    return SACPolicy(box, act, lambda _: 3e-4, net_arch=NET_ARCH)


def save_agent(agents_dir: str | Path, task: str, level: str, actor: torch.nn.Module, meta: dict) -> Path:
    out = _agent_dir(agents_dir, task)
    out.mkdir(parents=True, exist_ok=True)
    data = save({k: v.detach().cpu().contiguous() for k, v in actor.state_dict().items()})
    (out / f"{level}.tmp").write_bytes(data)
    (out / f"{level}.tmp").replace(out / f"{level}.safetensors")
    sidecar = {"task": task, "level": level, **meta, "sha256": hashlib.sha256(data).hexdigest()}
    (out / f"{level}.json").write_text(json.dumps(sidecar, indent=1))
    return out / f"{level}.safetensors"


class AgentPolicy:
    """A trained SAC actor acting deterministically on `info["state"]`."""

    def __init__(self, actor: torch.nn.Module):
        self.actor = actor.eval()

    @torch.no_grad()
    def __call__(self, obs: dict, info: dict) -> np.ndarray:
        state = torch.as_tensor(np.asarray(info["state"], np.float32))
        return self.actor(state, deterministic=True).numpy().astype(np.float32)


def load_agent(agents_dir: str | Path, task: str, level: str) -> AgentPolicy:
    """The `level` (medium/expert) agent of `task`; a clear error naming the file and the command to make it."""
    directory = _agent_dir(agents_dir, task)
    weights, sidecar = directory / f"{level}.safetensors", directory / f"{level}.json"
    if not weights.exists() or not sidecar.exists():
        raise FileNotFoundError(f"no {level} agent for {task} in {directory}: train one with "
                                f"`vid2act behaviour --task {task} --agents {agents_dir}`")
    try:
        meta = json.loads(sidecar.read_text())
        policy = _policy(meta["obs_dim"], meta["action_dim"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{sidecar}: unreadable agent sidecar ({err!r}); retrain the agent") from None
    data = weights.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise ValueError(f"{weights}: content does not match the hash in {sidecar} (corrupt or replaced); retrain "
                         f"the agent")
    try:
        policy.actor.load_state_dict(load(data))
    except (RuntimeError, OSError, SafetensorError) as err:
        raise ValueError(f"{weights}: unreadable or mismatched agent weights ({err}); retrain the agent") from None
    return AgentPolicy(policy.actor)


def evaluate_agent(actor: torch.nn.Module, task: str, episodes: int, seed: int, time_limit: int = 0) -> float:
    env = make_state_env(task, time_limit=time_limit, seed=seed)
    policy, returns = AgentPolicy(actor), []
    for i in range(episodes):
        state, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            state, reward, term, trunc, _ = env.step(policy({}, {"state": state[None]})[0])
            total, done = total + reward, term or trunc
        returns.append(total)
    actor.train()
    return float(np.mean(returns))


def train_agent(task: str, agents_dir: str | Path, *, steps: int, medium_return: float, expert_return: float,
                eval_every: int, eval_episodes: int, learning_starts: int, batch_size: int, seed: int = 0,
                time_limit: int = 0, log: Callable[[str], None] = print) -> dict:
    """Train SAC until `expert_return` or `steps`; save `medium`/`expert` when the eval return first passes each."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.logger import Logger

    env = make_state_env(task, time_limit=time_limit, seed=seed)
    model = SAC("MlpPolicy", env, learning_starts=learning_starts, batch_size=batch_size, seed=seed, verbose=0,
                policy_kwargs={"net_arch": NET_ARCH}, device="cpu")
    model.set_logger(Logger(None, []))  # progress goes to `log`; SB3's default logger leaves a /tmp/SB3-* per run
    sizes = {"obs_dim": int(env.observation_space.shape[0]), "action_dim": int(env.action_space.shape[0])}
    saved: dict[str, float] = {}
    started = time.perf_counter()

    class Checkpoints(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps % eval_every:
                return True
            ret = evaluate_agent(model.actor, task, eval_episodes, seed + 10_000, time_limit)
            rate = self.num_timesteps / (time.perf_counter() - started)
            eta = (steps - self.num_timesteps) / max(rate, 1e-9)
            log(f"behaviour {task}: step {self.num_timesteps:,}/{steps:,} | {rate:.0f} steps/s | eval return "
                f"{ret:.1f} | ETA {eta / 60:.1f} min")
            for level, threshold in (("medium", medium_return), ("expert", expert_return)):
                if ret >= threshold and level not in saved:
                    save_agent(agents_dir, task, level, model.actor,
                               {"return": ret, "steps": self.num_timesteps, "algo": "sb3-sac", **sizes})
                    saved[level] = ret
                    log(f"behaviour {task}: saved {level} agent (return {ret:.1f})")
            return "expert" not in saved

    model.learn(total_timesteps=steps, callback=Checkpoints())
    final = evaluate_agent(model.actor, task, eval_episodes, seed + 10_000, time_limit)
    save_agent(agents_dir, task, "final", model.actor,
               {"return": final, "steps": model.num_timesteps, "algo": "sb3-sac", **sizes})
    return {"saved": saved, "final_return": final, "steps": model.num_timesteps,
            "steps_per_s": model.num_timesteps / (time.perf_counter() - started)}
