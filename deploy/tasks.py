"""`vid2act tasks`: every task name the system accepts (`suite/task`, the scheme of `env.task`), with its action
width and the suite's defaults (action repeat, frames per episode).

    vid2act tasks                     # both suites
    vid2act tasks --suite metaworld
"""
from __future__ import annotations

from actors import SUITE_DEFAULTS, SUITES, action_dim, list_tasks
from deploy.config import Config


def run(cfg: Config, args) -> int:
    for suite in [args.suite] if args.suite else SUITES:
        repeat, limit, _ = SUITE_DEFAULTS[suite]
        if suite == "gym":
            print("# gym: your own gymnasium env with image observations: --target gym/<module>:<factory> (or "
                  "module:factory), checked by gymnasium's check_env before a run starts")
            continue
        names = list_tasks(suite)
        print(f"# {suite}: {len(names)} tasks (action repeat {repeat}, {limit} env steps per episode)")
        for name in names:
            print(f"{suite}/{name}  action {action_dim(f'{suite}/{name}')}")
    return 0
