"""APV's stacked latent prediction model (Seo et al., 2022, Eq. 3-4): an action-conditional RSSM on top of an
action-free one.

    model = StackedWorldModel(64, 6, concat_embed=True, af_kl_scale=0.0, **WorldModelConfig().kwargs(...))
    post, prior = model.observe(embed_BTE, action_BTA, is_first_BT)   # af_* keys carry the action-free state
    model.load_video_model(tensors)                                     # the pretrained action-free model's weights

Filtering: the action-free RSSM's posterior reads the image embedding (APV Eq. 3, z^AF); the action-conditional
RSSM's posterior reads the action-free features, concatenated with the embedding when `concat_embed` (APV's DMC
setting, Appendix E). The decoder and the reward head read the action-conditional features, and imagination rolls
the action-conditional dynamics alone. The state dicts carry both: the action-conditional keys as in `WorldModel`,
the action-free ones prefixed `af_` (so the env actors keep both across steps). Loss (Eq. 4): the base model's image,
reward and KL terms, plus `af_kl_scale` times the action-free KL (0 while fine-tuning, as APV: the action-free model
still learns through the stacked model's losses). Both RSSMs have the same sizes, so the pretrained decoder fits.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from learner.checkpoint import CheckpointError
from learner.losses import balanced_kl_loss
from learner.rssm import RSSM
from learner.world_model import WorldModel

AF = "af_"
"""The prefix of the action-free state's keys in a stacked state dict."""


def split_state(state: dict | None) -> tuple[dict | None, dict | None]:
    """A stacked state -> (action-free state, action-conditional state), each None when `state` is None."""
    if state is None:
        return None, None
    return ({k[len(AF):]: v for k, v in state.items() if k.startswith(AF)},
            {k: v for k, v in state.items() if not k.startswith(AF)})


class StackedWorldModel(WorldModel):
    def __init__(self, image_size: int, action_dim: int, *, concat_embed: bool, af_kl_scale: float = 0.0, **kwargs):
        """`kwargs`: `WorldModel`'s (sizes shared by both RSSMs)."""
        super().__init__(image_size, action_dim, **kwargs)
        self.kwargs.update(concat_embed=concat_embed, af_kl_scale=af_kl_scale)
        self.concat_embed, self.af_kl_scale = concat_embed, af_kl_scale
        sizes = {k: kwargs[k] for k in ("stoch", "discrete", "deter", "hidden", "min_std")}
        std_act = kwargs.get("std_act", "softplus")
        embed = self.encoder.embed_size
        self.af_rssm = RSSM(0, embed, std_act=std_act, **sizes)
        self.rssm = RSSM(action_dim, self.af_rssm.feature_size + (embed if concat_embed else 0), std_act=std_act,
                         **sizes)

    def observe(self, embed_BTE, action_BTA, is_first_BT, state=None, sample: bool = True):
        """Both posteriors and priors over a sequence; the action-free ones under `af_` keys."""
        af_state, state = split_state(state)
        af_post, af_prior = self.af_rssm.observe(embed_BTE, action_BTA[..., :0], is_first_BT, af_state, sample)
        inputs = self.af_rssm.features(af_post)
        if self.concat_embed:
            inputs = torch.cat([embed_BTE, inputs], -1)
        post, prior = self.rssm.observe(inputs, self.actions(action_BTA), is_first_BT, state, sample)
        post.update({AF + k: v for k, v in af_post.items()})
        prior.update({AF + k: v for k, v in af_prior.items()})
        return post, prior

    def af_features(self, state: dict) -> torch.Tensor:
        """The action-free model's features concat(stoch, deter) from a stacked state (the bonus reads these)."""
        return self.af_rssm.features(split_state(state)[0])

    def imagine(self, start: dict, policy: Callable[[torch.Tensor], torch.Tensor], horizon: int,
                sample: bool = True) -> dict[str, torch.Tensor]:
        """The action-conditional dynamics alone (APV: imagination does not use the action-free model)."""
        return super().imagine(split_state(start)[1], policy, horizon, sample)

    def kl_loss(self, post: dict, prior: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Eq. 4's KL terms: the action-conditional one as the base model's, + af_kl_scale * the action-free one."""
        loss, metrics = super().kl_loss(*(split_state(s)[1] for s in (post, prior)))
        if self.af_kl_scale:
            af_loss, af_kl = balanced_kl_loss(*(split_state(s)[0] for s in (post, prior)), self.kl_balance,
                                              self.free_nats)
            loss = loss + self.af_kl_scale * af_loss
            metrics["af_kl"] = af_kl
        return loss, metrics

    def video_model(self) -> dict[str, nn.Module]:
        """The parts a pretrained action-free model initialises, by their names in its checkpoint."""
        return {"encoder": self.encoder, "rssm": self.af_rssm, "decoder": self.decoder}

    def load_video_model(self, tensors: dict[str, torch.Tensor], source: str) -> None:
        """Initialise the encoder, the action-free RSSM and the decoder from a pretrained action-free model's
        checkpoint tensors (`model/encoder.*`, `model/rssm.*`, `model/decoder.*`); CheckpointError naming `source`
        when they do not fit."""
        for name, module in self.video_model().items():
            prefix = f"model/{name}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                module.load_state_dict(state)
            except RuntimeError as err:
                raise CheckpointError(
                    f"{source}: the pretrained action-free model's {name} does not fit the stacked model ({err}); "
                    f"train with the model config it was pretrained with") from None
