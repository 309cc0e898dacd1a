"""The inference-only agent the env actors act with (Algorithm 1, lines 19-24).

    player = Player(spec)                       # AgentSpec as a dict: builds the same parts as the Learner
    player.load(weights, version)               # flat numpy arrays from Learner.policy_weights()
    actions_KA = player(obs, info)              # the env loop's Policy protocol, K envs at once

Keeps each env's recurrent state: filters e_t with the student's posterior q(e_t | e_{t-1}, a_{t-1}, o_t) and
samples a_t ~ pi(a | e_t, h_G(e_t)) for the broadcast dominant domain. Until the first weights arrive it acts
uniformly at random (the prefill policy).
"""
from __future__ import annotations

import numpy as np
import torch

from learner.action_vae import Z_CLIP
from learner.batch import pad_action
from learner.behavior import Actor
from learner.learner import AgentSpec, build_acting_parts


class Player:
    def __init__(self, spec: dict | AgentSpec, explore: bool = True, seed: int = 0):
        self.spec = spec if isinstance(spec, AgentSpec) else AgentSpec(**spec)
        self.explore = explore
        self.model, guidance, self.vae = build_acting_parts(self.spec)
        self.actor = Actor(self.model.feature_size + guidance, self.spec.action_dim, self.spec.units,
                           self.spec.actor_layers)
        for module in (self.model, self.actor, self.vae):
            if module is not None:
                module.eval().requires_grad_(False)
        self.version = -1
        self.domain = torch.tensor(0)
        self.state: dict | None = None
        self.prev_action: torch.Tensor | None = None
        self.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)

    def load(self, weights: dict[str, np.ndarray], version: int) -> None:
        """Adopt broadcast weights (`model.*`, `actor.*`, `vae.*`, `domain`)."""
        parts = {"model": self.model, "actor": self.actor, "vae": self.vae}
        for name, module in parts.items():
            if module is None:
                continue
            state = {k[len(name) + 1:]: torch.tensor(np.asarray(v)) for k, v in weights.items()
                     if k.startswith(name + ".")}
            module.load_state_dict(state)
        self.domain = torch.tensor(int(weights["domain"]))
        self.version = version

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
            z = torch.zeros(K, self.vae.latent) if not self.explore else \
                torch.randn(K, self.vae.latent).clamp(-Z_CLIP, Z_CLIP)
            feat = torch.cat([feat, self.vae.guidance(feat, self.domain, z)], -1)
        dist = self.actor(feat)
        action = dist.rsample() if self.explore else dist.mode()
        self.prev_action = pad_action(action, self.model.action_dim)
        return action.numpy().astype(np.float32)
