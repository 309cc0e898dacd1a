"""The agent definition beneath both `Learner` and `Player`: the methods, the spec, the parts builder.

    method = METHODS["vid2act"]                  # what a method uses: teachers? the action VAE? uniform weights?
    spec = AgentSpec.create(model_cfg, ac_cfg, vae_cfg, method="vid2act", image_size=64, action_dim=6,
                            action_width=6, n_domains=2)
    parts = build_parts(spec)                    # world model, actor, action VAE (or None): the acting parts

Every method runs on the same code path; a `Method` value says which parts it uses, and nothing else decides it.
The spec is what it takes to rebuild the acting parts anywhere (the learner, env actors, evaluation); it crosses
processes as a plain dict (`to_dict` / `from_dict`) and is saved in every learner checkpoint.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch

from learner.action_vae import GUIDANCE, ActionVAE
from learner.behavior import Actor
from learner.checkpoint import CheckpointError
from learner.config import ActionVAEConfig, ActorCriticConfig, ApvConfig, WorldModelConfig
from learner.pvdr.config import ACTING as PVDR_ACTING
from learner.pvdr.config import SIZES as PVDR_SIZES
from learner.pvdr.config import PvdrConfig
from learner.stacked import StackedWorldModel
from learner.world_model import WorldModel


@dataclass(frozen=True)
class Method:
    """Which parts a method trains and acts with (METHOD.md: the method and its ablations)."""

    name: str
    teachers: bool
    """Distils the student from frozen teachers (Eq. 3-5)."""
    guided: bool
    """Trains the action VAE G (Eq. 6-7) and feeds h_G to the actor (Eq. 8)."""
    uniform_weights: bool = False
    """Eq. 3's domain weights fixed at 1/N (the `no_domain_weights` ablation)."""
    stacked: bool = False
    """APV's stacked latent model (an action-conditional RSSM on an action-free one, APV Eq. 3-4)."""
    bonus: bool = False
    """APV's video-based intrinsic bonus in the reward head's target (APV Eq. 5-6)."""
    pretrained: bool = False
    """Starts from pretrained video models (`train.init_from`): APV's action-free one (`vid2act pretrain
    --action-free`) or PVDR's (`vid2act pretrain --pvdr`)."""
    pvdr: bool = False
    """PVDR: planning with visual dynamics representations and an action alignment module (learner/pvdr)."""
    drop: tuple[str, ...] = ()
    """PVDR's terms an ablation removes (its Fig. 5): `prior_opt` (Eq. 4's goal term), `act_sl` (Eq. 5), `act_rl`
    (PPO), `z` (random representations in place of planned ones)."""
    doc: str = ""


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("vid2act", teachers=True, guided=True, doc="the full method (Eq. 3-8)"),
    Method("dreamerv2", teachers=False, guided=False, doc="no teachers, no action VAE (`--init-from` for the "
                                                          "pretrained-DreamerV2 baseline)"),
    Method("no_domain_weights", teachers=True, guided=True, uniform_weights=True, doc="uniform Eq. 3 weights"),
    Method("no_action_guidance", teachers=True, guided=False, doc="no VAE features for the actor"),
    Method("apv", teachers=False, guided=False, stacked=True, bonus=True, pretrained=True,
           doc="APV: action-free video pretraining, the stacked model and the intrinsic bonus"),
    Method("apv_no_bonus", teachers=False, guided=False, stacked=True, pretrained=True,
           doc="APV without the intrinsic bonus (APV Fig. 6b)"),
    Method("apv_no_pretrain", teachers=False, guided=False, stacked=True, bonus=True,
           doc="APV's stacked model and bonus trained from scratch (APV Fig. 6b)"),
    Method("pvdr", teachers=False, guided=False, pretrained=True, pvdr=True,
           doc="PVDR: planning toward a goal image with pretrained visual dynamics representations (Eq. 2-6)"),
    *(Method(f"pvdr_{name}", teachers=False, guided=False, pretrained=True, pvdr=True, drop=(term,),
             doc=f"PVDR without {what} (PVDR Fig. 5)")
      for name, term, what in (("no_prior_opt", "prior_opt", "the prior's goal term"),
                               ("no_act_sl", "act_sl", "supervised alignment"), ("no_act_rl", "act_rl", "PPO"),
                               ("random_z", "z", "planned representations (random z)"))),
)}


def get_method(name: str) -> Method:
    """The `Method` named `name`; ValueError listing the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


@dataclass
class AgentSpec:
    """What it takes to rebuild the acting parts anywhere (learner, env actors, evaluation)."""

    model: dict
    """`WorldModel` kwargs; `action_dim` there is the padded width every teacher accepts."""
    action_dim: int
    """The target's own action width (the actor's output)."""
    method: str
    n_domains: int
    """Teachers / source domains (0 for a method without teachers)."""
    units: int
    actor_layers: int
    value_layers: int
    vae_latent: int
    vae_hidden: int
    vae_zero_z: bool = False
    """h_G from z = 0 when acting (and in imagination), not a clipped N(0, 1) sample."""
    vae_mixture: bool = False
    """h_G mixed over the domains by the running weights, not the dominant domain's alone."""
    vae_norm: bool = False
    """h_G layer-normalised before the actor reads it."""
    actor_init_std: float = 2.0
    """The actor's std offset (`ac.init_std`); 2.0 for specs saved before the key."""

    @classmethod
    def create(cls, model: WorldModelConfig, ac: ActorCriticConfig, vae: ActionVAEConfig, *, method: str,
               image_size: int, action_dim: int, action_width: int, n_domains: int,
               apv: ApvConfig | None = None, pvdr: PvdrConfig | None = None) -> AgentSpec:
        """The spec of a student on `image_size` frames with `action_dim` actions padded to `action_width`; `apv`
        (resolved for the suite, `ApvConfig.for_suite`) shapes a stacked method's model; `pvdr` PVDR's models
        (then `model` holds `image_size` and the `PvdrConfig` sizes and acting fields)."""
        uses = get_method(method)
        kwargs = model.kwargs(image_size, action_width, reward_head=True)
        if uses.pvdr:
            fields = asdict(pvdr or PvdrConfig())
            kwargs = {"image_size": image_size, **{k: fields[k] for k in (*PVDR_SIZES, *PVDR_ACTING)}}
        if uses.stacked:
            apv = apv or ApvConfig().for_suite("dmc")
            kwargs.update(concat_embed=apv.concat_embed == "true", af_kl_scale=apv.af_kl_scale)
        return cls(model=kwargs, action_dim=action_dim,
                   method=method, n_domains=n_domains if uses.teachers else 0, units=ac.units,
                   actor_layers=ac.actor_layers, value_layers=ac.value_layers, vae_latent=vae.latent,
                   vae_hidden=vae.hidden, vae_zero_z=vae.zero_z, vae_mixture=vae.mixture, vae_norm=vae.norm,
                   actor_init_std=ac.init_std)

    @classmethod
    def from_dict(cls, data: dict | AgentSpec) -> AgentSpec:
        return data if isinstance(data, AgentSpec) else cls(**data)

    @property
    def uses(self) -> Method:
        return get_method(self.method)

    @property
    def teachers(self) -> bool:
        """Distils from teachers (a method that uses them, with at least one)."""
        return self.uses.teachers and self.n_domains > 0

    @property
    def guided(self) -> bool:
        """Acts with h_G of the action VAE."""
        return self.uses.guided and self.n_domains > 0

    def to_dict(self) -> dict:
        return asdict(self)

    def check_saved(self, info: dict, directory) -> None:
        """CheckpointError unless the checkpoint sidecar `info` was saved for this spec (normalised, so a spec saved
        before a newer field existed still fits)."""
        saved = info.get("spec")
        if not isinstance(saved, dict) or AgentSpec.from_dict(saved).to_dict() != self.to_dict():
            raise CheckpointError(f"{directory}: saved for another model or method ({saved}); use a fresh logdir")


ACTING_PREFIXES = {"model": "model/", "actor": "actor_critic/actor.", "vae": "vae/"}
"""Where each acting part's tensors live in a learner checkpoint (`Learner.save` names its parts so)."""


class Parts(NamedTuple):
    """The acting parts: the world model, the actor pi(a | e, h_G) and the action VAE G (None when unguided)."""

    model: WorldModel
    actor: Actor
    vae: ActionVAE | None


def build_parts(spec: AgentSpec) -> Parts:
    """World model (APV's stacked one for a stacked method), actor and (when guided) the action VAE for `spec`: the
    one builder of Learner and Player. ValueError for PVDR's methods, whose parts `learner.pvdr` builds."""
    if spec.uses.pvdr:
        raise ValueError(f"method {spec.method} has no world model: its parts come from learner.pvdr "
                         f"(make_learner and Player.for_spec pick them)")
    model = (StackedWorldModel if spec.uses.stacked else WorldModel)(**spec.model)
    guidance = GUIDANCE if spec.guided else 0
    vae = ActionVAE(model.feature_size, spec.model["action_dim"], spec.n_domains, spec.vae_latent,
                    spec.vae_hidden) if spec.guided else None
    actor = Actor(model.feature_size + guidance, spec.action_dim, spec.units, spec.actor_layers,
                  init_std=spec.actor_init_std)
    return Parts(model, actor, vae)


def acting_weights(parts: Parts, mixture_D: torch.Tensor) -> dict[str, np.ndarray]:
    """The broadcast form of the acting parts: flat numpy arrays `model.*`, `actor.*`, `vae.*` and `mixture`, the
    (D,) weights of each domain's h_G (`RunningWeights.mixture`; no pickled objects cross to the env actors)."""
    weights = {f"{name}.{k}": v.detach().cpu().numpy() for name, part in parts._asdict().items() if part is not None
               for k, v in part.state_dict().items()}
    weights["mixture"] = mixture_D.detach().cpu().numpy().astype(np.float32)
    return weights


def load_acting_weights(parts: Parts, weights: dict[str, np.ndarray]) -> torch.Tensor:
    """Load `acting_weights` into `parts` (RuntimeError when they do not fit); returns the (D,) h_G mixture."""
    for name, module in parts._asdict().items():
        if module is not None:
            module.load_state_dict({k[len(name) + 1:]: torch.tensor(np.asarray(v)) for k, v in weights.items()
                                    if k.startswith(name + ".")})
    return torch.tensor(np.asarray(weights["mixture"], np.float32))  # a copy: broadcast arrays are read-only
