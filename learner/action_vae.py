"""The action generator G (Eq. 6-7): a BCQ-style state-conditioned VAE over source actions, per domain.

    vae = ActionVAE(state_size=F_e, action_dim=A, n_domains=N, latent=8, hidden=750)
    loss, metrics = vae.loss(state_BS, action_BA, domain_B)          # Eq. 7
    h_G = actor_guidance(vae, e_NF, mixture_D, zero_z=False, norm=False)  # (N, 50): the actor's extra input (Eq. 8)

Encoder E(s, a, d) -> mu, sigma; decoder D(s, z, d) = [s, z, d] -> hidden -> 50 -> action (tanh). The state is
f_distill of a teacher's posterior features, so it lives in the student's feature space, and at behaviour time
the decoder reads the student's own e_t. h_G is the decoder's 50-d penultimate activation, not the action.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GUIDANCE = 50  # width of the penultimate decoder layer, h_G
Z_CLIP = 0.5  # latent samples at generation time are clipped to [-0.5, 0.5] (BCQ)


class ActionVAE(nn.Module):
    def __init__(self, state_size: int, action_dim: int, n_domains: int, latent: int = 8, hidden: int = 750):
        super().__init__()
        self.latent, self.n_domains = latent, n_domains
        self.encoder = nn.Sequential(nn.Linear(state_size + action_dim + n_domains, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder_trunk = nn.Sequential(nn.Linear(state_size + latent + n_domains, hidden), nn.ReLU(),
                                           nn.Linear(hidden, GUIDANCE), nn.ReLU())
        self.decoder_out = nn.Linear(GUIDANCE, action_dim)

    def _onehot(self, domain_B: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return F.one_hot(domain_B.long(), self.n_domains).to(like.dtype)

    def guidance(self, state_BS: torch.Tensor, domain_B: torch.Tensor, z_BZ: torch.Tensor | None = None):
        """h_G(s, d): the decoder's penultimate activation with z ~ N(0, 1) clipped (or the given z)."""
        if z_BZ is None:
            z_BZ = torch.randn(*state_BS.shape[:-1], self.latent, device=state_BS.device).clamp(-Z_CLIP, Z_CLIP)
        domain = self._onehot(domain_B, state_BS).expand(*state_BS.shape[:-1], self.n_domains)
        return self.decoder_trunk(torch.cat([state_BS, z_BZ.to(state_BS.dtype), domain], -1))

    def mixed_guidance(self, state_NS: torch.Tensor, z_NZ: torch.Tensor, mixture_D: torch.Tensor) -> torch.Tensor:
        """sum_d mixture_D[d] * h_G(s, d) with one z, over the domains of non-zero weight: (N, 50). The first
        layer's state and z part is computed once; a domain's one-hot only adds its own column (exactly `guidance`
        per domain, summed)."""
        first, rest = self.decoder_trunk[0], self.decoder_trunk[1:]
        split = first.in_features - self.n_domains
        shared = F.linear(torch.cat([state_NS, z_NZ.to(state_NS.dtype)], -1), first.weight[:, :split], first.bias)
        return sum(float(w) * rest(shared + first.weight[:, split + d])
                   for d, w in enumerate(mixture_D.tolist()) if w > 0)

    def decode(self, state_BS, domain_B, z_BZ=None) -> torch.Tensor:
        """D(s, z, d): a generated action in [-1, 1]."""
        return torch.tanh(self.decoder_out(self.guidance(state_BS, domain_B, z_BZ)))

    def loss(self, state_BS: torch.Tensor, action_BA: torch.Tensor, domain_B: torch.Tensor, kl: str = "mean"):
        """Eq. 7: MSE(a, a_hat) + 0.5 * KL(N(mu, sigma) || N(0, 1)) (the 0.5 weight as in BCQ), the KL averaged over
        the latent (`kl="mean"`, the release) or summed (`"sum"`)."""
        domain = self._onehot(domain_B, state_BS)
        mean, log_std = self.encoder(torch.cat([state_BS, action_BA, domain], -1)).chunk(2, -1)
        log_std = log_std.clamp(-4.0, 15.0)
        std = log_std.exp()
        z = mean + std * torch.randn_like(std)
        recon = self.decode(state_BS, domain_B, z)
        mse = (recon - action_BA).pow(2).mean()
        kl_BZ = -0.5 * (1 + 2 * log_std - mean.pow(2) - std.pow(2))
        kl_term = (kl_BZ.sum(-1) if kl == "sum" else kl_BZ.mean(-1)).mean()
        loss = mse + 0.5 * kl_term
        return loss, {"train/vae_loss": loss.detach(), "train/vae_mse": mse.detach(), "train/vae_kl": kl_term.detach()}


def actor_guidance(vae: ActionVAE, feat_NF: torch.Tensor, mixture_D: torch.Tensor, *, zero_z: bool,
                   norm: bool) -> torch.Tensor:
    """The h_G the actor reads (Eq. 8), (N, 50): sum_d mixture_D[d] * h_G(e, d) over the domains of non-zero weight
    (a one-hot `mixture_D` is the release's dominant domain), one z for all of them: 0 (`zero_z`) or N(0, 1) clipped
    to +-Z_CLIP (BCQ's generation); `norm` layer-normalises each row (no affine)."""
    lead = feat_NF.shape[:-1]
    z = feat_NF.new_zeros(*lead, vae.latent) if zero_z else \
        torch.randn(*lead, vae.latent, device=feat_NF.device).clamp(-Z_CLIP, Z_CLIP)
    h = vae.mixed_guidance(feat_NF, z, mixture_D)
    return F.layer_norm(h, h.shape[-1:]) if norm else h
