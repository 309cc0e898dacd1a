"""`vid2act report`: PNGs people can look at, from the runs' `metrics.jsonl` and checkpoints.

    vid2act report --runs runs/walker_run-vid2act-s0,runs/walker_run-dreamerv2-s0 --out docs/results

- `learning_curves.png`: training-episode return (and Meta-World success) vs env steps, mean ± std over the seeds
  of each setting (runs grouped by directory name less a trailing `-s<seed>`: `walker_run-vid2act-s0` and
  `-s1` share the curve `walker_run-vid2act`);
- `eval_curves.png`, `scores-<target>.json`, `stats-<target>.json`: from the periodic evaluations, IQM over seeds
  with 95% stratified-bootstrap CIs (rliable), P(improvement) over the dreamerv2 setting, per-seed raw curves;
- `domain_weights.png`: each source's domain weight over updates, per run (the paper's Figure 8);
- `prediction-<run>/openloop.png`: the student's open-loop video prediction on its evaluation episodes
  (truth / model / error; after `vid2act eval`), with MSE and PSNR by horizon.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from deploy.config import Config  # noqa: E402
from deploy.stats import SeedCurve, read_history  # noqa: E402
from runtime import split_csv  # noqa: E402


def _curve(rows: list[dict], key: str, x: str = "env_steps") -> tuple[np.ndarray, np.ndarray]:
    pts = [(r[x], r[key]) for r in rows if key in r]
    return (np.array([p[0] for p in pts]), np.array([p[1] for p in pts])) if pts else (np.array([]), np.array([]))


def run_label(name: str) -> str:
    """The setting a run belongs to: its directory name less a trailing `-s<seed>`."""
    return re.sub(r"-s\d+$", "", name)


SMOOTH = 5
"""Training-episode curves are a moving average over this many episodes (said on the axis)."""


def learning_curves(runs: dict[str, list[dict]], out: Path, key: str = "actor/return", target: str = "?"):
    """Mean ± std over the seeds of each setting (`run_label`), on a shared grid of env steps, with the random
    prefill policy's mean as a reference line (episodes acted before the first broadcast weights)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    labels, budget, randoms = [], 0, []
    for label in sorted({run_label(name) for name in runs}):
        seeds = [rows for name, rows in runs.items() if run_label(name) == label]
        curves = [c for c in (_curve(rows, key) for rows in seeds) if len(c[0])]
        if not curves:
            continue
        randoms += [r[key] for rows in seeds for r in rows if key in r and r.get("actor/version", 0) < 1]
        grid = np.linspace(0, min(c[0].max() for c in curves), 50)
        ys = np.stack([np.interp(grid, x, _smooth(y)) for x, y in curves])
        mean, std = ys.mean(0), ys.std(0)
        ax.plot(grid, mean, label=f"{label} ({len(curves)} seed{'s' * (len(curves) > 1)})")
        ax.fill_between(grid, mean - std, mean + std, alpha=0.2)
        labels.append(label)
        budget = max(budget, int(grid[-1]))
    what = "success (episode)" if key == "actor/success" else "return"
    if randoms:
        random = float(np.mean(randoms))
        ax.axhline(random, color="grey", linestyle=":", label=f"random policy ({random:.2f})")
    ax.set_title(f"{target}: training-episode {what}\n{_listed(labels)}\n{budget:,} env steps", fontsize=9)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"{what}, moving average of {SMOOTH} episodes\n(line: mean over seeds, band: ± std)", fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _listed(labels: list[str]) -> str:
    """The settings of a figure, for its title: wrapped to the 6.5-inch figure's width."""
    return textwrap.fill(", ".join(labels), 85, break_on_hyphens=False)


def _smooth(y: np.ndarray, k: int = SMOOTH) -> np.ndarray:
    if len(y) < k:
        return y
    return np.convolve(np.pad(y, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, mode="valid")


def domain_weights(runs: dict[str, list[dict]], out: Path, target: str = "?") -> Path | None:
    """Per run, every source's weight over env steps (Figure 8 of the paper); line styles differ, so equal weights
    do not hide a line."""
    with_weights = {name: rows for name, rows in runs.items()
                    if any(k.startswith("train/domain_weight/") for r in rows for k in r)}
    if not with_weights:
        return None
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(len(with_weights), 1, figsize=(6.5, 2.8 * len(with_weights)), squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], with_weights.items()):
        keys = sorted({k for r in rows for k in r if k.startswith("train/domain_weight/")})
        for i, key in enumerate(keys):
            x, y = _curve(rows, key)
            ax.plot(x, y, label=key.rsplit("/", 1)[-1], linestyle=styles[i % len(styles)], linewidth=1.5)
        ax.set_title(f"{name} (target {target}): domain weight of each source", fontsize=9)
        ax.set_xlabel("env steps")
        ax.set_ylabel("mean weight per batch\n(Eq. 3, before the floor)", fontsize=8)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def score_key(target: str) -> str:
    """The eval metric a target is scored by: Meta-World's success rate, else the return."""
    return "eval/success" if target.startswith("metaworld/") else "eval/return"


def evaluation(curves: dict[str, list[SeedCurve]], target: str, out: Path) -> list[Path]:
    """From the periodic evaluations' per-seed curves: the raw curves (`scores-<target>.json`), the IQM table with
    95% bootstrap CIs and P(improvement) over the dreamerv2 setting (`stats-<target>.json`), and `eval_curves.png`:
    IQM over seeds with its CI band per setting, against env steps. Nothing without curves."""
    from deploy.stats import aggregate, iqm_bands, write_scores

    if not curves:
        return []
    what = "eval success rate" if score_key(target) == "eval/success" else "eval return"
    name = target.replace("/", "-")
    baseline = next((label for label in sorted(curves, key=len) if "dreamerv2" in label), None)  # plain dreamerv2
    table = aggregate(curves, baseline)
    (out / f"stats-{name}.json").write_text(json.dumps({"target": target, "baseline": baseline,
                                                        "score": f"mean {what} over the last fifth of the budget",
                                                        "settings": table}, indent=1))
    fig, ax = plt.subplots(figsize=(7, 4.5 + 0.15 * len(curves)))
    budget = min(c.env_steps[-1] for seeds in curves.values() for c in seeds)
    for label, seeds in sorted(curves.items()):
        grid = np.linspace(min(c.env_steps[0] for c in seeds), budget, 40)
        point, band = iqm_bands(seeds, grid)
        n = f"{len(seeds)} seed" + "s" * (len(seeds) > 1)
        ax.plot(grid, point, label=f"{label}: IQM {table[label]['iqm']:.1f} ({n})")
        ax.fill_between(grid, band[0], band[1], alpha=0.2)
    sizes = sorted({len(seeds) for seeds in curves.values()})
    counts = f"{sizes[0]}-{sizes[-1]}" if len(sizes) > 1 else f"{sizes[0]}"  # "1-3"
    ax.set_title(f"{target}: {what}, IQM over seeds with 95% bootstrap CI\n{_listed(sorted(curves))}\n"
                 f"{counts} seeds per setting; {budget:,} env steps", fontsize=9)
    ax.set_xlabel("env steps")
    ax.set_ylabel(f"{what} (mode policy, unsmoothed)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: the curves stay clear
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "eval_curves.png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return [write_scores(curves, target, out), out / f"stats-{name}.json", out / "eval_curves.png"]


def target_of(run_dir: Path) -> str:
    """The target task a run trained on (its saved config), or `?`."""
    from deploy.config import read_config

    return read_config(run_dir / "config.yaml").env.task if (run_dir / "config.yaml").exists() else "?"


def by_target(run_dirs: list[Path]) -> dict[str, list[Path]]:
    """Runs grouped by the target task each trained on (a comparison is only within one target)."""
    groups: dict[str, list[Path]] = {}
    for run_dir in run_dirs:
        groups.setdefault(target_of(run_dir), []).append(run_dir)
    return groups


def report_sweep(sweep_dir: Path) -> list[Path]:
    """`report` per target of a sweep's finished runs (those whose trial wrote `<sweep>/curves/<run>.json`), into
    `<sweep>/report-<target>/`; a run still short of its budget would cut every run's scored window to its own."""
    sweep_dir = Path(sweep_dir)
    runs = sorted(sweep_dir / p.stem for p in sweep_dir.glob("curves/*.json") if (sweep_dir / p.stem).is_dir())
    return [path for target, dirs in by_target(runs).items()
            for path in report(dirs, Path(sweep_dir) / f"report-{target.replace('/', '-')}")]


def report(run_dirs: list[Path], out: Path, kept: dict[str, list[SeedCurve]] | None = None) -> list[Path]:
    """The figures and statistics of runs on one target into `out`; runs on several targets get one
    `out/<target>/` each (their returns and baselines are not comparable).

    `kept`: per-seed eval curves (`read_scores`) of runs on the same target whose directories are gone (a machine
    lost); they are pooled into the statistics and `eval_curves.png`, a run present under the same name wins. The
    figures drawn from histories then show the runs present only, in `out/runs-present/` (they would otherwise
    replace fuller ones)."""
    from deploy.stats import eval_curves

    groups = by_target(run_dirs)
    if len(groups) > 1 and kept:
        raise ValueError(f"kept curves pool into one target's report; these runs trained on {', '.join(groups)}")
    if len(groups) > 1:
        return [path for target, dirs in groups.items() for path in report(dirs, out / target.replace("/", "-"))]
    out.mkdir(parents=True, exist_ok=True)
    runs = {d.name: read_history(d) for d in run_dirs}
    target = target_of(run_dirs[0])
    curves = pooled(kept or {}, eval_curves(runs, score_key(target)))
    written = evaluation(curves, target, out)
    figures = out / "runs-present" if kept else out
    figures.mkdir(exist_ok=True)
    written.append(learning_curves(runs, figures / "learning_curves.png", target=target))
    if target.startswith("metaworld/"):
        written.append(learning_curves(runs, figures / "success.png", key="actor/success", target=target))
    if (path := domain_weights(runs, figures / "domain_weights.png", target)) is not None:
        written.append(path)
    for d in run_dirs:
        if (d / "eval_episodes").is_dir() and (d / "checkpoint").is_dir():
            written.append(prediction(d, out / f"prediction-{d.name}"))
    return written


def pooled(kept: dict[str, list[SeedCurve]], present: dict[str, list[SeedCurve]]) -> dict[str, list[SeedCurve]]:
    """{setting: seeds} of both, a seed present under a kept one's run name replacing it."""
    names = {c.run for seeds in present.values() for c in seeds}
    curves = {label: [c for c in seeds if c.run not in names] for label, seeds in kept.items()}
    for label, seeds in present.items():
        curves.setdefault(label, []).extend(seeds)
    return {label: sorted(seeds, key=lambda c: c.seed) for label, seeds in curves.items() if seeds}


def prediction(run_dir: Path, out: Path) -> Path:
    """The student's open-loop video prediction on the run's evaluation episodes (truth / model / error); for PVDR,
    its predicted snippets beside the truth."""
    from learner import Player
    from replay import DatasetReader
    from teachers import write_report, write_snippet_report

    player = Player.from_checkpoint(run_dir / "checkpoint")
    episodes = [ep for ep, _ in DatasetReader(run_dir / "eval_episodes", skip_corrupt=True).episodes()]
    if player.spec.uses.pvdr:
        write_snippet_report(player.parts.tokenizer, player.parts.model, episodes, out,
                             title=f"PVDR {run_dir.name} ({target_of(run_dir)}) at update {player.version}, "
                                   f"evaluation episodes")
        return out / "snippets.png"
    write_report(player.model, episodes, out, title=f"student {run_dir.name} ({target_of(run_dir)}) at update "
                                                    f"{player.version}, evaluation episodes")
    return out / "openloop.png"


def run(cfg: Config, args) -> int:
    from deploy.cli import UserError

    if args.sweep:
        written = report_sweep(Path(args.sweep))
        if not written:
            raise UserError(f"no finished runs (curves/*.json) in {args.sweep}: pass the --out of a `vid2act sweep` "
                            f"whose trials finished")
        for path in written:
            print(f"wrote {path}")
        return 0
    dirs = [Path(d) for d in split_csv(args.runs)] if args.runs else [Path(cfg.logdir)]
    missing = [str(d) for d in dirs if not (d / "metrics.jsonl").exists()]
    if missing:
        raise UserError(f"no metrics.jsonl in {', '.join(missing)}: pass training run directories")
    if empty := [str(d) for d in dirs if not read_history(d)]:
        raise UserError(f"{', '.join(empty)}: metrics.jsonl holds no metric rows (JSON objects with env_steps): "
                        f"train the run first, or pass another --logdir")
    out = Path(args.out) if args.out else dirs[0] / "report"
    for path in report(dirs, out):
        print(f"wrote {path}")
    return 0
