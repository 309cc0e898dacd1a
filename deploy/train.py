"""`vid2act train`: Algorithm 1 on a target task — env workers, frozen teachers, the learner — distributed or local.

    vid2act train --target dmc/quadruped_walk --teachers runs/teachers/walker_walk,runs/teachers/cheetah_run
    vid2act train --local ...      # every part in this one Python process (a debugger); same driver, same replay

What is built (runtime.plan_run): the agent spec, teachers, sources and the insert/update schedule, checked before
anything is written. Where it runs: the replay in Redis (embedded, or `replay.url`); with Ray, teacher actors, the
learner actor (on the GPU when there is one) and env actors placed by deploy/placement.py, driven by
runtime.Driver through the Ray executor; with `--local`, the same parts in-process under the same Driver. Metrics go
to TensorBoard, the Ray dashboard, a progress line and `metrics.jsonl`; re-running the same command resumes.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import ray

from deploy import grafana, placement
from deploy.config import Config, check_resume, leaves, save_config
from deploy.metrics import PROGRESS_KEYS, SUCCESS_KEYS, MetricsSink
from deploy.ray_runtime import ensure_ray, remote, token_auth_enabled
from deploy.scale import RUN_FILE
from deploy.stats import read_history
from deploy.services import CONTROL_NAMESPACE, EnvActor, EvalActor, LearnerActor, RayExecutor, RunControl, \
    control_name, replay_service
from deploy.teacher_service import start_teacher_actors
from learner import AgentSpec, CheckpointError, checkpoint_exists, load_checkpoint, read_checkpoint_info
from replay import RedisReplay, connect
from runtime import Driver, RunError, RunPlan, env_worker_args, eval_worker_args, learner_args, local_driver, \
    plan_run

log = logging.getLogger(__name__)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold `<run_dir>/.lock` while the run goes on: a second `vid2act train` on the same directory is refused in
    one line instead of sharing its replay and checkpoint."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise RunError(f"{run_dir} is in use by another `vid2act train` (pid {handle.read().strip() or '?'}); "
                           f"wait for it to end, or use another --logdir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield


@contextlib.contextmanager
def run_log(run_dir: Path) -> Iterator[Path]:
    """The run's log file `<run_dir>/vid2act.log` (appended across resumes): every log line of this process, and the
    full trace of an error that ends the run (noted on the error, so the CLI can say where it is)."""
    path, root = run_dir / "vid2act.log", logging.getLogger()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    level = root.level
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)  # a Ray worker's root logs warnings only
    root.addHandler(handler)
    try:
        yield path
    except Exception as error:
        logging.getLogger("vid2act.trace").error("the run failed", exc_info=error)
        if hasattr(error, "add_note"):
            error.add_note(f"full trace in {path}")
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


@contextlib.contextmanager
def metrics_log(cfg: Config) -> Iterator:
    """`on_metrics(env_steps, updates, metrics, source)`: TensorBoard (one point per metric and env step; `video/`
    clips as GIFs; the config as hparams), Ray gauges (tagged with the run and the reporting actor) and progress,
    plus `metrics.jsonl`."""
    run_dir = Path(cfg.logdir)
    sink = MetricsSink(run_dir / "tb", total_steps=cfg.train.steps, tags={"run": run_dir.name},
                       deadline=None if cfg.train.minutes <= 0 else time.monotonic() + 60 * cfg.train.minutes,
                       progress_keys=PROGRESS_KEYS + (SUCCESS_KEYS if cfg.env.task.startswith("metaworld/") else ()))
    path = run_dir / "metrics.jsonl"
    _drop_cut_row(path)
    with open(path, "a", buffering=1) as history:  # line-buffered: tail-able

        def on_metrics(env_steps: int, updates: int, metrics: dict, source: str) -> None:
            for key in [k for k in metrics if k.startswith("video/")]:  # (T, H, W, 3) clips: TensorBoard only
                sink.video(env_steps, key, metrics.pop(key))
            if metrics:
                sink.log(env_steps, metrics, tags={"actor": source})
                history.write(json.dumps({"env_steps": env_steps, "updates": updates, **metrics}) + "\n")

        flat = {key: getattr(part, name) for key, (part, name, _) in leaves(cfg).items() if "url" not in key}
        sink.hparams(flat, metrics=("eval/return", "eval/success") if cfg.env.task.startswith("metaworld/")
                     else ("eval/return",))
        try:
            yield on_metrics
        finally:
            sink.close()


def _drop_cut_row(path: Path) -> None:
    """Cut `path` back to its last complete line: a row cut short by a kill cannot be recovered, and left in place it
    would be warned about on every later read (resumed runs append after it)."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning("%s ended in a row cut short (%d bytes, a kill mid-write?): dropped", path, len(data) - keep)
        os.truncate(path, keep)


def ray_driver(cfg: Config, plan: RunPlan, url: str, replay: RedisReplay, on_metrics) -> tuple[Driver, list]:
    """The driver over Ray actors: teacher pools, the learner, env actors, the run's control actor (for `scale`).
    Returns it with the actors it does not retire itself."""
    ensure_ray()
    cluster, t = placement.available(), cfg.train  # a sweep trial's placement group, else the cluster
    groups = t.teacher_actors if plan.teachers else 0
    # learner + teacher pools + env actors (room for scaling to twice the configured count) share small machines
    cpus = placement.cpu_share(2 + groups + max(2 * t.num_actors, 2), cluster)  # + the evaluator
    pools = start_teacher_actors(plan.teachers, groups=groups, num_cpus=cpus, cluster=cluster) if groups else []
    learner = remote(LearnerActor, **placement.learner(cluster, max(len(pools), 1), cpus),
                     max_restarts=t.learner_restarts, max_task_retries=-1).remote(
        **learner_args(cfg, plan, url), teacher_actors=pools or None)
    name = control_name(Path(cfg.logdir))
    control = remote(RunControl, name=name, namespace=CONTROL_NAMESPACE, lifetime=None, num_cpus=0).remote(
        t.num_actors)
    ray.get(control.get_actors.remote())  # placed: `vid2act scale` may find it now
    session = getattr(ray._private.worker._global_node, "get_session_dir_path", None)  # no public API for it
    if session is not None and (board := grafana.install(session())) is not None:
        log.info("Grafana dashboard of the run metrics: %s (Ray's Grafana provisions it)", board)
    group = ray.util.get_current_placement_group()
    if group is not None:
        log.info("the run's actors are placed in placement group %s (%s)", group.id.hex(), group.bundle_specs)
    where = {"address": ray.get_runtime_context().gcs_address, "namespace": CONTROL_NAMESPACE, "control": name,
             "auth": "token" if token_auth_enabled() else "disabled",
             "placement_group": group.id.hex() if group is not None else None}
    (Path(cfg.logdir) / RUN_FILE).write_text(json.dumps(where, indent=1))  # how `vid2act scale` reaches this run

    def spawn_env(i: int):
        options = placement.env_actor(i, placement.available(), cpus)
        return remote(EnvActor, **options, max_restarts=3, max_task_retries=3).remote(
            *env_worker_args(cfg, plan, url, i))

    evaluator = remote(EvalActor, **{**placement.env_actor(0, cluster, cpus), "name": "evaluator"}).remote(
        *eval_worker_args(cfg, plan)) if t.eval_every > 0 else None
    driver = Driver(cfg, plan, learner, spawn_env, executor=RayExecutor(), replay=replay, on_metrics=on_metrics,
                    wanted_workers=lambda: ray.get(control.get_actors.remote()), evaluator=evaluator)
    return driver, [*pools, control, *([evaluator] if evaluator else [])]


def check_run_dir(cfg: Config, plan: RunPlan) -> list[str]:
    """Before anything is written: a run directory that holds another method's or model's run is refused, and a
    resumed run's changed settings are returned (or refused, with `strict_resume`)."""
    saved = Path(cfg.logdir) / "checkpoint"
    if not checkpoint_exists(saved):
        return []
    info = load_checkpoint(saved, hint=f"use a fresh --logdir, or delete {cfg.logdir} to start the run over")[0]
    spec = AgentSpec.from_dict(info["spec"]).to_dict() if isinstance(info.get("spec"), dict) else {}
    if spec != plan.spec.to_dict():
        differ = sorted(k for k in set(spec) | set(plan.spec.to_dict()) if spec.get(k) != plan.spec.to_dict().get(k))
        raise RunError(f"{cfg.logdir} holds a {spec.get('method', '?')} run that differs from this "
                       f"{plan.spec.method} run in {', '.join(differ)}; use a fresh --logdir, or the settings it was "
                       f"made with")
    return check_resume(cfg, cfg.logdir)


def finished(cfg: Config) -> dict | None:
    """The summary {env_steps, updates, version} of a run whose checkpoint already reached `train.steps`, else None."""
    saved = Path(cfg.logdir) / "checkpoint"
    if not checkpoint_exists(saved):
        return None
    info = read_checkpoint_info(saved)
    if int(info.get("env_steps", 0)) < cfg.train.steps:
        return None
    return {"env_steps": int(info["env_steps"]), "updates": int(info["step"]), "version": int(info["step"])}


def train(cfg: Config, local: bool = False) -> dict:
    """Run (or resume) the student's training as configured; returns {env_steps, updates, version}."""
    plan = plan_run(cfg)
    changes = check_run_dir(cfg, plan)
    run_dir = Path(cfg.logdir)
    with run_lock(run_dir):
        if (done := finished(cfg)) is not None:  # nothing to do: no Ray, no Redis, no actors
            log.info("%s already reached %d of its %d env steps: nothing to train (raise train.steps to go on)",
                     cfg.logdir, done["env_steps"], cfg.train.steps)
            return done
        save_config(cfg, run_dir)
        return _train(cfg, plan, run_dir, changes, local)


def _train(cfg: Config, plan: RunPlan, run_dir: Path, changes: list[str], local: bool) -> dict:
    with run_log(run_dir), replay_service(cfg, run_dir, plan.spec.action_dim) as url, \
            metrics_log(cfg) as on_metrics:
        if changes:  # the record of what the saved config.yaml said, now overwritten
            log.info("resumed with changed settings: %s", "; ".join(changes))
        replay = RedisReplay(connect(url), cfg.replay.capacity)
        if local:
            driver, others = local_driver(cfg, plan, url, replay, on_metrics), []
        else:
            driver, others = ray_driver(cfg, plan, url, replay, on_metrics)
        try:  # the eval cadence goes on from the history's last point (one a stop cut short is made up at once)
            return driver.run(evaluated=max((r["env_steps"] for r in read_history(run_dir) if "eval/return" in r),
                                            default=0))
        finally:
            driver.close()
            for handle in others:
                ray.kill(handle)
            (run_dir / RUN_FILE).unlink(missing_ok=True)


def run(cfg: Config, args) -> int:
    from deploy.cli import UserError

    try:
        summary = train(cfg, local=args.local)
    except (RunError, CheckpointError) as error:
        raise UserError(str(error)) from None
    print(f"train done: {summary['env_steps']} env steps, {summary['updates']} updates, weights v{summary['version']}"
          f" -> {cfg.logdir}")
    return 0
