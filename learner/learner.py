"""The Vid2Act learner: one batch in, one update of every trained part out (Algorithm 1, lines 5-16).

    learner = Learner(spec, LearnerConfig(), teacher_feature=F_s, source_pairs=pairs, device="cpu")
    metrics = learner.update(batch, teacher_NBTF)     # teacher features from the frozen pool, or None
    weights, version = learner.policy_weights()        # what the env actors act with (version = updates)
    learner.save(dir, env_steps=...)                   # every piece of its state; `restore(dir)` takes it back

Per update: the student world model by Eq. 5 (image, reward and balanced KL terms, plus alpha * L_distill of
Eq. 3-4 against the teachers' own posterior features); the action VAE G by Eq. 7 on a source batch from a domain
drawn by the running domain weights (line 9); then the actor-critic in imagination by Eq. 8 with G frozen.
Which of these a method uses is its `Method` value (learner/agent.py).
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from learner import checkpoint
from learner.action_vae import actor_guidance
from learner.agent import AgentSpec, Parts, acting_weights, build_parts
from learner.batch import pad_action, to_torch
from learner.behavior import ActorCritic
from learner.bonus import VideoBonus
from learner.config import LearnerConfig
from learner.device import autocast
from learner.distill import DomainDistiller, RunningWeights
from learner.nets import MLP
from learner.optim import DivergenceError, finite_step


class Learner:
    def __init__(self, spec: AgentSpec | dict, config: LearnerConfig | dict | None = None, teacher_feature: int = 0,
                 source_pairs: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                 device: str | torch.device = "cpu", seed: int = 0, domains: list[str] | None = None,
                 suite: str = "dmc"):
        """`teacher_feature`: the teachers' feature size F_s (methods with teachers); `source_pairs`: per source
        domain, (teacher features (M, F_s), actions (M, A)) for G (guided methods), ValueError when missing;
        `domains`: the source tasks' names, which per-domain metrics carry (default 0..N-1); `suite`: the target's,
        which resolves APV's suite-dependent settings (`ApvConfig.for_suite`)."""
        torch.manual_seed(seed)
        self.spec, self.config = AgentSpec.from_dict(spec), LearnerConfig.from_dict(config or LearnerConfig())
        self.device = torch.device(device)
        cfg, spec = self.config, self.spec
        self.model, actor, self.vae = build_parts(spec)
        self.model.to(self.device)
        for name in filter(None, cfg.model.compile.split(",")):  # the module's own weights stay in place
            setattr(self.model, name, torch.compile(getattr(self.model, name), dynamic=False))
        self.distiller = None
        if spec.teachers:
            self.distiller = DomainDistiller(teacher_feature, self.model.feature_size, spec.n_domains, cfg.distill,
                                             uniform=spec.uses.uniform_weights, domains=domains)
            self.distiller.to(self.device)
        self.model_opt = torch.optim.Adam(self._model_params(), lr=cfg.model.lr, eps=cfg.model.eps)
        self.running = RunningWeights(max(spec.n_domains, 1))
        if self.vae is not None:
            if not source_pairs or len(source_pairs) != spec.n_domains:
                raise ValueError(f"method {spec.method} needs (teacher feature, action) pairs for each of the "
                                 f"{spec.n_domains} source domains; got {len(source_pairs or [])}")
            self.vae.to(self.device)
            self.vae_opt = torch.optim.Adam(self.vae.parameters(), lr=cfg.model.lr, eps=cfg.model.eps)
            self.source_pairs = [(f.to(self.device), pad_action(a, spec.model["action_dim"]).to(self.device))
                                 for f, a in source_pairs]
        # the G the actor reads: a slow copy synced every `vae.slow_every` updates, or G itself
        self.guide_vae = copy.deepcopy(self.vae).requires_grad_(False) if self.vae is not None and \
            cfg.vae.slow_every else self.vae
        critic = MLP(self.model.feature_size, 1, spec.units, spec.value_layers)
        self.ac = ActorCritic(actor, critic, cfg.ac, eps=cfg.model.eps, clip=cfg.model.clip)
        self.ac.to(self.device)
        self.generator = torch.Generator().manual_seed(seed)
        self.updates, self.skipped, self.skipped_in_row = 0, 0, 0
        self.bonus = None  # APV's intrinsic bonus (APV Eq. 5-6), on the action-free model's features
        apv = cfg.apv.for_suite(suite)
        if spec.uses.bonus:
            self.bonus = VideoBonus(self.model.af_rssm.feature_size, apv, seed).to(self.device)
        self.hold_updates = apv.hold_updates if spec.uses.stacked and spec.uses.pretrained else 0

    # -- one update (Alg. 1, lines 6-16) ---------------------------------------------------------------------
    def update(self, batch: dict, teacher_NBTF: torch.Tensor | np.ndarray | None = None, env_steps: int = 0,
               behave: bool = True) -> dict[str, float]:
        """One update of every part on a batch of (B, T, ...) arrays; `teacher_NBTF` (N, B, T, F_s) when the method
        distils; `env_steps` the run has collected (alpha's annealing reads it); `behave=False` updates the world
        model (and distillation) alone, for dynamics studies. Returns `train/` metrics as floats.
        A non-finite loss or gradient skips the update (nothing moves; `train/skipped_updates` counts it);
        `model.nonfinite_limit` skipped in a row raise DivergenceError."""
        data = to_torch(batch, self.device)
        metrics: dict[str, torch.Tensor] = {}
        weights_NBT = None
        if self.hold_updates and self.updates <= self.hold_updates:  # APV on Meta-World: the video model waits
            for module in self.model.video_model().values():
                module.requires_grad_(self.updates >= self.hold_updates)
        with autocast(self.device):
            loss, post, wm_metrics = self.model.loss(data, self._reward_target())
            metrics.update({f"train/{k}": v for k, v in wm_metrics.items()})
            if self.distiller is not None:
                if teacher_NBTF is None:
                    raise ValueError(f"method {self.spec.method} needs teacher features for every batch")
                teacher = torch.as_tensor(teacher_NBTF, device=self.device)
                student = self.model.rssm.mean_features(post) if self.config.distill.target == "mean" else \
                    self.model.features(post)
                distill, weights_NBT, distill_metrics = self.distiller(teacher, student, self.running.dominant())
                alpha = self.distill_alpha(env_steps)
                loss = loss + alpha * distill  # Eq. 5
                metrics.update(distill_metrics, **{"train/distill_alpha": torch.tensor(alpha)})
        stepped = finite_step(self.model_opt, loss, self._model_params(), self.config.model.clip)
        if stepped and weights_NBT is not None:
            self.running.update(weights_NBT)
        if stepped and behave:
            if self.vae is not None:
                metrics.update(self._vae_update())
            ac_metrics, stepped = self.ac.update(self.model, post, self._guide())
            metrics.update(ac_metrics)
        self._count(stepped, metrics)
        # One device->host copy for all metrics (a float() per metric is a GPU sync each).
        values = torch.stack([torch.as_tensor(v, device=self.device).detach().float().reshape(())
                              for v in metrics.values()]).tolist()
        out = dict(zip(metrics, values))
        out["train/skipped_updates"] = float(self.skipped)
        if self.distiller is not None:
            out["train/dominant_domain"] = float(self.running.dominant())
        return out

    def _reward_target(self):
        """r + beta * r_int for the reward head (APV Eq. 6), or None (the extrinsic reward) without a bonus."""
        if self.bonus is None:
            return None
        return lambda post, reward_BT: self.bonus.reward_target(self.model.af_features(post), reward_BT)

    def distill_alpha(self, env_steps: int) -> float:
        """alpha of Eq. 5 at `env_steps`: `distill.alpha`, decayed linearly to 0 over `distill.anneal_steps` (when
        set)."""
        cfg = self.config.distill
        return cfg.alpha * max(0.0, 1.0 - env_steps / cfg.anneal_steps) if cfg.anneal_steps else cfg.alpha

    def _count(self, stepped: bool, metrics: dict) -> None:
        """Count an applied or a skipped update; DivergenceError after `nonfinite_limit` skipped in a row."""
        if stepped:
            self.updates, self.skipped_in_row = self.updates + 1, 0
            if self.guide_vae is not self.vae and self.updates % self.config.vae.slow_every == 0:
                self.guide_vae.load_state_dict(self.vae.state_dict())
            return
        self.skipped, self.skipped_in_row = self.skipped + 1, self.skipped_in_row + 1
        if self.skipped_in_row >= self.config.model.nonfinite_limit:
            shown = {k: round(float(v), 4) for k, v in metrics.items() if k in ("train/loss", "train/actor_loss")}
            raise DivergenceError(
                f"training diverged: {self.skipped_in_row} updates in a row had a non-finite loss or gradient "
                f"(after update {self.updates}: {shown}); nothing non-finite was applied or saved: resume with a lower "
                f"model.lr / ac.actor_lr / ac.critic_lr or a tighter model.clip")

    def _model_params(self) -> list:
        return list(self.model.parameters()) + (list(self.distiller.parameters()) if self.distiller else [])

    def _vae_update(self) -> dict[str, torch.Tensor]:
        """Eq. 7 on a source batch from a domain drawn by the running weights (Alg. 1, lines 9-10)."""
        domain = self.running.draw(self.generator)
        feats, actions = self.source_pairs[domain]
        idx = torch.randint(len(feats), (self.config.vae.batch,), generator=self.generator).to(self.device)
        with torch.no_grad():
            state = self.distiller.distill(feats[idx], domain)  # f_distill(s^i), detached (METHOD step 4)
        domain_B = torch.full((len(idx),), domain, device=self.device)
        loss, metrics = self.vae.loss(state, actions[idx], domain_B, kl=self.config.vae.kl)
        finite_step(self.vae_opt, loss, list(self.vae.parameters()), self.config.model.clip)  # G: a skip is harmless
        return metrics

    def _guide(self):
        """h_G(e) of the dominant domain (or the running weights' mixture), with G frozen (no gradient into it)."""
        if self.vae is None:
            return None
        mixture_D, spec = self.running.mixture(self.spec.vae_mixture), self.spec

        def guide(feat_NF):
            with torch.no_grad():
                return actor_guidance(self.guide_vae, feat_NF, mixture_D, zero_z=spec.vae_zero_z, norm=spec.vae_norm)
        return guide

    def init_world_model(self, directory: str | Path) -> None:
        """Start the student from a pretrained model's checkpoint: a teacher's world model (the pretrained-DreamerV2
        baseline: every part but the reward head, which a teacher lacks, must fit exactly) or, for APV's stacked
        model, an action-free video model (its encoder, action-free RSSM and decoder). CheckpointError else."""
        _, tensors = checkpoint.load(directory, hint="pass a directory from `vid2act pretrain`")
        if self.spec.uses.stacked:
            self.model.load_video_model(tensors, str(directory))
            return
        state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
        try:
            missing, unexpected = self.model.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise checkpoint.CheckpointError(f"{directory}: the pretrained world model does not fit the student "
                                             f"({err})") from None
        if unexpected or any(not k.startswith("reward.") for k in missing):
            raise checkpoint.CheckpointError(f"{directory}: the pretrained world model does not fit the student "
                                             f"(missing {missing}, unexpected {unexpected}); use the model config it "
                                             f"was pretrained with")

    # -- weights out, state in and out -------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The policy weights' version: the number of updates they have seen (a resumed run continues it)."""
        return self.updates

    def policy_weights(self) -> tuple[dict[str, np.ndarray], int]:
        """(weights, version): everything a Player needs as flat numpy arrays (`Player.load` reads them).
        DivergenceError instead when any of them is non-finite: such weights are never broadcast."""
        weights = acting_weights(Parts(self.model, self.ac.actor, self.guide_vae),
                                 self.running.mixture(self.spec.vae_mixture))
        bad = [k for k, v in weights.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
        if bad:
            raise DivergenceError(f"training diverged: {len(bad)} of {len(weights)} policy weight arrays hold NaN/inf "
                                  f"(e.g. {bad[:3]}) at update {self.updates}; they are not broadcast; resume from the "
                                  f"last checkpoint with lower learning rates")
        return weights, self.version

    def _parts(self) -> dict[str, nn.Module | torch.optim.Optimizer]:
        """Every stateful module and optimiser, by checkpoint name."""
        parts = {"model": self.model, "model_opt": self.model_opt, "actor_critic": self.ac,
                 "actor_opt": self.ac.actor_opt, "critic_opt": self.ac.critic_opt}
        if self.distiller is not None:
            parts["distiller"] = self.distiller
        if self.bonus is not None:
            parts["bonus"] = self.bonus
        if self.vae is not None:  # `vae` is the G the actor reads (a Player loads it); `vae_live` the trained one
            parts.update(vae=self.guide_vae, vae_opt=self.vae_opt)
            if self.guide_vae is not self.vae:
                parts["vae_live"] = self.vae
        return parts

    def save(self, directory: str | Path, **extra) -> Path:
        """Write all of the learner's state (modules, optimisers, counters, running weights, spec) to `directory`;
        `extra` (e.g. `env_steps`) goes into the sidecar beside it."""
        bad = [name for name, part in self._parts().items() if isinstance(part, nn.Module)
               and not all(torch.isfinite(p).all() for p in part.state_dict().values() if p.is_floating_point())]
        if bad:
            raise DivergenceError(f"training diverged: non-finite weights in {bad} at update {self.updates}; not "
                                  f"saved over the last good checkpoint in {directory}")
        info = {**extra, "step": self.updates, "ac_updates": self.ac.updates, "skipped_updates": self.skipped,
                "running_weights": self.running.value.tolist(), "spec": self.spec.to_dict()}
        checkpoint.save(directory, self._parts(), info, extra=checkpoint.rng_state(self.generator))
        return Path(directory)

    def restore(self, directory: str | Path) -> dict:
        """Take back the state `save` wrote; returns the sidecar. The configured learning rates, epsilon and clip
        apply from here on (what the config says is what runs). CheckpointError naming the file when the checkpoint
        is missing, corrupt or of another model or method."""
        info, tensors = checkpoint.load(directory, hint="use a fresh --logdir, or delete the run directory")
        self.spec.check_saved(info, directory)
        checkpoint.restore(self._parts(), info, tensors, directory)
        checkpoint.restore_rng(self.generator, tensors)
        self.updates, self.ac.updates = int(info["step"]), int(info["ac_updates"])
        self.skipped = int(info.get("skipped_updates", 0))
        self.running = RunningWeights.of(info["running_weights"])
        rates = {"model_opt": self.config.model.lr, "vae_opt": self.config.model.lr,
                 "actor_opt": self.config.ac.actor_lr, "critic_opt": self.config.ac.critic_lr}
        for name, part in self._parts().items():
            for group in getattr(part, "param_groups", []):
                group.update(lr=rates[name], eps=self.config.model.eps)
        return info


def make_learner(spec: AgentSpec | dict, config: LearnerConfig | dict | None = None, teacher_feature: int = 0,
                 source_pairs=None, device: str | torch.device = "cpu", seed: int = 0, domains=None,
                 suite: str = "dmc"):
    """The learner a spec's method trains with: `Learner`, or PVDR's `PvdrLearner` (the same protocol)."""
    spec, config = AgentSpec.from_dict(spec), LearnerConfig.from_dict(config or LearnerConfig())
    if spec.uses.pvdr:
        from learner.pvdr.learner import PvdrLearner

        return PvdrLearner(spec, config.pvdr, device, seed)
    return Learner(spec, config, teacher_feature, source_pairs, device, seed, domains=domains, suite=suite)
