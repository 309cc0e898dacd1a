"""The Vid2Act learner: one batch in, one update of every trained part out (Algorithm 1, lines 5-16).

    learner = Learner(spec, hyper, source_pairs=pairs, device=device)
    metrics = learner.update(batch, teacher_NBTF)     # teacher features from the frozen pool, or None
    weights, version = learner.policy_weights()        # what the env actors act with

Per update: the student world model by Eq. 5 (image, reward and balanced KL terms, plus alpha * L_distill of
Eq. 3-4 against the teachers' own posterior features); the action VAE G by Eq. 7 on a source batch from a domain
drawn by the running domain weights (line 9); then the actor-critic in imagination by Eq. 8 with G frozen.
Methods share this code: `dreamerv2` (no teachers, no G), `no_domain_weights` (uniform Eq. 3 weights),
`no_action_guidance` (no G).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from learner.action_vae import ActionVAE
from learner.batch import pad_action, to_torch
from learner.behavior import ActorCritic
from learner.device import autocast
from learner.distill import DomainDistiller, RunningWeights
from learner.world_model import WorldModel

METHODS = ("vid2act", "dreamerv2", "no_domain_weights", "no_action_guidance")


@dataclass
class AgentSpec:
    """What it takes to rebuild the acting parts anywhere (learner, env actors, evaluation)."""

    model: dict  # WorldModel kwargs (action_dim = padded width)
    action_dim: int  # the target's own action width
    method: str
    n_domains: int  # teachers / source domains (0 for dreamerv2)
    units: int
    actor_layers: int
    value_layers: int
    vae_latent: int
    vae_hidden: int

    @property
    def guided(self) -> bool:
        return self.method in ("vid2act", "no_domain_weights") and self.n_domains > 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Hyper:
    """Optimisation settings of the update (the `train.*` keys)."""

    model_lr: float = 3e-4
    actor_lr: float = 8e-5
    critic_lr: float = 8e-5
    eps: float = 1e-5
    clip: float = 100.0
    alpha: float = 1.0
    weight_floor: float = 0.1
    horizon: int = 15
    discount: float = 0.99
    lambda_: float = 0.95
    entropy: float = 1e-4
    slow_target_every: int = 100
    vae_batch: int = 256


def build_acting_parts(spec: AgentSpec):
    """World model, actor-critic and (when guided) the action VAE for `spec`: shared by Learner and Player."""
    if spec.method not in METHODS:
        raise ValueError(f"unknown method {spec.method!r}; choose one of {', '.join(METHODS)}")
    model = WorldModel(**spec.model)
    guidance = 50 if spec.guided else 0
    vae = ActionVAE(model.feature_size, spec.model["action_dim"], spec.n_domains, spec.vae_latent,
                    spec.vae_hidden) if spec.guided else None
    return model, guidance, vae


class Learner:
    def __init__(self, spec: AgentSpec, hyper: Hyper, teacher_feature: int = 0,
                 source_pairs: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 device: str | torch.device = "cpu", seed: int = 0):
        torch.manual_seed(seed)
        self.spec, self.hyper, self.device = spec, hyper, torch.device(device)
        self.model, guidance, self.vae = build_acting_parts(spec)
        self.model.to(self.device)
        self.uses_teachers = spec.method != "dreamerv2" and spec.n_domains > 0
        params = list(self.model.parameters())
        self.distiller = None
        if self.uses_teachers:
            self.distiller = DomainDistiller(teacher_feature, self.model.feature_size, spec.n_domains,
                                             hyper.weight_floor, uniform=spec.method == "no_domain_weights")
            self.distiller.to(self.device)
            params += list(self.distiller.parameters())
        self.model_opt = torch.optim.Adam(params, lr=hyper.model_lr, eps=hyper.eps)
        self.running = RunningWeights(max(spec.n_domains, 1))
        if self.vae is not None:
            if not source_pairs or len(source_pairs) != spec.n_domains:
                raise ValueError(f"method {spec.method} needs (teacher feature, action) pairs for each of the "
                                 f"{spec.n_domains} source domains; got {len(source_pairs or [])}")
            self.vae.to(self.device)
            self.vae_opt = torch.optim.Adam(self.vae.parameters(), lr=hyper.model_lr, eps=hyper.eps)
            self.source_pairs = [(f.to(self.device), pad_action(a, spec.model["action_dim"]).to(self.device))
                                 for f, a in source_pairs]
        self.ac = ActorCritic(self.model.feature_size, guidance, spec.action_dim, units=spec.units,
                              actor_layers=spec.actor_layers, value_layers=spec.value_layers,
                              horizon=hyper.horizon, discount=hyper.discount, lambda_=hyper.lambda_,
                              entropy=hyper.entropy, slow_target_every=hyper.slow_target_every,
                              actor_lr=hyper.actor_lr, critic_lr=hyper.critic_lr, eps=hyper.eps, clip=hyper.clip)
        self.ac.to(self.device)
        self.generator = torch.Generator().manual_seed(seed)
        self.updates = 0

    # -- one update (Alg. 1, lines 6-16) ---------------------------------------------------------------------
    def update(self, batch: dict, teacher_NBTF: torch.Tensor | np.ndarray | None = None) -> dict[str, float]:
        data = to_torch(batch, self.device)
        metrics: dict[str, torch.Tensor] = {}
        with autocast(self.device):
            wm_loss, post, wm_metrics = self.model.loss(data)
            metrics.update({f"train/{k}": v for k, v in wm_metrics.items()})
            loss = wm_loss
            if self.uses_teachers:
                if teacher_NBTF is None:
                    raise ValueError(f"method {self.spec.method} needs teacher features for every batch")
                teacher = torch.as_tensor(teacher_NBTF, device=self.device)
                distill, weights_NBT, distill_metrics = self.distiller(teacher, self.model.features(post))
                loss = loss + self.hyper.alpha * distill  # Eq. 5
                metrics.update(distill_metrics)
                self.running.update(weights_NBT)
        self._step(self.model_opt, loss, list(self.model.parameters()) + self._distiller_params())
        if self.vae is not None:
            metrics.update(self._vae_update())
        metrics.update(self.ac.update(self.model, post, self._guide()))
        self.updates += 1
        # One device->host copy for all metrics (a float() per metric is a GPU sync each).
        values = torch.stack([torch.as_tensor(v, device=self.device).detach().float().reshape(())
                              for v in metrics.values()]).tolist()
        out = dict(zip(metrics, values))
        out["train/dominant_domain"] = float(self.running.dominant())
        return out

    def _distiller_params(self) -> list:
        return list(self.distiller.parameters()) if self.distiller is not None else []

    def _step(self, opt, loss, params) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, self.hyper.clip)
        opt.step()

    def _vae_update(self) -> dict[str, torch.Tensor]:
        """Eq. 7 on a source batch from a domain drawn by the running weights (Alg. 1, lines 9-10)."""
        domain = self.running.draw(self.generator)
        feats, actions = self.source_pairs[domain]
        idx = torch.randint(len(feats), (self.hyper.vae_batch,), generator=self.generator).to(self.device)
        with torch.no_grad():
            state = self.distiller.distill(feats[idx])  # f_distill(s^i), detached (METHOD step 4)
        domain_B = torch.full((len(idx),), domain, device=self.device)
        loss, metrics = self.vae.loss(state, actions[idx], domain_B)
        self._step(self.vae_opt, loss, list(self.vae.parameters()))
        return metrics

    def _guide(self):
        """h_G(e) for the dominant domain, with G frozen (no gradient flows into it)."""
        if self.vae is None:
            return None
        domain = torch.tensor(self.running.dominant(), device=self.device)

        def guide(feat_NF):
            with torch.no_grad():
                return self.vae.guidance(feat_NF, domain)
        return guide

    def init_world_model(self, tensors: dict[str, torch.Tensor], where: str) -> None:
        """Start the student from a pretrained world model's `model/...` tensors (the pretrained-DreamerV2
        baseline): every part but the reward head, which a teacher lacks, must fit exactly."""
        state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        try:
            missing, unexpected = self.model.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise ValueError(f"{where}: the pretrained world model does not fit the student ({err})") from None
        if unexpected or any(not k.startswith("reward.") for k in missing):
            raise ValueError(f"{where}: the pretrained world model does not fit the student (missing {missing}, "
                             f"unexpected {unexpected}); use the model config it was pretrained with")

    # -- weights out, state in and out -------------------------------------------------------------------------
    def policy_weights(self) -> dict[str, np.ndarray]:
        """Everything a Player needs, as flat numpy arrays (no pickled objects cross to the env actors)."""
        weights = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        weights.update({f"actor.{k}": v for k, v in self.ac.actor.state_dict().items()})
        if self.vae is not None:
            weights.update({f"vae.{k}": v for k, v in self.vae.state_dict().items()})
        weights = {k: v.detach().cpu().numpy() for k, v in weights.items()}
        weights["domain"] = np.array(self.running.dominant(), np.int64)
        return weights

    def modules(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        """Every stateful part, for checkpoints."""
        parts = {"model": self.model, "model_opt": self.model_opt, "actor_critic": self.ac,
                 "actor_opt": self.ac.actor_opt, "critic_opt": self.ac.critic_opt}
        if self.distiller is not None:
            parts["distiller"] = self.distiller
        if self.vae is not None:
            parts.update(vae=self.vae, vae_opt=self.vae_opt)
        return parts
