"""The typed configs of the learner's parts, one dataclass per part, a doc line per field.

    WorldModelConfig   the student's and the teachers' world model (Eq. 1-2; model terms of Eq. 5) and its optimiser
    ActorCriticConfig  behaviour learning in imagination (Eq. 8)
    DistillConfig      domain-selective distillation (Eq. 3-5)
    ActionVAEConfig    the action generator G (Eq. 6-7)
    ApvConfig          APV's stacked latent model and video-based intrinsic bonus (APV Eq. 3-6)

`deploy/`'s config tree composes these (`model.*`, `ac.*`, `distill.*`, `vae.*`); the parts read them directly, so
every field here is settable from the command line and nothing is copied or mapped by name.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from learner.pvdr.config import PvdrConfig


@dataclass
class WorldModelConfig:
    depth: int = 16
    """Conv encoder/decoder channel multiplier (paper: 32)."""
    stoch: int = 32
    """Stochastic state size (Gaussian) or number of categorical variables (discrete)."""
    discrete: int = 0
    """Classes per categorical variable; 0 = Gaussian stochastic state (paper: 0, option 32)."""
    deter: int = 128
    """GRU deterministic state size (paper: 200)."""
    hidden: int = 128
    """RSSM hidden layer size (paper: 200)."""
    min_std: float = 0.1
    """Minimum std of the Gaussian stochastic state."""
    std_act: str = "sigmoid2"
    """Std of the Gaussian stochastic state before min_std: `sigmoid2` = 2 sigmoid(x / 2) (DreamerV2's rssm.std_act)
    or `softplus` (this project before the DreamerV2 alignment; a checkpoint saved without the key has it)."""
    units: int = 200
    """Reward head width (paper: 400)."""
    reward_layers: int = 2
    """Reward head depth."""
    kl_balance: float = 0.8
    """KL balancing: weight of the prior side."""
    free_nats: float = 1.0
    """Free nats on the batch-mean KL."""
    kl_scale: float = 1.0
    """beta in Eq. 2 and Eq. 5."""
    reward_scale: float = 2.0
    """Weight of the student's reward NLL in Eq. 5."""
    action_pad: int = 0
    """Width actions are zero-padded to so every teacher accepts the target; 0 = the suite's widest."""
    lr: float = 3e-4
    """World-model (and distillation heads') Adam learning rate."""
    eps: float = 1e-5
    """Adam epsilon of every optimiser of the learner."""
    clip: float = 100.0
    """Gradient-norm clip of every optimiser of the learner."""
    nonfinite_limit: int = 10
    """Updates in a row with a non-finite loss or gradient (each skipped) that stop the run as diverged."""
    compile: str = ""
    """The student's world-model methods the learner runs through torch.compile, comma-separated from `imagine`
    (imagination, Eq. 8's rollouts) and `loss` (Eq. 5's filtering); '' = eager. Compiling costs minutes at start;
    `bench/learner.py --compile` measures each beside the eager path."""

    def kwargs(self, image_size: int, action_dim: int, reward_head: bool) -> dict:
        """`WorldModel` keyword arguments for frames of `image_size` and actions padded to `action_dim`."""
        names = ("depth", "stoch", "discrete", "deter", "hidden", "min_std", "std_act", "units", "reward_layers",
                 "kl_balance", "free_nats", "kl_scale")
        return dict(image_size=image_size, action_dim=action_dim, reward_head=reward_head,
                    reward_scale=self.reward_scale if reward_head else 1.0, **{n: getattr(self, n) for n in names})


@dataclass
class ActorCriticConfig:
    units: int = 200
    """Actor and critic MLP width (paper: 400)."""
    actor_layers: int = 4
    """Actor depth."""
    value_layers: int = 3
    """Critic depth."""
    horizon: int = 15
    """Imagination horizon H."""
    discount: float = 0.99
    """gamma."""
    lambda_: float = 0.95
    """lambda of the lambda-return."""
    entropy: float = 1e-4
    """Actor entropy bonus."""
    init_std: float = 0.0
    """Offset in the actor's std, 2 sigmoid((x + init_std) / 2) + 0.1: 0 starts at DreamerV2's 1.1 (its DistLayer
    init_std); 2 at 1.56 (this project before the alignment; a spec saved without the key has it)."""
    slow_target_every: int = 100
    """Updates between slow-critic copies."""
    actor_lr: float = 8e-5
    """Actor Adam learning rate."""
    critic_lr: float = 8e-5
    """Critic Adam learning rate."""


@dataclass
class DistillConfig:
    alpha: float = 1.0
    """Weight of L_distill in Eq. 5."""
    weight_floor: float = 0.1
    """Floor on the domain weights in Eq. 4."""
    floor: str = "all"
    """Which teachers' weights the floor applies to: `all` (the release), `dominant` (the running argmax), `none`."""
    heads: str = "shared"
    """f_distill: `shared` (the release: one linear map for all teachers) or `per_teacher` (one map each)."""
    target: str = "sample"
    """The student features distilled: `sample` (the release: e_t with the sampled stoch) or `mean` (deter and the
    posterior mean, as the teachers' features are)."""
    weights: str = "linear"
    """Domain weights: `linear` (Eq. 3: softmax_i of one linear layer on concat(s^i, e), in which e cancels),
    `bilinear` (softmax_i of s^i W e + b, which sees the student) or `distance` (softmax_i(-d_i / tau) over the
    distillation distances)."""
    tau: float = 1.0
    """Temperature of the `distance` weights."""
    anneal_steps: int = 0
    """Env steps over which alpha decays linearly to 0 (the teachers help early, then step aside); 0 = a constant
    alpha (the paper)."""


@dataclass
class ActionVAEConfig:
    latent: int = 8
    """Latent size of G (BCQ: twice the action width)."""
    hidden: int = 750
    """Hidden layer size of G's encoder and decoder (BCQ: 750)."""
    batch: int = 256
    """(source state, action) pairs per G update."""
    source_steps: int = 20_000
    """Most (teacher feature, action) pairs kept per source dataset for G's updates."""
    slow_every: int = 0
    """Updates between copies of G into the slow G that the actor reads (in imagination and acting); 0 = the actor
    reads the G being trained (the release)."""
    zero_z: bool = False
    """h_G from z = 0 (the decoder's mode) in imagination and acting, instead of z ~ N(0, 1) clipped (the release)."""
    mixture: bool = False
    """h_G as the running weights' mixture of every domain's h_G, instead of the dominant domain's alone (the
    release's hard argmax switch)."""
    norm: bool = False
    """h_G layer-normalised (zero mean, unit variance per row, no affine) before the actor reads it."""
    kl: str = "mean"
    """Eq. 7's KL over G's latent: `mean` (the release) or `sum` (latent times larger)."""


@dataclass
class ApvConfig:
    """APV (Seo et al., 2022): the stacked latent model (Eq. 3-4) and the intrinsic bonus (Eq. 5-6); the release's
    settings (younggyoseo/apv, apv_finetuning/configs.yaml) unless said."""

    concat_embed: str = "auto"
    """The action-conditional posterior reads the action-free state concatenated with the image embedding: `true`,
    `false`, or `auto` (true on DMC, false on Meta-World: APV's Appendix E and its configs)."""
    af_kl_scale: float = 0.0
    """Weight of the action-free model's own KL term while fine-tuning (Eq. 4; APV sets it to 0: the action-free
    model then moves only through the stacked model's losses)."""
    beta: float = -1.0
    """Scale of the normalised intrinsic bonus in the reward head's target r + beta * r_int; < 0 = the suite's (APV:
    0.1 DMC, 1.0 Meta-World)."""
    window: int = 5
    """L: the action-free states average-pooled over L steps before the projection (Eq. 5)."""
    k: int = 16
    """r_int is the distance to the k-th nearest neighbour among the queued projections (Eq. 6)."""
    queue: int = 4096
    """Most recent projections kept for the k-NN search."""
    proj_dim: int = 128
    """Width of the fixed random projection (entries normal with std 1 / proj_dim, the release's)."""
    norm_momentum: float = 0.99
    """r_int is divided by a running mean of |r_int| with this momentum (the release's StreamNorm)."""
    hold_updates: int = -1
    """The first learner updates during which the pretrained video model (encoder, action-free RSSM, decoder) stays
    as loaded while the rest learns; < 0 = the suite's (APV's Appendix E: held through DreamerV2's 100 `pretrain`
    updates on Meta-World, 0 on DMC)."""

    def for_suite(self, suite: str) -> ApvConfig:
        """The settings with `auto` and negative values resolved for `suite` (`dmc`, `metaworld`, `gym`)."""
        manipulation = suite == "metaworld"
        concat = {"true": "true", "false": "false"}.get(self.concat_embed, "false" if manipulation else "true")
        beta = self.beta if self.beta >= 0 else (1.0 if manipulation else 0.1)
        hold = self.hold_updates if self.hold_updates >= 0 else (100 if manipulation else 0)
        return replace(self, concat_embed=concat, beta=beta, hold_updates=hold)


@dataclass
class LearnerConfig:
    """The learner's part configs together (composed, not copied, by `deploy/`'s config tree)."""

    model: WorldModelConfig = field(default_factory=WorldModelConfig)
    ac: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    vae: ActionVAEConfig = field(default_factory=ActionVAEConfig)
    apv: ApvConfig = field(default_factory=ApvConfig)
    pvdr: PvdrConfig = field(default_factory=PvdrConfig)

    @classmethod
    def from_dict(cls, data: dict | LearnerConfig) -> LearnerConfig:
        """Rebuild from `dataclasses.asdict` (how it crosses to a learner in another process)."""
        if isinstance(data, LearnerConfig):
            return data
        return cls(WorldModelConfig(**data["model"]), ActorCriticConfig(**data["ac"]), DistillConfig(**data["distill"]),
                   ActionVAEConfig(**data["vae"]), ApvConfig(**data.get("apv", {})), PvdrConfig(**data.get("pvdr", {})))
