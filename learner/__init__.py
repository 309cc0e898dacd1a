"""learner: the agent, its models and losses, in torch only (no Ray, Redis or environments).

The agent (learner/agent.py):
    METHODS / get_method(name) -> Method        which parts a method uses (teachers? action VAE? uniform weights?)
    AgentSpec.create(model_cfg, ac_cfg, vae_cfg, method=, image_size=, action_dim=, action_width=, n_domains=)
    build_parts(spec) -> Parts(model, actor, vae)           the one builder beneath Learner and Player
    Learner(spec, LearnerConfig, teacher_feature, source_pairs, device, seed)     training (loaded on first use)
    make_learner(spec, config, ...)             Learner, or PVDR's PvdrLearner (learner/pvdr), by the spec's method
        .update(batch, teacher_NBTF) -> metrics;  .policy_weights() -> (weights, version)
        .save(dir, **extra);  .restore(dir) -> sidecar;  .init_world_model(teacher_dir)
    Player(spec) / Player.from_checkpoint(dir)  acting only: .load(weights, version);  player(obs, info) -> (K, A)

Part configs (learner/config.py): WorldModelConfig, ActorCriticConfig, DistillConfig, ActionVAEConfig, ApvConfig,
LearnerConfig.

Models and helpers:
    WorldModel(image_size, action_dim, **WorldModelConfig.kwargs(...))  Eq. 1-2 (+ reward NLL of Eq. 5)
        .loss(batch) -> (loss, post, metrics);  .encode / .observe / .imagine / .predict / .decode / .features
    StackedWorldModel(..., concat_embed=, af_kl_scale=)   APV's stacked model (APV Eq. 3-4): action-conditional RSSM
        on an action-free one (`af_*` state keys); .load_video_model(tensors, source);  WorldModel(action_dim=0) is
        APV's action-free video model
    VideoBonus (learner/bonus.py)        APV's intrinsic bonus (APV Eq. 5-6), the learner's own part
    PVDR_SIZES                           the PvdrConfig fields a pretrained PVDR model must share with a run
    learner.pvdr                         PVDR's models: PvdrConfig, Tokenizer, VisualDynamicsModel (Eq. 1), planning
                                         (Eq. 2), the alignment module with torchrl's PPO (Eq. 5-6)
    pad_action(a, width), to_torch(batch, device), preprocess(image_BTHWC), pick_device(name), autocast(device)
    save_checkpoint / load_checkpoint / read_checkpoint_info / restore_checkpoint / checkpoint_exists,
    CheckpointError, CHECKPOINT_SIDECAR; DivergenceError (non-finite training, never broadcast or saved)
"""
from learner.agent import METHODS, AgentSpec, Method, Parts, build_parts, get_method
from learner.batch import pad_action, preprocess, to_torch
from learner.checkpoint import SIDECAR as CHECKPOINT_SIDECAR
from learner.checkpoint import CheckpointError
from learner.checkpoint import exists as checkpoint_exists
from learner.checkpoint import load as load_checkpoint
from learner.checkpoint import read_info as read_checkpoint_info
from learner.checkpoint import restore as restore_checkpoint
from learner.checkpoint import save as save_checkpoint
from learner.config import (
    ActionVAEConfig,
    ActorCriticConfig,
    ApvConfig,
    DistillConfig,
    LearnerConfig,
    WorldModelConfig,
)
from learner.device import autocast, pick_device
from learner.optim import DivergenceError
from learner.player import Player
from learner.pvdr import PvdrConfig, Tokenizer, VisualDynamicsModel
from learner.pvdr.config import SIZES as PVDR_SIZES
from learner.stacked import StackedWorldModel
from learner.world_model import WorldModel


def __getattr__(name: str):
    """`Learner` is imported on first use, so acting processes (env actors) never load the training code."""
    if name in ("Learner", "make_learner"):
        from learner import learner

        return getattr(learner, name)
    raise AttributeError(f"module 'learner' has no attribute {name!r}")


__all__ = ["CHECKPOINT_SIDECAR", "METHODS", "PVDR_SIZES", "ActionVAEConfig", "ActorCriticConfig", "AgentSpec",
           "ApvConfig", "CheckpointError", "DistillConfig", "DivergenceError", "Learner", "LearnerConfig", "Method",
           "Parts", "Player", "PvdrConfig", "StackedWorldModel", "Tokenizer", "VisualDynamicsModel", "WorldModel",
           "WorldModelConfig", "autocast", "build_parts", "checkpoint_exists", "get_method", "load_checkpoint",
           "make_learner", "pad_action", "pick_device", "preprocess", "read_checkpoint_info", "restore_checkpoint",
           "save_checkpoint", "to_torch"]
