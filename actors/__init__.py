"""actors: environments, behaviour policies and the loops that step them (no Ray here; deploy/ places them).

Interface:
    configs     EnvConfig (`env.*`: .kwargs() for make_env, .repeat, .agent_steps), CollectConfig, BehaviourConfig
    suites      make_env(task, *, size, action_repeat, time_limit, camera, render_mode, seed, goal, success_reward)
                -> SuiteEnv (`dmc/walker_walk`, `metaworld/door-lock`), make_state_env, check_task, list_tasks,
                action_dim, widest_action, UnknownTaskError, SUITES, SUITE_DEFAULTS (action repeat, time limit, camera),
                check_target (a user's `gym/<module>:<factory>` env: gymnasium's check_env + the suite contract)
    goals       goal_image(task, seed, *, size, camera, render_mode, time_limit) -> Goal (image, steps, success,
                start): the frame where Meta-World's scripted expert, rolled out from the episode's own seed, first
                succeeds (PVDR's goal images); make_env(goal=True) adds it to every observation as `goal`,
                make_env(success_reward=r) makes the reward r at the first success, else 0 (PVDR's r_suc = 60)
    behaviour   parse_policy_mix, assign_policies, make_policy(name, task, action_dim, seed, agents_dir)
    agents      train_agent / load_agent: DMC state-based SAC behaviour agents (stable-baselines3), NET_ARCH
    loop        EpisodeRecorder, rollout(env, policy, seed), EnvLoop (K envs, one batched policy; a faulty env is
                reset and counted, one that fails every reset raises EnvFaultError), episode_meta
    faults      FaultInjectEnv: real faults on schedule, for tests and bench/faults.py (VID2ACT_INJECT)
    gym_envs    importing it registers every task with gymnasium: `vid2act/<suite>-<task>-v0`
    collector   Collector.play(task, policy, seed): one source-dataset episode; episode_seed
    env_worker  EnvWorker: K envs acting with the latest broadcast Player weights, streaming episodes to a sink
    evaluate    evaluate_episode, summarize, eval_seeds: return / success of the policy's mode; EvalWorker: the
                periodic evaluation during training

A policy is `policy(obs, info) -> actions (K, A)` over values stacked across K envs.
"""
import os
import warnings

os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering; must precede the first mujoco import
# Meta-World's scripted experts warn on every episode that their gains exceed the clipped action range (harmless)
warnings.filterwarnings("ignore", message=r"Constant\(s\) may be too high", category=UserWarning)

from actors.agents import NET_ARCH, load_agent, train_agent  # noqa: E402
from actors.behaviour import assign_policies, make_policy, parse_policy_mix  # noqa: E402
from actors.collector import Collector, episode_seed  # noqa: E402
from actors.config import BehaviourConfig, CollectConfig, EnvConfig  # noqa: E402
from actors.env_worker import EnvWorker  # noqa: E402
from actors.evaluate import EvalWorker, eval_seeds, evaluate_episode, summarize  # noqa: E402
from actors.faults import ENV_VAR as INJECT_ENV_VAR  # noqa: E402
from actors.faults import FaultInjectEnv  # noqa: E402
from actors.goals import Goal, goal_image  # noqa: E402
from actors.targets import check_target  # noqa: E402
from actors.loop import EnvFaultError, EnvLoop, EpisodeRecorder, episode_meta, rollout  # noqa: E402
from actors.suites import (  # noqa: E402
    DEFAULTS as SUITE_DEFAULTS,
    SUITES,
    UnknownTaskError,
    action_dim,
    check_task,
    list_tasks,
    make_env,
    make_state_env,
    widest_action,
)

__all__ = ["NET_ARCH", "SUITES", "SUITE_DEFAULTS",
           "BehaviourConfig", "CollectConfig", "Collector", "EnvConfig", "EnvFaultError", "EnvLoop",
           "EnvWorker", "EvalWorker", "FaultInjectEnv", "Goal", "INJECT_ENV_VAR",
           "EpisodeRecorder", "UnknownTaskError", "action_dim", "assign_policies", "check_target", "check_task",
           "episode_meta",
           "episode_seed", "eval_seeds", "evaluate_episode", "goal_image", "list_tasks", "load_agent", "make_env",
           "make_policy", "make_state_env", "parse_policy_mix", "rollout", "summarize", "train_agent", "widest_action"]
