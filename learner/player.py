"""The inference-only agent the env actors act with (Algorithm 1, lines 19-24).

    player = Player(spec)                       # AgentSpec (or its dict): builds the same parts as the Learner
    player.load(weights, version)               # flat numpy arrays from Learner.policy_weights()
    player = Player.from_checkpoint(run_dir / "checkpoint", explore=False)     # evaluation: the saved policy
    player = Player.for_spec(spec)              # Player, or PvdrPlayer for PVDR's methods (the same protocol)
    actions_KA = player(obs, info)              # the env loop's Policy protocol, K envs at once

Keeps each env's recurrent state: filters e_t with the student's posterior q(e_t | e_{t-1}, a_{t-1}, o_t) and
samples a_t ~ pi(a | e_t, h_G(e_t)) for the broadcast mixture of domains (the dominant one's, by default). Until
the first weights arrive it acts uniformly at random (the prefill policy). Imports no training code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from learner import checkpoint
from learner.action_vae import actor_guidance
from learner.agent import ACTING_PREFIXES, AgentSpec, Parts, acting_weights, build_parts, load_acting_weights
from learner.batch import pad_action
from learner.distill import RunningWeights


class Player:
    def __init__(self, spec: dict | AgentSpec, explore: bool = True, seed: int = 0):
        self.spec = AgentSpec.from_dict(spec)
        self.explore = explore
        self.model, self.actor, self.vae = build_parts(self.spec)
        for module in (self.model, self.actor, self.vae):
            if module is not None:
                module.eval().requires_grad_(False)
        self.version = -1
        self.info: dict = {}  # the checkpoint sidecar, when made by `from_checkpoint`
        self.mixture = torch.ones(max(self.spec.n_domains, 1))  # each domain's share of h_G (Learner's broadcast)
        self.state: dict | None = None
        self.prev_action: torch.Tensor | None = None
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)

    @classmethod
    def for_spec(cls, spec: dict | AgentSpec, explore: bool = True, seed: int = 0):
        """The player a spec's method acts with: this class, or PVDR's planning `PvdrPlayer` (same protocol)."""
        spec = AgentSpec.from_dict(spec)
        if spec.uses.pvdr:
            from learner.pvdr.agent import PvdrPlayer  # torchrl and the planner: loaded only where PVDR acts

            return PvdrPlayer(spec, explore=explore, seed=seed)
        return cls(spec, explore=explore, seed=seed)

    @classmethod
    def from_checkpoint(cls, directory: str | Path, explore: bool = False, seed: int = 0) -> Player:
        """The policy of a learner checkpoint (`Learner.save`), at its saved version; nothing is unpickled.
        CheckpointError naming the file when it is missing, corrupt or does not fit its own spec."""
        info, tensors = checkpoint.load(directory, hint="train the run first (`vid2act train`) if it has none")
        if AgentSpec.from_dict(info["spec"]).uses.pvdr:  # PVDR acts by planning: its own player
            from learner.pvdr.agent import PvdrPlayer

            return PvdrPlayer.from_checkpoint(directory, info, tensors, explore=explore, seed=seed)
        player = cls(info["spec"], explore=explore, seed=seed)
        weights = {f"{name}.{key[len(prefix):]}": value.numpy() for name, prefix in ACTING_PREFIXES.items()
                   for key, value in tensors.items() if key.startswith(prefix)}
        weights["mixture"] = RunningWeights.of(info["running_weights"]).mixture(player.spec.vae_mixture).numpy()
        return adopt(player, weights, info, directory)

    def load(self, weights: dict[str, np.ndarray], version: int) -> None:
        """Adopt broadcast weights (`model.*`, `actor.*`, `vae.*`, `mixture`) of `version`."""
        self.mixture = load_acting_weights(Parts(self.model, self.actor, self.vae), weights)
        self.version = version

    def weights(self) -> dict[str, np.ndarray]:
        """The weights this player acts with, in the broadcast form `load` takes."""
        return acting_weights(Parts(self.model, self.actor, self.vae), self.mixture)

    @torch.no_grad()
    def __call__(self, obs: dict[str, np.ndarray], info: dict[str, np.ndarray] | None = None) -> np.ndarray:
        K = obs["image"].shape[0]
        if self.version < 0:
            return self.rng.uniform(-1, 1, (K, self.spec.action_dim)).astype(np.float32)
        image = torch.from_numpy(np.ascontiguousarray(obs["image"]))[:, None]  # (K, 1, H, W, 3)
        is_first = torch.from_numpy(np.asarray(obs["is_first"], bool))[:, None]
        if self.state is None or self.prev_action is None or self.prev_action.shape[0] != K:
            self.state, self.prev_action = None, torch.zeros(K, self.model.action_dim)
            is_first = torch.ones_like(is_first)
        post, _ = self.model.observe(self.model.encode(image), self.prev_action[:, None], is_first, self.state,
                                     sample=self.explore)
        self.state = {k: v[:, -1] for k, v in post.items()}
        feat = self.model.features(self.state)  # e_t, (K, F)
        if self.vae is not None:
            zero_z = not self.explore or self.spec.vae_zero_z
            feat = torch.cat([feat, actor_guidance(self.vae, feat, self.mixture, zero_z=zero_z,
                                                   norm=self.spec.vae_norm)], -1)
        dist = self.actor(feat)
        action = dist.rsample() if self.explore else dist.mode()
        self.prev_action = pad_action(action, self.model.action_dim)
        return action.numpy().astype(np.float32)


def adopt(player, weights: dict[str, np.ndarray], info: dict, directory: str | Path):
    """`player` loaded with a checkpoint's acting `weights` at its saved version, its sidecar `info` kept;
    CheckpointError naming `directory` when they do not fit the player's spec."""
    try:
        player.load(weights, int(info["step"]))
    except RuntimeError as err:
        raise checkpoint.CheckpointError(f"{directory}: the policy does not fit its spec ({err})") from None
    player.info = info
    return player
