"""The world model F (Eq. 1-2; the model terms of Eq. 5): encoder, RSSM, decoder and an optional reward head.

    model = WorldModel(64, 6, depth=32, stoch=50, discrete=0, deter=200, hidden=200, min_std=0.1, units=400,
                       reward_layers=2, kl_balance=0.8, free_nats=1.0, kl_scale=1.0, reward_head=True)
    loss, post, metrics = model.loss(batch)          # batch: dict of (B, T, ...) arrays, see learner.batch
    feat_BTF = model.features(post)                  # e_t = concat(stoch, deter)

Teachers are the same class with reward_head=False (Eq. 2); the student has the head (Eq. 5). With action_dim=0 it
is APV's action-free video model (its Eq. 1-2): actions given to it are ignored. APV's stacked student is
`learner.stacked.StackedWorldModel`, a subclass.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from learner.batch import pad_action, postprocess, preprocess, to_torch
from learner.losses import balanced_kl_loss, image_nll, reward_nll
from learner.nets import MLP, ConvDecoder, ConvEncoder
from learner.rssm import RSSM


RewardTarget = Callable[[dict, torch.Tensor], tuple[torch.Tensor, dict]]
"""(posterior, extrinsic reward (B, T)) -> (the reward head's target (B, T'), metrics)."""


class WorldModel(nn.Module):
    def __init__(self, image_size: int, action_dim: int, *, depth: int, stoch: int, discrete: int, deter: int,
                 hidden: int, min_std: float, units: int, reward_layers: int, kl_balance: float, free_nats: float,
                 kl_scale: float, reward_head: bool = True, reward_scale: float = 1.0, std_act: str = "softplus"):
        super().__init__()
        self.kwargs = dict(image_size=image_size, action_dim=action_dim, depth=depth, stoch=stoch,
                           discrete=discrete, deter=deter, hidden=hidden, min_std=min_std, std_act=std_act, units=units,
                           reward_layers=reward_layers, kl_balance=kl_balance, free_nats=free_nats,
                           kl_scale=kl_scale, reward_head=reward_head, reward_scale=reward_scale)
        self.image_size, self.action_dim = image_size, action_dim
        self.kl_balance, self.free_nats = kl_balance, free_nats
        self.kl_scale, self.reward_scale = kl_scale, reward_scale
        self.encoder = ConvEncoder(image_size, depth)
        self.rssm = RSSM(action_dim, self.encoder.embed_size, stoch=stoch, discrete=discrete, deter=deter,
                         hidden=hidden, min_std=min_std, std_act=std_act)
        self.decoder = ConvDecoder(self.rssm.feature_size, image_size, depth)
        self.reward = MLP(self.rssm.feature_size, 1, units, reward_layers) if reward_head else None
        self.to(memory_format=torch.channels_last)

    @property
    def feature_size(self) -> int:
        return self.rssm.feature_size

    def encode(self, image_BTHWC: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, T, H, W, 3) -> embeddings (B, T, E), one conv pass over all B*T frames."""
        B, T = image_BTHWC.shape[:2]
        return self.encoder(preprocess(image_BTHWC)).unflatten(0, (B, T))

    def decode(self, feat_BTF: torch.Tensor) -> torch.Tensor:
        """Features (B, T, F) -> mean frames (B, T, H, W, 3) in model space [-0.5, 0.5]."""
        B, T = feat_BTF.shape[:2]
        return postprocess(self.decoder(feat_BTF.flatten(0, 1)), B, T)

    def observe(self, embed_BTE, action_BTA, is_first_BT, state=None, sample: bool = True):
        """Posterior and prior over a sequence (Eq. 1); state resets where is_first. Returns (post, prior)."""
        return self.rssm.observe(embed_BTE, self.actions(action_BTA), is_first_BT, state, sample)

    def actions(self, action_BTA: torch.Tensor) -> torch.Tensor:
        """Actions as the RSSM takes them: zero-padded to `action_dim`, or none at all (width 0) when action-free."""
        return action_BTA[..., :0] if self.action_dim == 0 else pad_action(action_BTA, self.action_dim)

    def features(self, state: dict) -> torch.Tensor:
        """The paper's e_t = concat(stoch, deter), (..., feature_size)."""
        return self.rssm.features(state)

    def imagine(self, start: dict, policy: Callable[[torch.Tensor], torch.Tensor], horizon: int,
                sample: bool = True) -> dict[str, torch.Tensor]:
        """Roll the dynamics forward from `start` (dict of (N, ...)) with actions a = policy(e).

        Returns the trajectory as (N, horizon + 1, ...) tensors, index 0 the start, plus `action` (N, horizon + 1, A)
        where action[:, t] led to state t (action[:, 0] = 0), the same convention as the data.
        """
        state = {k: v.detach() for k, v in start.items()}
        states, actions = [state], [torch.zeros(state["deter"].shape[0], self.action_dim, device=state["deter"].device)]
        for _ in range(horizon):
            action = policy(self.features(state).detach())
            state = self.rssm.img_step(state, action, sample)
            states.append(state)
            actions.append(action)
        traj = {k: torch.stack([s[k] for s in states], 1) for k in states[0]}
        traj["action"] = torch.stack(actions, 1)
        return traj

    def predict(self, start: dict, action_BHA: torch.Tensor, sample: bool = False) -> dict[str, torch.Tensor]:
        """Open-loop prediction: prior states for given actions (B, H, A) from `start` (dict of (B, ...))."""
        action_BHA = self.actions(action_BHA)
        state, states = start, []
        for t in range(action_BHA.shape[1]):
            state = self.rssm.img_step(state, action_BHA[:, t], sample)
            states.append(state)
        return {k: torch.stack([s[k] for s in states], 1) for k in states[0]}

    def kl_loss(self, post: dict, prior: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """kl_scale * the balanced KL of Eq. 2, and its metrics `kl` (the value) and `kl_loss` (before the scale)."""
        kl_loss, kl = balanced_kl_loss(post, prior, self.kl_balance, self.free_nats)
        return self.kl_scale * kl_loss, {"kl": kl, "kl_loss": kl_loss.detach()}

    def loss(self, batch: dict, reward_target: RewardTarget | None = None
             ) -> tuple[torch.Tensor, dict, dict[str, torch.Tensor]]:
        """Eq. 2 (+ the reward NLL of Eq. 5 when the head exists) on one batch of (B, T, ...) arrays.

        loss = image NLL + kl_scale * balanced KL [+ reward_scale * reward NLL]. `reward_target(post, reward_BT)`
        -> (target (B, T'), metrics), T' <= T, replaces the reward the head regresses on its first T' steps (APV's
        intrinsic bonus, Eq. 6 there). Returns (loss, post, metrics); metrics are detached scalars.
        """
        data = to_torch(batch, next(self.parameters()).device)  # no copy for tensors already on the device
        B, T = data["image"].shape[:2]
        target = preprocess(data["image"])  # uint8 -> float once per update: the encoder's input and the target
        embed = self.encoder(target).unflatten(0, (B, T))
        post, prior = self.observe(embed, data["action"].float(), data["is_first"])
        feat = self.features(post)
        recon = self.decoder(feat.flatten(0, 1))
        img = image_nll(recon.unflatten(0, (B, T)), target.unflatten(0, (B, T)))
        kl_loss, metrics = self.kl_loss(post, prior)
        loss = img + kl_loss
        metrics["image_nll"] = img.detach()
        if self.reward is not None:
            target = data["reward"]
            if reward_target is not None:
                target, extra = reward_target(post, target)
                metrics.update(extra)
            rew = reward_nll(self.reward(feat[:, :target.shape[1]]).squeeze(-1), target)
            loss = loss + self.reward_scale * rew
            metrics["reward_nll"] = rew.detach()
        metrics["loss"] = loss.detach()
        return loss, post, metrics
