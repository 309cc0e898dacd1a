"""Per-key rules `Config.validate()` applies to values, and the rules between keys a method adds (the general rules
between keys live in the config itself)."""
from __future__ import annotations

CHOICES = {
    "distill.floor": ("all", "dominant", "none"), "distill.heads": ("shared", "per_teacher"),
    "distill.target": ("sample", "mean"), "distill.weights": ("linear", "bilinear", "distance"),
    "model.std_act": ("sigmoid2", "softplus"), "vae.kl": ("mean", "sum"), "apv.concat_embed": ("auto", "true", "false"),
    "env.render_mode": ("fast", "faithful"),
}
"""Keys whose value is one of a few named forms."""

POSITIVE = (
    "collect.episodes", "collect.num_actors", "model.depth", "model.stoch", "model.deter", "model.hidden",
    "model.units", "model.reward_layers", "model.min_std", "model.lr", "model.eps", "model.clip",
    "model.nonfinite_limit", "ac.units", "ac.actor_layers", "ac.value_layers", "ac.horizon", "ac.slow_target_every",
    "ac.actor_lr", "ac.critic_lr", "distill.tau", "vae.latent", "vae.hidden", "vae.batch", "vae.source_steps",
    "teacher.batch", "teacher.seq_len", "teacher.lr", "teacher.eps", "teacher.clip", "teacher.log_every",
    "teacher.checkpoint_every", "replay.capacity", "replay.batch", "replay.prefetch", "train.steps",
    "train.train_every", "train.num_actors", "train.envs_per_actor", "train.env_chunk", "train.sync_every",
    "train.eval_episodes", "train.checkpoint_every", "apv.window", "apv.k", "apv.queue", "apv.proj_dim",
    "pvdr.grid", "pvdr.codebook", "pvdr.code_dim", "pvdr.channels", "pvdr.context", "pvdr.future", "pvdr.z_dim",
    "pvdr.dim", "pvdr.heads", "pvdr.encoder_depth", "pvdr.prior_depth", "pvdr.decoder_depth", "pvdr.align_depth",
    "pvdr.window", "pvdr.candidates", "pvdr.replan_every", "pvdr.batch", "pvdr.lr", "pvdr.finetune_lr",
    "pvdr.actor_lr", "pvdr.critic_lr", "pvdr.ppo_clip", "pvdr.ppo_value_clip", "pvdr.max_grad_norm",
    "pvdr.ppo_minibatch", "pvdr.ppo_epochs",
)
"""Keys whose value must be > 0 (sizes, counts, rates)."""

NON_NEGATIVE = (
    "model.free_nats", "model.kl_scale", "model.reward_scale", "model.action_pad", "ac.entropy", "distill.alpha",
    "distill.anneal_steps", "vae.slow_every", "teacher.steps", "teacher.heldout", "replay.samples_per_insert",
    "train.teacher_actors", "train.minutes", "train.prefill", "train.first_updates", "train.learner_threads",
    "train.learner_restarts", "train.eval_every", "collect.medium_noise", "apv.af_kl_scale",
    "pvdr.lambda1", "pvdr.lambda2", "pvdr.lambda3", "pvdr.tokenizer_steps", "pvdr.steps", "pvdr.ppo_entropy",
    "pvdr.max_lag",
)
"""Keys whose value must be >= 0 (0 = off or the derived default, as each key's doc line says)."""


def method_rules(cfg, method) -> list[tuple[bool, str, str]]:
    """(holds, key, message) of the rules between keys that a method adds: PVDR plans on a Meta-World target, its
    snippets fit in a replay window and its token grid tiles the frames; APV's bonus window fits in one."""
    rules = []
    if method.pvdr:
        snippet = cfg.pvdr.context + cfg.pvdr.future + 1
        rules += [(cfg.env.task.startswith("metaworld/"), "env.task",
                   f"method {method.name} plans toward goal images, which come from Meta-World's scripted experts; "
                   f"{cfg.env.task} is not Meta-World: pass a Meta-World target, e.g. --target metaworld/reach"),
                  (cfg.replay.seq_len >= snippet, "replay.seq_len",
                   f"{cfg.replay.seq_len}-step windows cannot hold PVDR's m + l + 1 = {snippet} frames (a snippet and "
                   f"the next state PPO bootstraps from); raise replay.seq_len or lower pvdr.future"),
                  (_halvings(cfg.env.size, cfg.pvdr.grid), "pvdr.grid",
                   f"{cfg.pvdr.grid} tokens per side do not tile {cfg.env.size}x{cfg.env.size} frames by halvings "
                   f"(the tokenizer's convs halve the frame: size / grid must be a power of 2)")]
    if method.bonus:
        rules.append((cfg.replay.seq_len >= cfg.apv.window, "apv.window",
                      f"the bonus pools {cfg.apv.window} steps but replay windows hold {cfg.replay.seq_len}; lower "
                      f"apv.window or raise replay.seq_len"))
    return rules


def _halvings(size: int, grid: int) -> bool:
    """Whether halving `size` some number of times gives `grid` (the tokenizer's encoder)."""
    ratio = size // grid
    return size % grid == 0 and ratio & (ratio - 1) == 0
