"""Before and after in one run on one machine: each bench's copy in a base commit's tree, then this tree's copy.

    nice -n 19 .venv/bin/python bench/compare.py [--base a55215a] [--benches learner,replay,actors] [--repeat 1]
        [--learner-args "--rounds 2"] [--replay-args "--seconds 5"] [--actors-args "--seconds 20"] [--timeout 5400]

`before` is the base commit, checked out once as a detached git worktree at /tmp/vid2act-base-<sha7> (created when
missing, reused after; `git worktree remove /tmp/vid2act-base-<sha7>` deletes it). `after` is this working tree as
it is, uncommitted changes included. For each bench the base tree's `bench/<name>.py` runs, then this tree's, back to
back, with the same interpreter (this repo's .venv) and the same arguments (`--<name>-args`, which both copies must
accept), from the tree's root and with PYTHONPATH set to it: the venv's editable install maps `learner`, `deploy`,
... to this tree, and without PYTHONPATH a Ray worker of a base run would import them from here (a bench's own
`sys.path.insert` only reaches its driver). Before the benches a check imports the packages in each tree, in the
driver and, for benches that use Ray, in a Ray worker, and stops when any comes from the other tree. With
`--repeat N` the pairs run N times (base, after, base, after, ...) and each figure is the median.

Figures parsed from each bench's stdout (what it prints, unchanged):
  learner  upd/s of each preset row (`update alone`, and with the teachers' features), ours and the peer at matched
           sizes (the headline's medians); headline ours/peer. The peer's code does not change: it is a control.
  replay   redis insert steps/s, sampler batches/s, Redis memory / raw (lower is better); the numpy ring as a
           control; headline sampler/numpy.
  actors   plain env loop, 1 env actor, 2 env actors (each, total), 1 actor acting with weights (agent steps/s);
           headline per-actor / plain.
  world_model, teachers (optional): updates/s per preset; teachers' s per call (lower is better), headline b/loop.
The learner's peer venv (.venv-peer) is shared: created here once (by this tree's bench) when the peer is measured,
and linked into the base tree.

Prints a markdown table (figure | before | after | after/before), the headlines last. Exit 1 when a figure other
than a control is worse than 0.9x its before (lower-is-better ones: above before / 0.9); exit 2 when a bench gave no
figures or the import check failed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
PACKAGES = ("learner", "deploy", "actors", "replay", "teachers")
RAY_BENCHES = {"actors", "teachers"}  # benches whose work runs in Ray workers (teachers unless --no-ray)
GATE = 0.9

sys.path.insert(0, str(ROOT))
from bench.figures import CONTROL, HIGHER, LOWER, PARSERS, Figure  # noqa: E402


# -- trees and runs ----------------------------------------------------------------------------------------------
def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def base_tree(base: str) -> tuple[Path, str]:
    """The detached worktree of `base` under /tmp (created when missing); (its root, its full sha)."""
    sha = git("rev-parse", "--verify", f"{base}^{{commit}}")
    tree = Path(f"/tmp/vid2act-base-{sha[:7]}")
    if tree.exists():
        there = git("rev-parse", "HEAD", cwd=tree)
        if there != sha:
            raise SystemExit(f"{tree} holds {there[:7]}, not {sha[:7]}: remove it (`git worktree remove --force "
                             f"{tree}`) and re-run")
        return tree, sha
    git("worktree", "prune")  # forget a registration whose directory was deleted
    git("worktree", "add", "--detach", str(tree), sha)
    return tree, sha


def tree_env(tree: Path) -> dict[str, str]:
    path = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH", "")])])
    return {**os.environ, "PYTHONPATH": path, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
            "PYTHONUNBUFFERED": "1"}


IMPORT_CHECK = r"""
import importlib, json, os, sys
names = sys.argv[1].split(",")
where = {n: importlib.import_module(n).__file__ for n in names}
if sys.argv[2] == "ray":
    import ray
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    def remote_where(names):
        import importlib
        return {n: importlib.import_module(n).__file__ for n in names}
    where.update({"ray worker: " + k: v for k, v in ray.get(ray.remote(remote_where).remote(names)).items()})
    ray.shutdown()
print("WHERE " + json.dumps(where))
"""


def check_imports(python: str, tree: Path, with_ray: bool) -> str | None:
    """None when every package (and in a Ray worker, when asked) comes from `tree`; else what went wrong."""
    proc = subprocess.run([python, "-c", IMPORT_CHECK, ",".join(PACKAGES), "ray" if with_ray else "-"], cwd=tree,
                          env=tree_env(tree), capture_output=True, text=True, timeout=300)
    m = re.search(r"^WHERE (.*)$", proc.stdout, re.M)
    if m is None:
        return f"import check in {tree} failed: {(proc.stderr or proc.stdout).strip()[-1500:]}"
    where = json.loads(m.group(1))
    wrong = {k: v for k, v in where.items() if not Path(v).resolve().is_relative_to(tree.resolve())}
    print(f"  {tree}: " + ", ".join(f"{k} <- {Path(v).parent}" for k, v in where.items()), flush=True)
    return f"imported from outside {tree}: {wrong}" if wrong else None


def peer_wanted(args: list[str]) -> bool:
    return "--no-peer" not in args and not any(a.startswith("--peer-s") for a in args)


def share_peer_venv(python: str, base: Path) -> None:
    """One .venv-peer for both trees: this tree's (created by its bench's own helper when missing), linked into
    the base tree."""
    venv = ROOT / ".venv-peer"
    if not (venv / "bin" / "python").exists():
        print("creating the peer venv once for both trees (minutes)", flush=True)
        code = "from bench.learner import ensure_peer_venv; import sys; e = ensure_peer_venv(print); " \
               "print(e or 'peer venv ready'); sys.exit(1 if e else 0)"
        subprocess.run([python, "-c", code], cwd=ROOT, env=tree_env(ROOT))
    link = base / ".venv-peer"
    if venv.exists() and not link.exists() and not link.is_symlink():
        link.symlink_to(venv)


def run_bench(python: str, tree: Path, name: str, args: list[str], label: str, timeout: float) -> tuple[str, int]:
    """Run `tree`/bench/`name`.py with `args`, echoing its output prefixed with `label`; (stdout+stderr, rc)."""
    cmd = [python, str(tree / "bench" / f"{name}.py"), *args]
    print(f"\n[{label}] $ {' '.join(shlex.quote(c) for c in cmd)}  (cwd {tree})", flush=True)
    start, lines = time.monotonic(), []
    proc = subprocess.Popen(cmd, cwd=tree, env=tree_env(tree), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace")
    try:
        for line in proc.stdout:
            lines.append(line)
            print(f"[{label}] {line}", end="", flush=True)
            if time.monotonic() - start > timeout:
                proc.kill()
                lines.append(f"compare: killed after {timeout:.0f} s\n")
                break
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"[{label}] exit {rc} after {time.monotonic() - start:.0f} s", flush=True)
    return "".join(lines), rc


# -- the table ---------------------------------------------------------------------------------------------------
def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}" if abs(v) < 1 else f"{v:.3f}".rstrip("0").rstrip(".")


def verdict(before: Figure | None, after: Figure | None) -> tuple[str, bool]:
    """(the after/before cell, whether it is a regression beyond the gate)."""
    if before is None or after is None or before.value == 0:
        return "-", False
    ratio = after.value / before.value
    cell = f"{ratio:.2f}"
    if after.kind == CONTROL:
        return cell + " (control)", False
    worse = ratio < GATE if after.kind == HIGHER else ratio > 1 / GATE
    if after.kind == LOWER:
        cell += " (lower is better)"
    return cell + (" **WORSE**" if worse else ""), worse


def median_figures(runs: list[dict[str, Figure]]) -> dict[str, Figure]:
    out = {}
    for name in dict.fromkeys(k for run in runs for k in run):
        values = [run[name] for run in runs if name in run]
        out[name] = Figure(statistics.median(v.value for v in values), values[0].kind, values[0].headline)
    return out


def table(before: dict[str, Figure], after: dict[str, Figure]) -> tuple[list[str], list[str]]:
    """Markdown rows (headlines last) and the names of the figures that regressed."""
    names = list(dict.fromkeys([*before, *after]))
    head = {n for n in names if (after.get(n) or before.get(n)).headline}
    rows = ["| figure | before | after | after/before |", "|---|---:|---:|---:|"]
    regressed = []
    for name in [n for n in names if n not in head] + [n for n in names if n in head]:
        b, a = before.get(name), after.get(name)
        cell, worse = verdict(b, a)
        label = f"**headline** {name}" if name in head else name
        rows.append(f"| {label} | {fmt(b and b.value)} | {fmt(a and a.value)} | {cell} |")
        if worse:
            regressed.append(name)
    return rows, regressed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="a55215a", help="the `before` commit (default: a55215a, before issue 11)")
    parser.add_argument("--benches", default="learner,replay,actors", help=f"comma-separated, of {', '.join(PARSERS)}")
    for name in PARSERS:
        parser.add_argument(f"--{name.replace('_', '-')}-args", default="", metavar="ARGS",
                            help=f"arguments for both copies of bench/{name}.py (one string)")
    parser.add_argument("--repeat", type=int, default=1, help="(before, after) pairs per bench; medians reported")
    parser.add_argument("--timeout", type=float, default=5400.0, help="seconds per bench run")
    parser.add_argument("--python", default=str(PYTHON if PYTHON.exists() else Path(sys.executable)))
    parser.add_argument("--no-import-check", action="store_true", help="skip checking where the packages come from")
    args = parser.parse_args()
    benches = [b.strip() for b in args.benches.split(",") if b.strip()]
    unknown = [b for b in benches if b not in PARSERS]
    if unknown:
        parser.error(f"no parser for {unknown}; choose from {', '.join(PARSERS)}")
    bench_args = {b: shlex.split(getattr(args, f"{b}_args")) for b in benches}
    base, sha = base_tree(args.base)
    head = git("rev-parse", "HEAD")
    dirty = git("status", "--porcelain")
    print(f"before: {sha[:7]} at {base}\nafter:  {ROOT} at HEAD {head[:7]}"
          f"{f' + {len(dirty.splitlines())} uncommitted paths' if dirty else ''}\n"
          f"python: {args.python}; benches: {', '.join(benches)}; repeat {args.repeat}; "
          f"load avg {os.getloadavg()[0]:.1f}", flush=True)
    missing = [b for b in benches for tree in (base, ROOT) if not (tree / "bench" / f"{b}.py").exists()]
    if missing:
        raise SystemExit(f"bench scripts missing: {missing}")
    if not args.no_import_check:
        with_ray = bool(RAY_BENCHES & set(benches))
        print(f"import check (driver{' and a Ray worker' if with_ray else ''}):", flush=True)
        for tree in (base, ROOT):
            problem = check_imports(args.python, tree, with_ray)
            if problem:
                print(f"compare: {problem}", file=sys.stderr)
                return 2
    if "learner" in benches and peer_wanted(bench_args["learner"]):
        share_peer_venv(args.python, base)

    before, after, codes, failed = {}, {}, {}, []
    for bench in benches:
        runs = {"before": [], "after": []}
        for r in range(args.repeat):
            for side, tree in (("before", base), ("after", ROOT)):
                label = f"{side} {bench}" + (f" #{r + 1}" if args.repeat > 1 else "")
                out, rc = run_bench(args.python, tree, bench, bench_args[bench], label, args.timeout)
                figs = PARSERS[bench](out)
                codes.setdefault(bench, []).append(f"{side} {rc}")
                if figs:
                    runs[side].append(figs)
        if not runs["before"] or not runs["after"]:
            failed.append(bench)
        before.update(median_figures(runs["before"]))
        after.update(median_figures(runs["after"]))

    rows, regressed = table(before, after)
    print(f"\n## before ({sha[:7]}) / after ({head[:7]}{' + working tree' if dirty else ''}), "
          f"{'median of ' + str(args.repeat) + ' runs each, ' if args.repeat > 1 else ''}same machine, one run\n")
    print("\n".join(rows))
    print("\nbench exit codes (a bench's own goals): " + "; ".join(f"{b}: {', '.join(c)}" for b, c in codes.items()))
    if failed:
        print(f"compare: no figures parsed from {', '.join(failed)} (in one or both trees); see the output above")
        return 2
    if regressed:
        print(f"compare: {len(regressed)} figure(s) worse than {GATE}x before: {'; '.join(regressed)}")
        return 1
    print(f"compare: no figure worse than {GATE}x before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
