"""Recurrent state-space model (Eq. 1): representation q(s_t | s_t-1, a_t-1, o_t), dynamics p(s_t | s_t-1, a_t-1).

A state is a dict of tensors with leading dims (B,) for one step or (B, T) for a sequence (a teacher pool running
N stacked RSSMs adds a leading N: (N, B, T, ...); see nets.Linear):
`deter` (GRU state h_t), `stoch` (sample z_t, flattened), and the distribution's statistics: `mean`, `std`
(Gaussian) or `logits` (discrete, (..., stoch, classes)).

Speed: everything that does not depend on the recurrence runs batched over (B, T) outside the Python loop over
time - the action and embedding projections before it, the prior head after it (the prior at t depends only on h_t).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from learner.nets import LayerNorm, Linear


class LayerNormGRUCell(nn.Module):
    """DreamerV2's GRU: one linear map of [x, h] to the three gates, layer norm, update-gate bias -1."""

    def __init__(self, inp: int, size: int):
        super().__init__()
        self.linear = Linear(inp + size, 3 * size, bias=False)
        self.norm = LayerNorm(3 * size)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        reset, cand, update = self.norm(self.linear(torch.cat([x, h], -1))).chunk(3, -1)
        cand = torch.tanh(torch.sigmoid(reset) * cand)
        update = torch.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * h


STD_ACTS = ("sigmoid2", "softplus")
"""The Gaussian std's activations before min_std (DreamerV2's `rssm.std_act`): 2 sigmoid(x / 2), softplus(x)."""


class RSSM(nn.Module):
    """`action_dim=0` makes the action-free RSSM of APV (Eq. 1-2 there): its dynamics read no action."""

    def __init__(self, action_dim: int, embed_size: int, *, stoch: int, discrete: int, deter: int, hidden: int,
                 min_std: float, std_act: str = "softplus"):
        """`std_act`: the Gaussian std's activation, `sigmoid2` (DreamerV2) or `softplus` (the default for models
        saved before the option, whose kwargs lack it)."""
        super().__init__()
        if std_act not in STD_ACTS:
            raise ValueError(f"std_act {std_act!r} is not one of {', '.join(STD_ACTS)}")
        self.stoch, self.discrete, self.deter, self.min_std = stoch, discrete, deter, min_std
        self.std_act = std_act
        self.stoch_size = stoch * discrete if discrete else stoch
        stats = stoch * discrete if discrete else 2 * stoch
        # img_in: [z_{t-1}, a_{t-1}] -> hidden, split so the action part is precomputed for all t. An action-free
        # RSSM (action_dim 0, APV Eq. 1) has no action input at all: h_t = f(h_{t-1}, z_{t-1}).
        self.img_stoch = Linear(self.stoch_size, hidden)
        self.img_action = Linear(action_dim, hidden, bias=False) if action_dim else None
        self.gru = LayerNormGRUCell(hidden, deter)
        self.img_out = nn.Sequential(Linear(deter, hidden), nn.ELU(), Linear(hidden, stats))
        # obs_in: [h_t, embed_t] -> hidden, split so the embedding part is precomputed for all t.
        self.obs_deter = Linear(deter, hidden, bias=False)
        self.obs_embed = Linear(embed_size, hidden)
        self.obs_out = Linear(hidden, stats)

    @property
    def feature_size(self) -> int:
        return self.stoch_size + self.deter

    def initial(self, batch: int | tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32):
        """The zero state for `batch` sequences (the state before an episode's first frame)."""
        lead = (batch,) if isinstance(batch, int) else tuple(batch)
        state = {"deter": torch.zeros(*lead, self.deter, device=device, dtype=dtype),
                 "stoch": torch.zeros(*lead, self.stoch_size, device=device, dtype=dtype)}
        state.update({k: torch.zeros(*lead, *shape, device=device, dtype=dtype) for k, shape in self._stat_shapes()})
        return state

    def _stat_shapes(self):
        if self.discrete:
            return [("logits", (self.stoch, self.discrete))]
        return [("mean", (self.stoch,)), ("std", (self.stoch,))]

    def _dist(self, stats: torch.Tensor, sample: bool) -> dict[str, torch.Tensor]:
        """Statistics -> {stats, stoch}. Gaussian: std = std_act(x) + min_std. Discrete: one-hot, straight-through."""
        if self.discrete:
            logits = stats.unflatten(-1, (self.stoch, self.discrete))
            probs = torch.softmax(logits.float(), -1)
            if sample:
                # Inverse-CDF draw: the same distribution as torch.multinomial, several times cheaper on a CPU for
                # these many tiny rows (N*stoch rows of `discrete` classes; 17 ms -> a few ms at N=800, 32x32).
                u = torch.rand(*probs.shape[:-1], 1, device=probs.device, dtype=probs.dtype)
                index = (probs.cumsum(-1) < u).sum(-1, keepdim=True).clamp_(max=self.discrete - 1)
                onehot = torch.zeros_like(probs).scatter_(-1, index, 1.0)
                stoch = onehot + probs - probs.detach()
            else:
                stoch = F.one_hot(probs.argmax(-1), self.discrete).to(probs.dtype)
            return {"logits": logits, "stoch": stoch.flatten(-2).to(stats.dtype)}
        mean, std = stats.chunk(2, -1)
        std = (2 * torch.sigmoid(std / 2) if self.std_act == "sigmoid2" else F.softplus(std)) + self.min_std
        stoch = mean + std * torch.randn_like(std) if sample else mean
        return {"mean": mean, "std": std, "stoch": stoch}

    def img_step(self, state: dict[str, torch.Tensor], action_BA: torch.Tensor, sample: bool = True):
        """Dynamics p(s_t | s_{t-1}, a_{t-1}): one prior step, for imagination and open-loop prediction."""
        x = self.img_stoch(state["stoch"])
        x = F.elu(x if self.img_action is None else x + self.img_action(action_BA))
        deter = self.gru(x, state["deter"])
        return {"deter": deter, **self._dist(self.img_out(deter), sample)}

    def observe(self, embed_BTE: torch.Tensor, action_BTA: torch.Tensor, is_first_BT: torch.Tensor,
                state: dict[str, torch.Tensor] | None = None, sample: bool = True):
        """Filter a sequence: posterior q(s_t | s_{t-1}, a_{t-1}, o_t) and prior p(s_t | s_{t-1}, a_{t-1}) per step.

        action_BTA[:, t] is the action that led to frame t (a_{t-1} in the paper's indexing). Where is_first, the
        carried state and that action are zeroed, so each episode starts from the initial state.
        """
        lead, T = embed_BTE.shape[:-2], embed_BTE.shape[-2]  # lead = (B,) or (N, B)
        keep_BT1 = (~is_first_BT.bool()).unsqueeze(-1).to(embed_BTE.dtype)
        act_BTH = None if self.img_action is None else self.img_action(action_BTA * keep_BT1)  # zero where is_first
        emb_BTH = self.obs_embed(embed_BTE)  # (B, T, hidden)
        if state is None:
            state = self.initial(lead, embed_BTE.device, embed_BTE.dtype)
        stoch, deter = state["stoch"], state["deter"]
        deters, posts = [], []
        for t in range(T):
            keep = keep_BT1[..., t, :]
            x = self.img_stoch(stoch * keep)
            x = F.elu(x if act_BTH is None else x + act_BTH[..., t, :])
            deter = self.gru(x, deter * keep)
            post = self._dist(self.obs_out(F.elu(self.obs_deter(deter) + emb_BTH[..., t, :])), sample)
            stoch = post["stoch"]
            deters.append(deter)
            posts.append(post)
        deter_BTD = torch.stack(deters, len(lead))
        post = {k: torch.stack([p[k] for p in posts], len(lead)) for k in posts[0]}
        post["deter"] = deter_BTD
        prior = {"deter": deter_BTD, **self._dist(self.img_out(deter_BTD), sample)}
        return post, prior

    def features(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """e_t = concat(stoch, deter): the features the paper distils and the heads read."""
        return torch.cat([state["stoch"], state["deter"]], -1)

    def mean_features(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        """concat(posterior mean, deter): the distribution's mean in place of its sample (class probabilities for a
        discrete state), the form in which frozen teachers give their features (they observe with sample=False)."""
        mean = state["logits"].softmax(-1).flatten(-2) if self.discrete else state["mean"]
        return torch.cat([mean.to(state["deter"].dtype), state["deter"]], -1)
