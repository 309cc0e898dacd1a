"""Behaviour learning in imagination (Eq. 8): DreamerV2's actor-critic with Vid2Act's action guidance.

    ac = ActorCritic(parts.actor, MLP(F_e, 1, units, layers), ActorCriticConfig(...), eps=1e-5, clip=100.0)
    metrics, stepped = ac.update(world_model, start_state, guide)   # guide(e_NF) -> h_G (N, 50), or None

The actor reads concat(e_t, h_G(e_t)) (h_G: the frozen action VAE's penultimate features for the dominant domain);
the critic reads e_t only. Actor loss: dynamics backpropagation of the lambda-return through the world model, minus
an entropy bonus; critic loss: regression onto lambda-returns computed with a slow critic copied every
`slow_target_every` updates. Neither loss moves the world model, the VAE or the teachers: only the actor's and the
critic's optimisers step here.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import torch
from torch import nn

from learner.batch import pad_action
from learner.config import ActorCriticConfig
from learner.nets import MLP
from learner.optim import finite_step


def lambda_return(reward_BH, value_BH, discount: float, lambda_: float) -> torch.Tensor:
    """TD(lambda) targets over an imagined trajectory (DreamerV2 Eq. 4).

    reward_BH[:, t] is received on reaching step t+1 and value_BH[:, t] = v(s_t), both for t = 0..H-1 plus the
    bootstrap value_BH[:, H]: value has one more step than reward. Returns (B, H) targets for steps 0..H-1.
    """
    H = reward_BH.shape[1]
    out, last = [], value_BH[:, H]
    for t in reversed(range(H)):
        last = reward_BH[:, t] + discount * ((1 - lambda_) * value_BH[:, t + 1] + lambda_ * last)
        out.append(last)
    return torch.stack(out[::-1], 1)


class TruncNormal:
    """Normal(mean, std) truncated to [-1, 1], reparameterised by the inverse CDF (DreamerV2's `trunc_normal`)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean, std
        normal = torch.distributions.Normal(0.0, 1.0)
        self._normal = normal
        self.alpha, self.beta = (-1 - mean) / std, (1 - mean) / std
        self.cdf_a, self.cdf_b = normal.cdf(self.alpha), normal.cdf(self.beta)
        self.Z = (self.cdf_b - self.cdf_a).clamp_min(1e-6)

    def rsample(self) -> torch.Tensor:
        u = torch.rand_like(self.mean)
        p = (self.cdf_a + u * self.Z).clamp(1e-6, 1 - 1e-6)
        return (self.mean + self.std * self._normal.icdf(p)).clamp(-1.0, 1.0)

    def mode(self) -> torch.Tensor:
        return self.mean.clamp(-1.0, 1.0)

    def entropy(self) -> torch.Tensor:
        """Summed over action dims."""
        pdf_a, pdf_b = self._normal.log_prob(self.alpha).exp(), self._normal.log_prob(self.beta).exp()
        ent = (torch.log(math.sqrt(2 * math.pi * math.e) * self.std * self.Z)
               + (self.alpha * pdf_a - self.beta * pdf_b) / (2 * self.Z))
        return ent.sum(-1)


class Actor(nn.Module):
    """pi(a_t | e_t, h_G): an MLP to the mean and std of a truncated normal, std = 2 sigmoid((x + init_std) / 2) +
    min_std (DreamerV2's DistLayer `trunc_normal`; init_std 0 starts near 1.1, the default 2 is the 1.56 of specs
    saved before the option)."""

    def __init__(self, inp: int, action_dim: int, units: int, layers: int, min_std: float = 0.1,
                 init_std: float = 2.0):
        super().__init__()
        self.net, self.min_std, self.init_std = MLP(inp, 2 * action_dim, units, layers), min_std, init_std

    def forward(self, x: torch.Tensor) -> TruncNormal:
        mean, std = self.net(x).float().chunk(2, -1)
        return TruncNormal(torch.tanh(mean), 2 * torch.sigmoid((std + self.init_std) / 2) + self.min_std)


class ActorCritic(nn.Module):
    def __init__(self, actor: Actor, critic: MLP, cfg: ActorCriticConfig, *, eps: float, clip: float):
        """`actor` reads concat(e, h_G), `critic` reads e alone (both sized by the agent spec); `cfg` holds the
        optimisation settings (the spec, not `cfg`, decides the widths)."""
        super().__init__()
        self.cfg, self.clip, self.updates = cfg, clip, 0
        self.actor, self.critic = actor, critic
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, eps=eps)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, eps=eps)

    def actor_input(self, feat_NF: torch.Tensor, guide: Callable | None) -> torch.Tensor:
        return feat_NF if guide is None else torch.cat([feat_NF, guide(feat_NF)], -1)

    def update(self, world_model, start: dict, guide: Callable | None) -> tuple[dict[str, torch.Tensor], bool]:
        """One actor and one critic step on trajectories imagined from every posterior state of the batch;
        returns (metrics, whether both steps were finite and applied)."""
        start = {k: v.detach().flatten(0, 1) for k, v in start.items()}  # (B*T, ...) start states
        trained = [p for p in world_model.parameters() if p.requires_grad]  # a frozen part (APV's hold) stays frozen
        for p in trained:
            p.requires_grad_(False)
        entropies = []

        def policy(feat_NF):
            dist = self.actor(self.actor_input(feat_NF, guide))
            entropies.append(dist.entropy())
            return pad_action(dist.rsample(), world_model.action_dim)

        try:
            traj = world_model.imagine(start, policy, self.cfg.horizon)
            feat_NHF = world_model.features(traj)  # (N, H+1, F), gradients flow to the actor through dynamics
            # Heads on 2-D contiguous rows: on a strided (N, H, F) slice the linear layers fall back to a batched
            # matmul with the weight expanded N times (slower forward and backward).
            N, H1, Fe = feat_NHF.shape
            reward_NH = world_model.reward(feat_NHF[:, 1:].reshape(-1, Fe)).view(N, H1 - 1)
            value_NH = self.slow_critic(feat_NHF).squeeze(-1)
        finally:
            for p in trained:
                p.requires_grad_(True)
        target_NH = lambda_return(reward_NH, value_NH, self.cfg.discount, self.cfg.lambda_)
        weight_NH = torch.cumprod(torch.full_like(target_NH, self.cfg.discount), 1) / self.cfg.discount  # 1, g, g^2..
        entropy_NH = torch.stack(entropies, 1)
        actor_loss = -(weight_NH * (target_NH + self.cfg.entropy * entropy_NH)).mean()
        stepped = finite_step(self.actor_opt, actor_loss, list(self.actor.parameters()), self.clip)

        value_pred = self.critic(feat_NHF[:, :-1].detach().reshape(-1, Fe)).view(N, H1 - 1)
        critic_loss = (weight_NH * 0.5 * (value_pred - target_NH.detach()).pow(2)).mean()
        stepped &= finite_step(self.critic_opt, critic_loss, list(self.critic.parameters()), self.clip)
        self.updates += 1
        if self.updates % self.cfg.slow_target_every == 0:
            self.slow_critic.load_state_dict(self.critic.state_dict())
        metrics = {"train/actor_loss": actor_loss.detach(), "train/critic_loss": critic_loss.detach(),
                   "train/actor_entropy": entropy_NH.detach().mean(), "train/imag_reward": reward_NH.detach().mean(),
                   "train/imag_value": value_pred.detach().mean()}
        return metrics, stepped
