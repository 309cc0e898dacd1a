"""`vid2act scale --actors N [--run NAME]`: change the number of env actors of a running training job.

Connects to the Ray cluster (RAY_ADDRESS, else the local one), finds the run's control actor and sets the target;
the driver starts new actors at once and retires surplus ones as they finish their current chunk, so no episode
is lost. NAME is the run directory's name (the basename of `--logdir`).
"""
from __future__ import annotations

from pathlib import Path

import ray

from deploy.config import Config
from deploy.services import CONTROL_NAMESPACE, control_name


def scale(run_name: str, actors: int) -> int:
    from deploy.cli import UserError

    if not ray.is_initialized():
        try:
            ray.init(address="auto", namespace=CONTROL_NAMESPACE, log_to_driver=False)
        except (ConnectionError, ValueError) as error:  # no cluster here, or RAY_ADDRESS is the dashboard's URL
            raise UserError(f"cannot reach the Ray cluster: {error}; run this on the head node "
                            f"(`ray exec ray_cluster.yaml 'vid2act scale ...'`)") from None
    try:
        control = ray.get_actor(control_name(run_name), namespace=CONTROL_NAMESPACE)
    except ValueError:
        raise UserError(f"no running training job named {run_name!r} on this Ray cluster "
                        f"(the run name is the basename of its --logdir)") from None
    return ray.get(control.set_actors.remote(actors))


def run(cfg: Config, args) -> int:
    name = args.run or Path(cfg.logdir).name
    print(f"run {name}: env actors -> {scale(name, int(args.actors))}")
    return 0
