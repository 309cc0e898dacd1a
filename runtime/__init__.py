"""runtime: what a training run is made of and how it is driven, in plain Python (no Ray).

    plan = plan_run(cfg)                 # agent spec, teachers, sources, Schedule; RunError before anything starts
    learner = LearnerWorker(**learner_args(cfg, plan, url))          # Learner + Redis sampler + teachers
    env = ReplayEnvWorker(*env_worker_args(cfg, plan, url, index))   # K envs streaming episodes into Redis
    driver = Driver(cfg, plan, learner, spawn_env, executor=Inline(), replay=replay, on_metrics=log)
    summary = driver.run()               # Algorithm 1 until train.steps (or train.minutes)

Who feeds whom: env workers act with the latest broadcast policy and insert whole episodes into the replay; the
learner samples windows from it, asks the teachers for features, updates, and publishes versioned weights; the
driver keeps the two in the `Schedule`'s samples-per-insert ratio (the rate limiter says what is due), broadcasts
every `train.sync_every` updates, checkpoints every `train.checkpoint_every`, and has the broadcast policy evaluated
(mode, fixed seeds) every `train.eval_every` env steps by an `actors.EvalWorker` that training never waits for.

Where it runs is the executor's choice: `local_driver` builds every part in this process (`vid2act train --local`,
a debugger); deploy/ builds the same parts as Ray actors and drives them with the same `Driver`.
Cadence helpers: Every (by a counter), Clock (by seconds), Deadline (a wall-clock budget).
"""
from actors import EvalWorker
from runtime.builders import ReplayEnvWorker, RunError, RunPlan, Schedule, action_width, env_worker_args, \
    eval_worker_args, learner_args, plan_run
from runtime.cadence import Clock, Deadline, Every
from runtime.config import RunSettings, TrainConfig, split_csv
from runtime.driver import Driver, Executor, Inline, WorkerLost
from runtime.learner_worker import LearnerWorker, learner_device


def local_driver(cfg: RunSettings, plan: RunPlan, url: str, replay, on_metrics) -> Driver:
    """A driver whose learner and env workers all live in this process (the embedded Redis still holds the replay)."""
    learner = LearnerWorker(**learner_args(cfg, plan, url))
    evaluator = EvalWorker(*eval_worker_args(cfg, plan)) if cfg.train.eval_every > 0 else None
    return Driver(cfg, plan, learner, lambda i: ReplayEnvWorker(*env_worker_args(cfg, plan, url, i)),
                  executor=Inline(), replay=replay, on_metrics=on_metrics, evaluator=evaluator)


__all__ = ["Clock", "Deadline", "Driver", "Every", "Executor", "Inline", "LearnerWorker", "ReplayEnvWorker",
           "RunError", "RunPlan", "RunSettings", "Schedule", "TrainConfig", "WorkerLost", "action_width",
           "env_worker_args", "eval_worker_args", "learner_args", "learner_device", "local_driver", "plan_run",
           "split_csv"]
