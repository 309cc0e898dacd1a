"""PVDR's online adaptation terms on a replay batch (Luo et al., 2024, Sec. 4.3, Eq. 3-6; Algorithm 1, lines 6-12).

A batch holds (B, T) windows of PVDR episodes: `image`, `goal` (uint8 frames), `action`, `reward` (the env's sparse
r_suc), `is_last`, `is_terminal`, and per step the acting policy's `plan_z`, `plan_tokens`, `log_prob`, `version`,
stored with the action they chose (step t + 1 holds a_t, chosen at frame t, as every action in the replay).

    snippet(tokens_BThw, start, m, l) -> (x, y)                  context and future tokens of one window offset
    goal_term(model, tokenizer, x, z, goal) -> (B,)              Eq. 4's ||D(x, z) - g||_1, differentiable in z
    alignment_reward(frames, goal, plan_frames, reward, lambda3)  Eq. 6 (+ r_suc) per step
    trajectories(batch, tokens, tokenizer, cfg, log_prob_key, min_version) -> TensorDict | None   PPO's input
"""
from __future__ import annotations

import torch
from tensordict import TensorDict

from learner.pvdr.config import PvdrConfig
from learner.pvdr.cvae import VisualDynamicsModel
from learner.pvdr.planner import goal_distance
from learner.pvdr.tokenizer import Tokenizer


def snippet(tokens_BThw: torch.Tensor, start: int, m: int, future: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x = frames start..start+m-1, y = the next `future` (l): (B, m, h, w), (B, l, h, w)."""
    return tokens_BThw[:, start:start + m], tokens_BThw[:, start + m:start + m + future]


def goal_term(model: VisualDynamicsModel, tokenizer: Tokenizer, x_BmHW: torch.Tensor, z_BhwZ: torch.Tensor,
              goal_BHWC: torch.Tensor) -> torch.Tensor:
    """Eq. 4's goal-oriented term: the plan D(x, z) decoded as expected code vectors (the greedy plan conditions
    the causal decoder; its softmax, not its argmax, is decoded, so the gradient reaches z and through it P),
    its L1 distance to the goal (float [0, 1]) per row: (B,)."""
    with torch.no_grad():
        plan = model.generate(x_BmHW, z_BhwZ)
    probs = model.decode_logits(x_BmHW, z_BhwZ, plan[:, :-1]).softmax(-1)  # (B, l, h, w, K)
    frames = tokenizer.decode_soft(probs.flatten(0, 1)).unflatten(0, probs.shape[:2])
    return goal_distance(frames, goal_BHWC)


def alignment_reward(frames_BTHWC: torch.Tensor, goal_BHWC: torch.Tensor, plan_frames_BTlHWC: torch.Tensor,
                     reward_BT: torch.Tensor, lambda3: float) -> torch.Tensor:
    """Eq. 6 for the action taken at each frame t = 0..T'-1 (T' = T - l), as a reward to maximise:
    r_suc(t+1) - ||y_{t+1} - g||_1 - lambda3 (1/l) sum_k ||y_{t+k} - y_hat_{t,k}||_1 (mean absolute pixel
    differences, [0, 1] scale; `reward_BT` the env's sparse reward, stored with a_t at t + 1). (B, T')."""
    n, T1 = plan_frames_BTlHWC.shape[2], frames_BTHWC.shape[1] - plan_frames_BTlHWC.shape[2]
    to_goal = (frames_BTHWC[:, 1:T1 + 1] - goal_BHWC[:, None]).abs().flatten(2).mean(-1)
    future = torch.stack([frames_BTHWC[:, t + 1:t + 1 + n] for t in range(T1)], 1)  # (B, T', l, H, W, 3)
    adherence = (future - plan_frames_BTlHWC[:, :T1]).abs().flatten(3).mean(-1).mean(-1)
    return reward_BT[:, 1:T1 + 1] - to_goal - lambda3 * adherence


def trajectories(batch: dict, tokens_BThw: torch.Tensor, tokenizer: Tokenizer, cfg: PvdrConfig, log_prob_key: str,
                 min_version: int) -> TensorDict | None:
    """PPO's (B', T') trajectory batch: the states (x_t, z*_t) for t = m-1 .. T-l-2 with actions, their log-probs,
    Eq. 6's rewards and the next states; only rows whose every action came from weights of `min_version` or later
    (the on-policy window), None when no row qualifies."""
    m, n = cfg.context, cfg.future
    T = tokens_BThw.shape[1]
    steps = list(range(m - 1, T - n - 1))  # frame t: its context, its action (t + 1) and the next state exist
    if not steps:
        return None
    acted = [t + 1 for t in steps]
    rows = (batch["version"][:, acted] >= min_version).all(1)
    if not rows.any():
        return None
    pick = {k: v[rows] for k, v in batch.items()}
    tokens = tokens_BThw[rows]
    B, h, T1 = len(tokens), tokens.shape[-1], T - n
    plan_tokens = pick["plan_tokens"][:, 1:T1 + 1].round().long().view(B, T1, n, h, h)  # the plan made at frame t
    plan_frames = tokenizer.decode(plan_tokens.flatten(0, 2)).unflatten(0, (B, T1, n))
    frames = pick["image"].float() / 255.0
    reward = alignment_reward(frames, pick["goal"][:, 0].float() / 255.0, plan_frames, pick["reward"].float(),
                              cfg.lambda3)  # (B, T - l), index t = the action at frame t

    def state(ts):
        return {"tokens": torch.stack([tokens[:, t - m + 1:t + 1] for t in ts], 1),
                "z": pick["plan_z"][:, [t + 1 for t in ts]].view(B, len(ts), h, h, cfg.z_dim)}

    nxt = [t + 1 for t in steps]
    # torchrl's keys; False here in practice: a window lies within one episode, whose last step can only be the
    # window's last frame, past every next state, so GAE bootstraps each trajectory from v(next)
    done = pick["is_last"][:, nxt].bool().unsqueeze(-1)
    return TensorDict({**state(steps), "action": pick["action"][:, acted], log_prob_key: pick["log_prob"][:, acted],
                       "next": {**state(nxt), "reward": reward[:, steps].unsqueeze(-1), "done": done,
                                "terminated": pick["is_terminal"][:, nxt].bool().unsqueeze(-1)}},
                      batch_size=[B, len(steps)])
