"""`vid2act behaviour --task dmc/walker_walk`: train the DMC state-based behaviour agent behind `medium`/`expert`.

Saves `<collect.agents>/<suite-task>/{medium,expert,final}.safetensors` (+ JSON) as the evaluation return first
passes `behaviour.medium_return` and `behaviour.expert_return`; training stops at the expert threshold.
"""
from __future__ import annotations

import logging

import torch

from actors import train_agent
from deploy.config import Config

log = logging.getLogger(__name__)


def run(cfg: Config, args) -> int:
    from deploy.cli import UserError

    if not cfg.env.task.startswith("dmc/"):
        raise UserError(f"{cfg.env.task}: behaviour agents are for DMC tasks; Meta-World uses its scripted experts")
    b = cfg.behaviour
    torch.set_num_threads(1)  # SAC's small MLPs: two threads fighting over two cores ran 5x slower (measured)
    summary = train_agent(cfg.env.task, cfg.collect.agents, steps=b.steps, medium_return=b.medium_return,
                          expert_return=b.expert_return, eval_every=b.eval_every, eval_episodes=b.eval_episodes,
                          learning_starts=b.learning_starts, batch_size=b.batch_size, seed=cfg.seed,
                          time_limit=cfg.env.time_limit, log=log.info)
    print(f"behaviour {cfg.env.task}: {summary['steps']:,} steps at {summary['steps_per_s']:.0f} steps/s, final "
          f"return {summary['final_return']:.1f}, saved {summary['saved'] or 'no threshold reached'}")
    return 0
