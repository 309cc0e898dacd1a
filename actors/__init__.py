"""actors: environments, behaviour policies and the loops that step them (no Ray here; deploy/ places them).

Interface:
    suites      make_env(task, *, size, action_repeat, time_limit, camera, render_mode, seed) -> SuiteEnv
                (`dmc/walker_walk`, `metaworld/door-lock`), make_state_env, check_task, list_tasks, action_dim,
                widest_action, UnknownTaskError
    behaviour   parse_policy_mix, assign_policies, make_policy(name, task, action_dim, seed, agents_dir)
    agents      train_agent / load_agent: DMC state-based SAC behaviour agents (stable-baselines3)
    loop        EpisodeRecorder, rollout(env, policy, seed), EnvLoop (K envs, one batched policy), episode_meta
    collector   Collector.play(task, policy, seed): one source-dataset episode
    env_worker  EnvWorker: K envs acting with the latest broadcast Player weights, streaming episodes to a sink
    evaluate    evaluate_episode, summarize: return / success of the policy's mode

A policy is `policy(obs, info) -> actions (K, A)` over values stacked across K envs.
"""
import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering; must precede the first mujoco import
