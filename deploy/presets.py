"""Named presets: dotted overrides applied in order on top of the config defaults (`deploy/config.py`).

`smoke` is for tests and the demo (seconds on 2 cores); the defaults are the `cpu` preset (useful runs on a 2-core
machine: smaller models and batches than `paper`); `paper` holds the authors' settings and is meant for a GPU;
`paper_apv` is `paper` with APV's larger RSSM (deter and hidden 1024), for comparisons with APV at its scale.
"""
from __future__ import annotations

from learner import METHODS

PRESETS: dict[str, dict[str, object]] = {
    # Seconds on 2 cores: tests and the README demo.
    "smoke": {
        "env.task": "dmc/walker_run", "env.size": 32, "collect.tasks": "walker_walk,hopper_stand",
        "collect.policy": "random", "collect.episodes": 3,
        "collect.out": "runs/smoke/sources", "env.time_limit": 100,
        "behaviour.steps": 400, "behaviour.learning_starts": 100, "behaviour.eval_every": 200,
        "behaviour.eval_episodes": 1, "behaviour.batch_size": 32,
        "model.depth": 4, "model.stoch": 8, "model.deter": 16, "model.hidden": 16, "model.units": 16, "ac.units": 16,
        "teacher.steps": 20, "teacher.batch": 4, "teacher.seq_len": 10, "teacher.log_every": 5,
        "teacher.checkpoint_every": 10, "teacher.heldout": 1,
        "replay.capacity": 5_000, "replay.batch": 4, "replay.seq_len": 10,
        "train.steps": 400, "train.prefill": 200, "train.first_updates": 2, "ac.horizon": 5,
        "train.num_actors": 1, "train.sync_every": 2, "vae.hidden": 32,
        "train.eval_episodes": 1, "train.eval_every": 200, "train.checkpoint_every": 5,
        "pvdr.grid": 4, "pvdr.codebook": 32, "pvdr.code_dim": 8, "pvdr.channels": 8, "pvdr.z_dim": 4, "pvdr.dim": 16,
        "pvdr.heads": 2, "pvdr.encoder_depth": 1, "pvdr.prior_depth": 1, "pvdr.decoder_depth": 1, "pvdr.window": 2,
        "pvdr.future": 3, "pvdr.candidates": 4, "pvdr.tokenizer_steps": 20, "pvdr.steps": 20, "pvdr.batch": 4,
        "logdir": "runs/smoke",
    },
    # The config defaults are the `cpu` preset (docs/results: 2.1x paper's updates/s at equal batch).
    "cpu": {},
    # The authors' settings (released code, DreamerV2 lineage); meant for a GPU.
    "paper": {
        "model.depth": 32, "model.stoch": 50, "model.deter": 200, "model.hidden": 200, "model.units": 400,
        "ac.units": 400,
        "teacher.steps": 200_000, "teacher.batch": 50,
        "replay.batch": 50, "replay.seq_len": 50, "replay.capacity": 2_000_000,
        "train.steps": 400_000, "train.num_actors": 4, "train.sync_every": 100, "logdir": "runs/paper",
        # PVDR's Tables 1-2 (its tokens come from a VQGAN at 128x128; here the same 16x16 grid over 64x64 frames)
        "pvdr.grid": 16, "pvdr.code_dim": 256, "pvdr.channels": 128, "pvdr.z_dim": 32, "pvdr.dim": 512,
        "pvdr.encoder_depth": 6, "pvdr.prior_depth": 6, "pvdr.decoder_depth": 3, "pvdr.align_depth": 3,
        "pvdr.tokenizer_steps": 100_000, "pvdr.steps": 350_000, "pvdr.batch": 64,
    },
}
# APV's sizes (its DreamerV2 and APV alike): the deterministic state and the RSSM's hidden layer 200 -> 1024.
PRESETS["paper_apv"] = {**PRESETS["paper"], "model.deter": 1024, "model.hidden": 1024, "logdir": "runs/paper_apv"}

VARIANTS: dict[str, list[str]] = {
    "dreamerv2": ["train.method=dreamerv2"],
    # The paper's form with the release's choices (the config defaults for distill.* and vae.*).
    "vid2act": ["train.method=vid2act"],
    # Issue 13's audit: a distillation target the student can reach (one f_distill per teacher, deter + posterior
    # mean against the teachers' features, alpha annealed to 0 over 20k env steps) and stable action guidance (a slow
    # G synced every 100 updates like the slow critic, z = 0, h_G layer-normalised, mixed over domains by the running
    # weights). Eq. 3's weights with the floor on every teacher stay: E2 (docs/results, session 7) found the bilinear
    # score with the floor on the dominant teacher alone giving 0.98 of the weight to the easiest teacher to match
    # (cheetah_run) in every seed, the walker sources 0.01.
    "vid2act_stable": ["train.method=vid2act", "distill.heads=per_teacher", "distill.target=mean",
                       "distill.anneal_steps=20000", "vae.slow_every=100", "vae.zero_z=true", "vae.norm=true",
                       "vae.mixture=true"],
}
# PVDR plans toward goal images, with the paper's sparse Meta-World reward (r_suc = 60); its Fig. 5 ablations
VARIANTS.update({name: [f"train.method={name}", "env.goal=true", "env.success_reward=60"]
                 for name in ("pvdr", "pvdr_no_prior_opt", "pvdr_no_act_sl", "pvdr_no_act_rl", "pvdr_random_z")})
VARIANTS.update({f"vid2act_stable_{ablation}": [*VARIANTS["vid2act_stable"], f"train.method={ablation}"]
                 for ablation in ("no_domain_weights", "no_action_guidance")})  # its ablations (issue 13, E4)
VARIANTS.update({name: [f"train.method={name}"] for name in METHODS if name not in VARIANTS})  # every other method
"""Named method variants for `vid2act sweep --variant NAME`: every method by its name, `vid2act_stable` and its
ablations `vid2act_stable_<ablation>` (its overrides with `train.method` the ablation). A known name expands to these
overrides, extra `key=value`s after it apply on top; any other name is a label for the overrides after it."""
