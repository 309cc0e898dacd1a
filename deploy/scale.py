"""`vid2act scale --logdir DIR --actors N`: change the number of env actors of the training run in DIR while it runs.

A running `vid2act train` records how to reach it in `DIR/ray.json` (the Ray cluster's address, the namespace and the
name of its control actor); this command reads that file, so it addresses that run and no other, whichever Ray
clusters live on the machine. The driver starts new actors at once, retires surplus ones as they finish their
current chunk (no episode is lost) and says so in the run's log.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from deploy.config import Config

RUN_FILE = "ray.json"
"""Where a running training job records how to reach it (removed when it ends)."""


def reach(run_dir: Path) -> dict:
    """The run's `ray.json`, its cluster checked to answer; UserError when the run is not running (or never recorded
    itself, or ran with `--local`)."""
    from deploy.cli import UserError

    path = run_dir / RUN_FILE
    try:
        where = json.loads(path.read_text())
        host, port = where["address"].rsplit(":", 1)
        where["namespace"], where["control"]  # noqa: B018 -- KeyError when missing
    except FileNotFoundError:
        raise UserError(f"{path}: not found: no training job is running in {run_dir} (a running `vid2act train "
                        f"--logdir {run_dir}` without --local records how to reach it there)") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{path}: unreadable ({error!r}); is the run still starting? try again") from None
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError:
        raise UserError(f"{path} is stale: nothing answers at {where['address']} (the run has ended or was killed); "
                        f"delete it") from None
    return where


def scale(run_dir: str | Path, actors: int) -> int:
    """Ask the run in `run_dir` for `actors` env actors; returns the count it accepted."""
    from deploy.cli import UserError

    if actors < 1:
        raise UserError(f"--actors {actors}: a run needs at least one env actor")
    where = reach(Path(run_dir))
    if where.get("auth") == "token" and "ray" not in sys.modules:  # Ray reads this as it loads: import it after
        os.environ["RAY_AUTH_MODE"] = "token"  # the run's cluster authenticates: connect with the token too
    import ray

    if not ray.is_initialized():
        try:
            ray.init(address=where["address"], namespace=where["namespace"], log_to_driver=False,
                     configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise UserError(f"cannot reach the run's Ray cluster at {where['address']} ({str(error).splitlines()[0]}); "
                            f"has the run ended? (then {Path(run_dir) / RUN_FILE} is stale)") from None
    try:
        control = ray.get_actor(where["control"], namespace=where["namespace"])
    except ValueError:
        raise UserError(f"no running training job {where['control']!r} on the Ray cluster at {where['address']}: "
                        f"the run has ended") from None
    return ray.get(control.set_actors.remote(actors))


def run(cfg: Config, args) -> int:
    print(f"run {Path(cfg.logdir).name}: env actors -> {scale(cfg.logdir, int(args.actors))}")
    return 0
