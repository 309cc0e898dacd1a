"""learner: the models and losses, in torch only (no Ray, Redis or environments).

Interface:
    WorldModel(image_size, action_dim, *, depth, stoch, discrete, deter, hidden, min_std, units, reward_layers,
               kl_balance, free_nats, kl_scale, reward_head=True, reward_scale=1.0)
        .loss(batch) -> (loss, post, metrics)        Eq. 2 (+ reward NLL of Eq. 5)
        .encode(image_BTHWC) -> embed_BTE
        .observe(embed_BTE, action_BTA, is_first_BT, state=None, sample=True) -> (post, prior)
        .imagine(start, policy, horizon) / .predict(start, action_BHA) / .decode(feat_BTF)
        .features(state) -> e_t = concat(stoch, deter);  .feature_size;  .kwargs (to rebuild it)
    MLP(inp, out, units, layers)                       heads: reward, actor, critic
    losses: balanced_kl_loss, state_kl, kl_gaussian, kl_categorical, image_nll, reward_nll
    pad_action(a, width), to_torch(batch, device), preprocess(image_BTHWC)
    pick_device("auto"|"cpu"|"cuda"), autocast(device)
"""
from learner.batch import pad_action, preprocess, to_torch
from learner.device import autocast, pick_device
from learner.losses import balanced_kl_loss, image_nll, kl_categorical, kl_gaussian, reward_nll, state_kl
from learner.nets import MLP
from learner.world_model import WorldModel


def model_kwargs(model_cfg, image_size: int, action_dim: int, reward_head: bool) -> dict:
    """WorldModel keyword arguments from a ModelConfig-like object (plain attributes)."""
    names = ("depth", "stoch", "discrete", "deter", "hidden", "min_std", "units", "reward_layers", "kl_balance",
             "free_nats", "kl_scale")
    return dict(image_size=image_size, action_dim=action_dim, reward_head=reward_head,
                **{n: getattr(model_cfg, n) for n in names})


__all__ = ["MLP", "WorldModel", "autocast", "balanced_kl_loss", "image_nll", "kl_categorical", "kl_gaussian",
           "model_kwargs", "pad_action", "pick_device", "preprocess", "reward_nll", "state_kl", "to_torch"]
