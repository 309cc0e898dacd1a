"""PVDR's action alignment module Pi(a | z, x) and its critic (Luo et al., 2024, Sec. 4.3, Eq. 5-6; Appendix A.1:
the critic shares Pi's network with its own last layer), trained by supervision (Eq. 5) and PPO.

    align = Alignment(PvdrConfig(), action_dim=4)
    action_BA, log_prob_B = align.act(x_BmHW, z_BhwZ)                  # a ~ Pi(. | z, x), tanh-squashed Gaussian
    loss, metrics = align.supervised_loss(x_BmHW, z_BhwZ, action_BA)   # Eq. 5: ||a - mode Pi(z ~ E(x, y), x)||^2
    metrics = align.ppo_update(trajectories)                           # GAE + clipped PPO (torchrl), minibatched

PPO is torchrl's (`ClipPPOLoss`, `GAE`), on an `ActorValueOperator` whose common trunk is the shared network. A
trajectory batch is a TensorDict of batch shape (B, T) (time last) with `tokens` (context tokens x, (m, h, w)), `z`
(the chosen representation z*), `action`, `action_log_prob` (at collection), and under `next`: `tokens`, `z`,
`reward` (B, T, 1: Eq. 6's reward), `done`, `terminated` (B, T, 1).
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
from tensordict import TensorDict
from tensordict.nn import NormalParamExtractor, TensorDictModule
from torch import nn
from torchrl.modules import ActorValueOperator, ProbabilisticActor, TanhNormal, ValueOperator
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

from learner.pvdr.config import PvdrConfig
from learner.pvdr.st import FrameEmbedding, STTransformer


class Trunk(nn.Module):
    """The network Pi and the critic share: [prompt(z), x_1..x_m] through a spatial-temporal transformer, averaged
    over every token: (B, m, h, w) tokens and (B, h, w, Z) z -> (B, D)."""

    def __init__(self, cfg: PvdrConfig):
        super().__init__()
        self.inputs = FrameEmbedding(cfg.codebook, cfg.z_dim, cfg.dim, cfg.grid, cfg.context + 1)
        self.net = STTransformer(cfg.dim, cfg.heads, cfg.align_depth, cfg.window)

    def forward(self, tokens_BmHW: torch.Tensor, z_BhwZ: torch.Tensor) -> torch.Tensor:
        """Any leading batch dims: (..., m, h, w) and (..., h, w, Z) -> (..., D)."""
        lead = tokens_BmHW.shape[:-3]
        tokens, z = tokens_BmHW.reshape(-1, *tokens_BmHW.shape[-3:]), z_BhwZ.reshape(-1, *z_BhwZ.shape[-3:])
        return self.net(self.inputs.prompted(z, tokens)).mean((1, 2, 3)).view(*lead, -1)


class Alignment(nn.Module):
    def __init__(self, cfg: PvdrConfig, action_dim: int):
        super().__init__()
        self.cfg, self.action_dim = cfg, action_dim
        self.trunk = Trunk(cfg)
        self.actor_head = nn.Sequential(nn.Linear(cfg.dim, 2 * action_dim), NormalParamExtractor())
        self.critic_head = nn.Linear(cfg.dim, 1)
        common = TensorDictModule(self.trunk, in_keys=["tokens", "z"], out_keys=["hidden"])
        policy = ProbabilisticActor(TensorDictModule(self.actor_head, in_keys=["hidden"], out_keys=["loc", "scale"]),
                                    in_keys=["loc", "scale"], distribution_class=TanhNormal, return_log_prob=True)
        operator = ActorValueOperator(common, policy, ValueOperator(self.critic_head, in_keys=["hidden"]))
        # torchrl's wrappers reach the same modules: kept out of the module tree so the state dict holds each once
        self.torchrl = SimpleNamespace(
            ppo=ClipPPOLoss(operator.get_policy_operator(), operator.get_value_operator(), clip_epsilon=cfg.ppo_clip,
                            entropy_coeff=cfg.ppo_entropy, critic_coeff=0.5, loss_critic_type="l2",
                            clip_value=cfg.ppo_value_clip, normalize_advantage=True),
            gae=GAE(gamma=cfg.discount, lmbda=cfg.gae_lambda, value_network=operator.get_value_operator(),
                    deactivate_vmap=True))
        self.actor_opt = torch.optim.Adam([*self.trunk.parameters(), *self.actor_head.parameters()], lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic_head.parameters(), lr=cfg.critic_lr)

    @property
    def log_prob_key(self) -> str:
        return self.torchrl.ppo.tensor_keys.sample_log_prob

    def distribution(self, tokens_BmHW: torch.Tensor, z_BhwZ: torch.Tensor) -> TanhNormal:
        loc, scale = self.actor_head(self.trunk(tokens_BmHW, z_BhwZ))
        return TanhNormal(loc, scale)

    @torch.no_grad()
    def act(self, tokens_BmHW: torch.Tensor, z_BhwZ: torch.Tensor, explore: bool = True
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """a ~ Pi(. | z, x) (its mode when not `explore`) in [-1, 1]^A and its log-probability: (B, A), (B,)."""
        dist = self.distribution(tokens_BmHW, z_BhwZ)
        action = dist.sample() if explore else dist.deterministic_sample
        return action, dist.log_prob(action)

    def supervised_loss(self, tokens_BmHW, z_BhwZ, action_BA) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 5: squared error between the taken action and Pi's mode for the representation E gave (x, y)."""
        loss = (self.distribution(tokens_BmHW, z_BhwZ).deterministic_sample - action_BA).pow(2).sum(-1).mean()
        return loss, {"align_sl": loss.detach()}

    def ppo_update(self, trajectories: TensorDict, generator: torch.Generator | None = None) -> dict[str, float]:
        """Clipped PPO on a (B, T) trajectory batch: advantages by GAE over the time dim (once, by the critic before
        the update), then `ppo_epochs` passes over its transitions in shuffled minibatches of about `ppo_minibatch`
        (Table 3: 100); a minibatch with a non-finite loss or gradient is skipped. Metrics: the last minibatch's
        losses and gradient norm, and the minibatches taken."""
        with torch.no_grad():
            self.torchrl.gae(trajectories)
        flat = trajectories.reshape(-1)
        chunks = -(-flat.numel() // self.cfg.ppo_minibatch)
        for _ in range(self.cfg.ppo_epochs):
            for index in torch.randperm(flat.numel(), generator=generator).chunk(chunks):
                losses, norm = self._ppo_step(flat[index])
        return {"ppo_objective": float(losses["loss_objective"]), "ppo_critic": float(losses["loss_critic"]),
                "ppo_entropy": float(losses.get("entropy", torch.tensor(0.0)).mean()), "ppo_grad_norm": float(norm),
                "ppo_steps": float(self.cfg.ppo_epochs * chunks)}

    def _ppo_step(self, minibatch: TensorDict) -> tuple[TensorDict, torch.Tensor]:
        losses = self.torchrl.ppo(minibatch)
        total = losses["loss_objective"] + losses["loss_critic"] + losses.get("loss_entropy", 0.0)
        self.actor_opt.zero_grad(set_to_none=True)
        self.critic_opt.zero_grad(set_to_none=True)
        total.backward()
        norm = nn.utils.clip_grad_norm_(self.parameters(), self.cfg.max_grad_norm)
        if torch.isfinite(norm):  # a non-finite loss or gradient moves nothing (as `finite_step`)
            self.actor_opt.step()
            self.critic_opt.step()
        return losses.detach(), norm
