"""Starting or joining Ray, and the thin layer that turns plain domain classes into Ray actors.

`ensure_ray()` joins the cluster named by `RAY_ADDRESS` (how `ray job submit` runs us) or an already
initialised Ray, else starts a local one. `local_ray()` always starts a private local Ray (tests and benches: never
the cluster a `ray start` left running). `remote(cls, **options)` applies `ray.remote` at this layer only, so the
classes in `actors/`, `teachers/` and `learner/` stay plain Python that runs in one process under a debugger.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading

import ray
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

log = logging.getLogger(__name__)


def worker_env() -> dict[str, str]:
    """Environment every Ray worker of ours needs: headless MuJoCo, quiet torch threads per actor; and the fault
    schedule (`VID2ACT_INJECT`, tests and bench/faults.py only) when this process has one."""
    return {"MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1",
            **{k: v for k, v in os.environ.items() if k == "VID2ACT_INJECT"}}


def _stop_on_sigterm() -> None:
    """After `ray.init`: SIGTERM raises KeyboardInterrupt in the main thread (flagged in `deploy.cli.SIGTERM`), so
    the run unwinds (actors, Redis, the lock) and the CLI prints one line. Ray's core worker installs a C-level
    handler that dumps a stack trace ("*** SIGTERM received ... PC: @ ...") before its own `sys.exit`; this handler
    replaces it."""
    def stop(signum, frame):
        from deploy.cli import SIGTERM

        SIGTERM.set()
        raise KeyboardInterrupt("SIGTERM")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def ensure_ray(num_cpus: int | None = None, include_dashboard: bool = False) -> None:
    """Join the Ray cluster in `RAY_ADDRESS` or the current one; otherwise start a local Ray."""
    if ray.is_initialized():
        return
    runtime_env = {"env_vars": worker_env()}
    job = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")  # set in a `ray job submit` driver: its runtime env wins
    if job:  # Ray refuses to merge a driver's env var that the job's runtime env also sets
        job_vars = (json.loads(job).get("runtime_env") or {}).get("env_vars") or {}
        runtime_env["env_vars"] = {k: v for k, v in worker_env().items() if k not in job_vars}
    if os.environ.get("RAY_ADDRESS"):
        ray.init(address=os.environ["RAY_ADDRESS"], runtime_env=runtime_env, log_to_driver=True)
        _stop_on_sigterm()
        log.info("joined Ray cluster at %s", os.environ["RAY_ADDRESS"])
        return
    ray.init(num_cpus=num_cpus, include_dashboard=include_dashboard, runtime_env=runtime_env,
             configure_logging=False)
    _stop_on_sigterm()
    if getattr(ray._private.worker.global_worker.node, "head", True):  # False: Ray found a running head and joined
        log.info("started a local Ray with %s CPUs", ray.cluster_resources().get("CPU"))
    else:
        log.info("joined the Ray cluster already running on this machine at %s (%s CPUs; its dashboard shows this "
                 "run)", ray.get_runtime_context().gcs_address, ray.cluster_resources().get("CPU"))


def local_ray(num_cpus: int = 2, **options) -> None:
    """Start a private local Ray with `num_cpus` CPUs and our worker env, whatever cluster is running beside it."""
    options = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False, **options}
    ray.init(address="local", num_cpus=num_cpus, runtime_env={"env_vars": worker_env()}, **options)


def token_auth_enabled() -> bool:
    """Whether the connected cluster uses Ray's token authentication (local clusters do by default since 2.59; a
    second process that connects by address must then enable it too, with the token of ~/.ray/auth_token)."""
    from ray._private.authentication.authentication_utils import is_token_auth_enabled  # ray==2.60 (pinned)

    return bool(is_token_auth_enabled())


def remote(cls: type, **options):
    """`ray.remote(cls).options(**options)`: the one place domain classes become actors. Called inside a placement
    group (a trial of `vid2act sweep --actors`), the actor is placed in that group's bundles and, when named, named
    in the trial's own namespace (concurrent trials each have a `learner`)."""
    group = ray.util.get_current_placement_group()
    if group is not None and "scheduling_strategy" not in options:
        options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(group)
        if "name" in options:  # trials of one sweep share a job: each trial's `learner`, ... in its own namespace
            options.setdefault("namespace", f"trial-{group.id.hex()}")
    return ray.remote(cls).options(**options)
