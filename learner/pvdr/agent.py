"""PVDR's agent on the project's learner/player protocol (Luo et al., 2024, Algorithm 1, lines 6-12).

    parts = build_pvdr_parts(spec)                 # tokenizer, visual dynamics CVAE, alignment module (+ critic)
    player = PvdrPlayer(spec); player.load(weights, version); actions_KA = player(obs, info); player.extras
    learner = PvdrLearner(spec, PvdrConfig(...)); learner.init_world_model(pretrained_dir)
    metrics = learner.update(batch); weights, version = learner.policy_weights(); learner.save(dir)

Acting (Eq. 2): per env the tokens of the last m frames are the context x; every `replan_every` steps (and at an
episode's first frame) N representations are drawn from the prior, decoded into plans, and the one nearest the
goal image kept; a ~ Pi(. | z*, x). The chosen z*, the plan's tokens, log Pi(a) and the weights' version go out as
`extras`, which the env loop stores with each action (PPO's data). Before the first weights: uniform actions.
Learning, one call per batch: Eq. 3 (the decoder and the encoder's last layer), Eq. 4 (the prior: its KL toward
sg[E] plus lambda2 times the goal distance of its plans), Eq. 5 (Pi on (E(x, y), a) pairs of the batch) and a PPO
step (torchrl) on the batch's recent trajectories with Eq. 6's reward. The tokenizer stays frozen.
"""
from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from learner.pvdr.alignment import Alignment
from learner.pvdr.config import PvdrConfig
from learner.pvdr.cvae import VisualDynamicsModel
from learner.pvdr.planner import plan_toward
from learner.pvdr.tokenizer import Tokenizer

ACTING = ("tokenizer", "model", "align")
PRETRAINED_HINT = "pass a directory from `vid2act pretrain --pvdr`"


class PvdrParts(NamedTuple):
    tokenizer: Tokenizer
    model: VisualDynamicsModel
    align: Alignment


def pvdr_config(spec) -> PvdrConfig:
    """The `PvdrConfig` of a spec's sizes and acting fields (`model`, its `image_size` aside; learning settings at
    their defaults: the learner takes the run's)."""
    return PvdrConfig(**{f.name: spec.model[f.name] for f in fields(PvdrConfig) if f.name in spec.model})


def build_pvdr_parts(spec) -> PvdrParts:
    cfg = pvdr_config(spec)
    tokenizer = Tokenizer(spec.model["image_size"], cfg.grid, cfg.codebook, cfg.code_dim, cfg.channels)
    return PvdrParts(tokenizer, VisualDynamicsModel(cfg), Alignment(cfg, spec.action_dim))


def _flat_weights(parts: PvdrParts) -> dict[str, np.ndarray]:
    return {f"{name}.{k}": v.detach().cpu().numpy() for name, part in parts._asdict().items()
            for k, v in part.state_dict().items()}


def _load_weights(parts: PvdrParts, weights: dict[str, np.ndarray]) -> None:
    for name, module in parts._asdict().items():
        module.load_state_dict({k[len(name) + 1:]: torch.tensor(np.asarray(v)) for k, v in weights.items()
                                if k.startswith(name + ".")})


class PvdrPlayer:
    def __init__(self, spec, explore: bool = True, seed: int = 0):
        self.spec, self.explore, self.cfg = spec, explore, pvdr_config(spec)
        self.parts = build_pvdr_parts(spec)
        for module in self.parts:
            module.eval().requires_grad_(False)
        self.random_z = "z" in spec.uses.drop
        self.version, self.info = -1, {}
        self.context = self.z = self.plan = self.age = None
        self.extras: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)

    @classmethod
    def from_checkpoint(cls, directory: str | Path, info: dict, tensors: dict, explore: bool = False,
                        seed: int = 0) -> PvdrPlayer:
        """The policy of a `PvdrLearner` checkpoint (its sidecar `info` and `tensors`, already loaded and checked)."""
        from learner.agent import AgentSpec
        from learner.player import adopt

        player = cls(AgentSpec.from_dict(info["spec"]), explore=explore, seed=seed)
        weights = {f"{name}.{k[len(name) + 1:]}": v.numpy() for name in ACTING for k, v in tensors.items()
                   if k.startswith(name + "/")}
        return adopt(player, weights, info, directory)

    def load(self, weights: dict[str, np.ndarray], version: int) -> None:
        _load_weights(self.parts, weights)
        self.version = version

    def weights(self) -> dict[str, np.ndarray]:
        return _flat_weights(self.parts)

    def _extras(self, K: int, log_prob: np.ndarray) -> dict[str, np.ndarray]:
        z = self.z.reshape(K, -1).numpy() if self.z is not None else np.zeros((K, self._z_width()), np.float32)
        plan = self.plan.reshape(K, -1).float().numpy() if self.plan is not None else \
            np.zeros((K, self.cfg.future * self.cfg.grid ** 2), np.float32)
        return {"plan_z": z.astype(np.float32), "plan_tokens": plan.astype(np.float32),
                "log_prob": log_prob.astype(np.float32), "version": np.full(K, float(self.version), np.float32)}

    def _z_width(self) -> int:
        return self.cfg.grid ** 2 * self.cfg.z_dim

    @torch.no_grad()
    def __call__(self, obs: dict[str, np.ndarray], info: dict | None = None) -> np.ndarray:
        K = obs["image"].shape[0]
        if self.version < 0:
            self.z = self.plan = None
            self.extras = self._extras(K, np.full(K, -np.log(2.0) * self.spec.action_dim))  # uniform on [-1, 1]^A
            return self.rng.uniform(-1, 1, (K, self.spec.action_dim)).astype(np.float32)
        tokens = self.parts.tokenizer.encode(torch.from_numpy(np.ascontiguousarray(obs["image"])))  # (K, h, w)
        first = torch.from_numpy(np.asarray(obs["is_first"], bool))
        if self.context is None or len(self.context) != K:
            self.context, first = tokens[:, None].repeat(1, self.cfg.context, 1, 1), torch.ones(K, dtype=torch.bool)
            self.z, self.plan, self.age = None, None, torch.zeros(K, dtype=torch.long)
        self.context = torch.cat([self.context[:, 1:], tokens[:, None]], 1)
        self.context[first] = tokens[first, None].repeat(1, self.cfg.context, 1, 1)
        self._replan(first | (self.age % self.cfg.replan_every == 0) if self.z is not None else
                     torch.ones(K, dtype=torch.bool), obs)
        self.age = torch.where(first, 1, self.age + 1)
        action, log_prob = self.parts.align.act(self.context, self.z, self.explore)
        self.extras = self._extras(K, log_prob.numpy())
        return action.numpy().astype(np.float32)

    def _replan(self, rows: torch.Tensor, obs: dict) -> None:
        """Eq. 2 for the envs in `rows` (bool (K,)): a new z* and its plan."""
        K = len(rows)
        if self.z is None:
            g = self.cfg.grid
            self.z = torch.zeros(K, g, g, self.cfg.z_dim)
            self.plan = torch.zeros(K, self.cfg.future, g, g, dtype=torch.long)
        if not rows.any():
            return
        goal = torch.from_numpy(np.ascontiguousarray(obs["goal"]))[rows].float() / 255.0
        plan = plan_toward(self.parts.model, self.parts.tokenizer, self.context[rows], goal, self.cfg.candidates,
                           random_z=self.random_z)
        self.z[rows], self.plan[rows] = plan.z, plan.tokens
