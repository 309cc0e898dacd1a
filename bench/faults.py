"""A run survives its faults (issue 12): one smoke-size training run with a fault schedule, beside the same run
without faults, on a private local Ray with the embedded redis-server.

    MUJOCO_GL=egl .venv/bin/python bench/faults.py [--steps 3000] [--actors 2] [--out runs/bench-faults]

The schedule (deploy/faults.py): a diverged simulation (dm_control's own PhysicsError) in env actor 1, then, once
the learner trains, 8 bytes overwritten in a stored episode, `kill -9` of env actor 0, of redis-server and of the
learner, a few seconds apart. Printed: faults injected vs survived (each met and counted by the run), episodes
acknowledged (reported by env actors as stored) vs stored (the replay's counter, read back from its append-only
file), and the env steps and updates each run reached. The headline is last; exit 1 on any lost episode or any
fault the run did not survive.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ray  # noqa: E402

from deploy.config import load_config  # noqa: E402
from deploy.faults import INJECT, Outcome, run_with_faults  # noqa: E402
from deploy.ray_runtime import local_ray  # noqa: E402

SURVIVED = {  # fault -> how the run shows it met and survived it
    "PhysicsError in env actor 1": lambda o, log: o.counts["env_faults"] >= 1,
    "corrupt payload": lambda o, log: o.counts["corrupt_episodes"] >= 1,
    "kill -9 env-actor-0": lambda o, log: o.counts["actor_restarts"] >= 1,
    "kill -9 redis-server": lambda o, log: "restarting it on its append-only file" in log,
    "kill -9 learner": lambda o, log: o.counts["learner_restarts"] >= 1,
}


def one_run(out: Path, name: str, steps: int, actors: int, inject: bool) -> tuple[Outcome, str]:
    run_dir = out / name
    shutil.rmtree(run_dir, ignore_errors=True)
    if inject:
        os.environ[INJECT] = "worker=1,env=0,diverge_at=80"
    try:
        local_ray(log_to_driver=False)
    finally:
        os.environ.pop(INJECT, None)
    try:
        cfg = load_config("smoke", ["train.method=dreamerv2", f"logdir={run_dir}", f"train.steps={steps}",
                                    f"train.num_actors={actors}"]).validate()
        outcome = run_with_faults(cfg, inject=inject)
    finally:
        ray.shutdown()
    return outcome, (run_dir / "vid2act.log").read_text()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="env steps of each run")
    parser.add_argument("--actors", type=int, default=2, help="env actors of each run")
    parser.add_argument("--out", default="runs/bench-faults")
    args = parser.parse_args()
    out = Path(args.out)
    clean, _ = one_run(out, "clean", args.steps, args.actors, inject=False)
    faulty, log = one_run(out, "faulty", args.steps, args.actors, inject=True)
    print("\n| run | env steps | updates | episodes acknowledged | stored | lost | env faults | actor restarts | "
          "learner restarts | corrupt skipped | seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, o in (("without faults", clean), ("with faults", faulty)):
        lost = max(o.acknowledged - o.stored, 0)
        print(f"| {name} | {o.summary['env_steps']} | {o.summary['updates']} | {o.acknowledged} | {o.stored} | {lost} "
              f"| {o.counts['env_faults']:.0f} | {o.counts['actor_restarts']:.0f} | "
              f"{o.counts['learner_restarts']:.0f} | {o.counts['corrupt_episodes']} | {o.seconds:.0f} |")
    survived = {fault: check(faulty, log) for fault, check in SURVIVED.items()}
    print("\n| fault | survived |\n|---|---|")
    for fault, ok in survived.items():
        print(f"| {fault} | {'yes' if ok else 'NO'} |")
    lost = sum(max(o.acknowledged - o.stored, 0) for o in (clean, faulty))
    print(f"\nfaults: {len(survived)} injected, {sum(survived.values())} survived; {lost} of "
          f"{clean.acknowledged + faulty.acknowledged} acknowledged episodes lost; with faults "
          f"{faulty.summary['env_steps']} env steps / {faulty.summary['updates']} updates, without "
          f"{clean.summary['env_steps']} / {clean.summary['updates']}")
    return 0 if lost == 0 and all(survived.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
