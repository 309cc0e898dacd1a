"""The `vid2act` command line: one entry point, a subcommand per pipeline stage.

    vid2act collect --suite dmc --tasks walker_walk,hopper_stand --episodes 50 --policy medium:0.5,expert:0.5
    vid2act behaviour --task dmc/walker_walk
    vid2act pretrain --dataset data/sources/walker_walk --out runs/teachers/walker_walk
    vid2act demo                      # the embedded default, end to end at `smoke` size
    vid2act config --preset cpu model.deter=256      # print the resolved config
    vid2act config --keys [--preset smoke]           # every key with its value and doc line

Every subcommand takes `--preset {smoke,cpu,paper,paper_apv}` and trailing dotted overrides (`key=value`). Flags such as
`--episodes` are shorthands for config keys. Each subcommand lives in `deploy/<name>.py` as `run(cfg, args)`.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading

from pathlib import Path

from learner import METHODS
from deploy.presets import VARIANTS
from deploy.config import PRESETS, Config, ConfigError, leaves, apply_overrides, load_config, read_config

TRACE = logging.getLogger("vid2act.trace")
"""Full traces of failed commands: written to the run's log file (`<logdir>/vid2act.log`), never to the terminal."""

# subcommand -> (help, {flag: config key}, extra plain arguments)
COMMANDS: dict[str, tuple[str, dict[str, str], list[tuple[str, dict]]]] = {
    "collect": (
        "collect offline source datasets with Ray env actors",
        {"--suite": "collect.suite", "--tasks": "collect.tasks", "--episodes": "collect.episodes",
         "--policy": "collect.policy", "--out": "collect.out", "--num-actors": "collect.num_actors",
         "--agents": "collect.agents", "--seed": "seed"},
        [],
    ),
    "behaviour": (
        "train a DMC state-based behaviour agent (medium and expert checkpoints)",
        {"--task": "env.task", "--agents": "collect.agents", "--steps": "behaviour.steps", "--seed": "seed"},
        [],
    ),
    "pretrain": (
        "pretrain a frozen teacher world model on one source dataset (Eq. 2), APV's action-free video model or PVDR's "
        "video models",
        {"--seed": "seed", "--device": "device", "--steps": "teacher.steps"},
        [("--dataset", {"required": True, "help": "source dataset directory (comma-separated with --action-free or "
                                                 "--pvdr)"}),
         ("--action-free", {"action": "store_true", "help": "APV's action-free video model on the frames of every "
                                                            "--dataset pooled, actions ignored (APV Eq. 1-2)"}),
         ("--pvdr", {"action": "store_true", "help": "PVDR's tokenizer and visual dynamics CVAE on the frames of "
                                                     "every --dataset pooled (PVDR Eq. 1); --steps then sets the "
                                                     "CVAE's pvdr.steps"}),
         ("--out", {"required": True, "help": "teacher directory to write"}),
         ("--skip-corrupt", {"action": "store_true", "help": "skip corrupt episode files with a warning"})],
    ),
    "train": (
        "train a student on a target task with Ray env actors, teacher actors and the learner (Algorithm 1)",
        {"--target": "env.task", "--teachers": "train.teachers", "--sources": "train.sources",
         "--method": "train.method", "--steps": "train.steps", "--logdir": "logdir", "--seed": "seed",
         "--device": "device", "--actors": "train.num_actors", "--init-from": "train.init_from",
         "--pretrained": "train.init_from"},
        [("--local", {"action": "store_true",
                      "help": "every part in this one Python process, no Ray (for a debugger); same driver"})],
    ),
    "sweep": (
        "a grid of targets x variants x seeds as Ray Tune trials (resumable), then IQM/CI statistics per target",
        {"--seed": "seed"},
        [("--out", {"required": True, "help": "sweep directory (runs, Tune state, curves, reports)"}),
         ("--targets", {"help": "comma-separated target tasks (default: env.task)"}),
         ("--seeds", {"default": "0,1,2", "help": "comma-separated seeds (default 0,1,2)"}),
         ("--variant", {"nargs": "+", "action": "append", "metavar": "NAME_OR_KEY=VALUE",
                        "help": "a setting: NAME then its overrides (repeat per variant); a known NAME brings its "
                                f"own ({', '.join(VARIANTS)}: deploy/presets.py), any other is a label for the "
                                "overrides after it"}),
         ("--concurrent", {"type": int, "default": 2, "help": "trials at a time (default 2)"}),
         ("--cpus-per-trial", {"type": float, "default": 1.0, "help": "CPUs each trial asks Tune for"}),
         ("--actors", {"action": "store_true", "help": "each trial runs its learner, env, teacher and eval actors "
                                                       "in the trial's placement group (a cluster); default: the "
                                                       "whole run in the trial's process (`train --local`)"}),
         ("--gpus-per-trial", {"type": int, "default": 0, "help": "whole GPUs in each trial's placement group "
                                                                  "(with --actors): the learner's and teachers'"})],
    ),
    "eval": (
        "evaluation episodes from a run's checkpoint (DMC return, Meta-World success rate)",
        {"--logdir": "logdir", "--episodes": "train.eval_episodes", "--seed": "seed"},
        [],
    ),
    "report": (
        "plots of one or more runs: learning curves, domain weights, video predictions",
        {"--logdir": "logdir"},
        [("--runs", {"help": "comma-separated run directories (default: --logdir)"}),
         ("--sweep", {"help": "a `vid2act sweep` directory: the statistics and plots per target, into "
                              "<sweep>/report-<target>/"}),
         ("--out", {"help": "directory for the PNGs (default: <first run>/report)"})],
    ),
    "scale": (
        "change the number of env actors of a running training job",
        {"--logdir": "logdir"},
        [("--actors", {"required": True, "type": int, "help": "the new number of env actors"})],
    ),
    "demo": (
        "the whole pipeline on the embedded default at smoke size: collect, pretrain, train, eval, report",
        {"--logdir": "logdir", "--seed": "seed"},
        [],
    ),
    "tasks": (
        "list every task (suite/task) with its action width",
        {},
        [("--suite", {"choices": ["dmc", "metaworld", "gym"], "help": "one suite only"})],
    ),
    "config": (
        "print the resolved config, or every key with its doc line",
        {},
        [("--keys", {"action": "store_true",
                     "help": "list every key, its type, value (the preset's with --preset) and meaning"})],
    ),
}


QUIET = {"absl": logging.WARNING, "ray._private.authentication.authentication_token_setup": logging.ERROR}
"""Library loggers whose routine lines (dm_control's GL backend choice, Ray's token-auth notice) only `--verbose`
shows."""
MODULES = {"eval": "evaluate"}  # subcommands whose module name differs
FROM_RUN = ("eval", "report", "scale")  # subcommands that start from a run's saved config.yaml


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (what was wrong, where the help is) instead of the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message}; `{self.prog} --help` lists the options\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="vid2act", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, flags, extra) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--preset", default=None, choices=list(PRESETS),
                       help="named preset (default: cpu; demo: smoke)")
        p.add_argument("-v", "--verbose", action="store_true",
                       help="also the libraries' own INFO lines (MuJoCo's GL backend, Ray's auth notice)")
        for flag, key in flags.items():  # values are checked by the config (one line, with a did-you-mean)
            known = {"train.method": f": one of {', '.join(METHODS)}"}.get(key, "")  # discoverable in --help
            p.add_argument(flag, dest=f"cfg:{key}", default=None, help=f"sets {key}{known}")
        for flag, kwargs in extra:
            p.add_argument(flag, **kwargs)
        p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # full traces go to the run's log file, not the terminal
        handler.addFilter(lambda record: record.name != TRACE.name)
    args = build_parser().parse_args(argv)
    if not sys.stderr.isatty():  # a log file or a pipe: Ray's worker-log prefixes without colour codes
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    if not args.verbose:
        for name, level in QUIET.items():
            logging.getLogger(name).setLevel(level)
    preset = args.preset or ("smoke" if args.command == "demo" else "cpu")
    flag_overrides = [f"{dest[4:]}={value}" for dest, value in vars(args).items()
                      if dest.startswith("cfg:") and value is not None]
    overrides = [*flag_overrides, *args.overrides]
    saved = Path(getattr(args, "cfg:logdir", None) or "") / "config.yaml"
    try:
        if args.command in FROM_RUN and saved.is_file():  # act on a run as it was configured
            cfg = apply_overrides(read_config(saved), overrides).validate()
        else:
            cfg = load_config(preset, overrides).validate()
    except (ConfigError, ValueError) as error:
        print(f"vid2act {args.command}: {error}", file=sys.stderr)
        return 2
    if args.command == "config" and args.keys:
        print(describe_keys(cfg))
        return 0
    if args.command == "config":
        import yaml

        from deploy.config import config_to_dict
        print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
        return 0
    module = importlib.import_module(f"deploy.{MODULES.get(args.command, args.command)}")
    try:
        return int(module.run(cfg, args) or 0)
    except KeyboardInterrupt:
        how = "stopped by SIGTERM (`ray job stop`, a scheduler)" if SIGTERM.is_set() else "interrupted"
        print(f"vid2act {args.command}: {how}; re-run the same command to resume", file=sys.stderr)
        return 143 if SIGTERM.is_set() else 130
    except Exception as error:  # noqa: BLE001 -- every failure is one line here; its trace is in the run's log
        if os.environ.get("VID2ACT_DEBUG"):
            raise
        return report_failure(args.command, error)


def unwrap(error: BaseException) -> BaseException:
    """The exception a Ray wrapper carries (`RayTaskError.cause`, raised in an actor), else `error` itself."""
    while isinstance(getattr(error, "cause", None), BaseException) and error.cause is not error:
        error = error.cause
    return error


def report_failure(command: str, error: BaseException) -> int:
    """Print one line for a failed command: the message of a known error (exit 2), else its type and first line
    (exit 1), with where the full trace is (the run's log) or how to see it."""
    cause = unwrap(error)
    known = isinstance(cause, user_errors())
    lines = str(cause).strip().splitlines() or [""]
    text = lines[0] if known else f"{type(cause).__name__}: {lines[0]}"
    notes = getattr(error, "__notes__", None) or ["VID2ACT_DEBUG=1 shows the full trace"]
    print(f"vid2act {command}: {text} ({notes[-1]})", file=sys.stderr)
    return 2 if known else 1


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors that describe bad input and what to do: printed without a traceback (VID2ACT_DEBUG=1 shows it)."""
    from actors import EnvFaultError, UnknownTaskError
    from deploy.redis_server import RedisServerError
    from learner import CheckpointError, DivergenceError
    from replay import DatasetError, EpisodeError, ReplayConnectionError
    from runtime import RunError

    return (UserError, ConfigError, FileNotFoundError, UnknownTaskError, CheckpointError, ReplayConnectionError,
            DatasetError, EpisodeError, RunError, DivergenceError, EnvFaultError, RedisServerError)


def describe_keys(cfg: Config) -> str:
    """Every key of `cfg` with its type, value and doc line (the attribute docstrings of each part's dataclass)."""
    lines = []
    for key, (owner, name, kind) in leaves(cfg).items():
        doc = field_docs(type(owner)).get(name, "")
        lines.append(f"{key:28s} {kind.__name__:6s} {getattr(owner, name)!r:>14}  {doc}")
    return "\n".join(lines)


def field_docs(cls: type) -> dict[str, str]:
    """{field: doc line} of a dataclass whose fields are each followed by a docstring (read from its source)."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    return {a.target.id: " ".join(str(b.value.value).split()) for a, b in zip(body, body[1:])
            if isinstance(a, ast.AnnAssign) and isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)}


SIGTERM = threading.Event()
"""Set when SIGTERM reached the driver (`ray job stop`, a scheduler): `deploy.ray_runtime` turns it into a
KeyboardInterrupt, so the run unwinds like Ctrl-C, and the CLI names it in its line."""


class UserError(RuntimeError):
    """A problem the user can fix (bad input, missing file); printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
