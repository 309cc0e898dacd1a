"""Statistics a reviewer trusts, from the periodic evaluations of training runs (`eval/return`, or Meta-World's
`eval/success`, in metrics.jsonl): per-seed raw curves as JSON, interquartile means with 95% stratified-bootstrap
confidence intervals and the probability of improvement over a baseline (rliable; Agarwal et al., 2021), and eval
curves with CI bands.

    curves = eval_curves({run.name: read_history(run) for run in runs})  # {setting: [SeedCurve, ...]}
    path = write_scores(curves, "dmc/walker_stand", out)  # scores-<target>.json: method, seed, env steps, scores
    curves = read_scores(path)                               # ... and back
    table = aggregate(curves, baseline="walker_stand-dreamerv2")        # IQM, CI, P(improvement) per setting

A setting is a run directory's name less its trailing `-s<seed>` (deploy/report.py's `run_label`). A seed's score
is its mean eval score over the last fifth of the shortest curve's budget (the paper's protocol: final performance).
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

REPS = 2000
"""Bootstrap resamples."""


def read_history(run_dir: Path, missing_ok: bool = False) -> list[dict]:
    """The rows of a run's `metrics.jsonl` (one JSON object per line, as `vid2act train` appends them: numeric
    env_steps, updates and the reported metrics); other lines are skipped (with a warning naming the line, unless it
    is the last: a row being written). FileNotFoundError naming the directory when it
    holds no history, unless `missing_ok` (a run yet to write its first row: no rows)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        if missing_ok:
            return []
        raise FileNotFoundError(f"{path} not found: is {run_dir} a training run (`vid2act train --logdir ...`)?")
    rows, lines = [], path.read_text(errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line) if line.strip() else None
        except json.JSONDecodeError:
            row = None
        if isinstance(row, dict) and isinstance(row.get("env_steps"), int | float):
            rows.append(row)
        elif line.strip() and number < len(lines):  # the last line may be a row being written right now
            log.warning("%s line %d is not a metric row (a JSON object with numeric env_steps): skipped", path, number)
    return rows


def finished_runs(runs: list[Path], steps: int) -> tuple[list[Path], list[str]]:
    """(those of `runs` (directories with a metrics.jsonl) that reached `steps` env steps, names of those still short):
    a run still training or stopped early would cut every run's scored window to its own budget, so only finished
    runs are pooled."""
    done, short = [], []
    for run in runs:
        (done.append(run) if max((r["env_steps"] for r in read_history(run)), default=0) >= steps
         else short.append(run.name))
    return done, short


def _interval_estimates(scores: dict, aggregate_fn, reps: int, seed: int) -> tuple[dict, dict]:
    """rliable's `get_interval_estimates` (95% stratified-bootstrap CIs) per entry of `scores`, each reproducible
    from `seed` alone: rliable 1.2 draws its resamples from numpy's global generator, so that generator is seeded
    anew for every entry (one entry's CI does not depend on which others are present) and put back afterwards."""
    from rliable import library as rly

    state, points, intervals = np.random.get_state(), {}, {}
    try:
        for name, value in scores.items():
            np.random.seed(seed)
            point, interval = rly.get_interval_estimates({name: value}, aggregate_fn, reps=reps)
            points[name], intervals[name] = point[name], interval[name]
    finally:
        np.random.set_state(state)
    return points, intervals


@dataclass
class SeedCurve:
    """One run's periodic evaluations: `score[i]` is its `metric` (`eval/return`, or Meta-World's `eval/success`)
    after `env_steps[i]` env steps."""

    run: str
    seed: int
    env_steps: list[int]
    score: list[float]
    metric: str = "eval/return"


def eval_curves(histories: dict[str, list[dict]], key: str = "eval/return") -> dict[str, list[SeedCurve]]:
    """{setting: its seeds' eval curves of `key` (`eval/return`, or Meta-World's `eval/success`)} from each run's
    history ({run directory name: `read_history` rows}; runs without evaluations are left out)."""
    curves: dict[str, list[SeedCurve]] = {}
    for name, rows in histories.items():
        points = [(int(r["env_steps"]), float(r[key])) for r in rows if key in r]
        if not points:
            continue
        match = re.search(r"-s(\d+)$", name)
        steps, returns = zip(*sorted(points))
        label = re.sub(r"-s\d+$", "", name)
        curves.setdefault(label, []).append(SeedCurve(name, int(match.group(1)) if match else 0, list(steps),
                                                      list(returns), key))
    return curves


def write_scores(curves: dict[str, list[SeedCurve]], target: str, out: Path) -> Path:
    """Per-seed raw curves, one file per target (as APV and DreamerV3 publish theirs), for others to re-plot: a row
    per seed with target, method, run, seed, env_steps, score and the metric the scores are."""
    path = out / f"scores-{target.replace('/', '-')}.json"
    out.mkdir(parents=True, exist_ok=True)
    rows = [{"target": target, "method": label, **asdict(c)} for label, seeds in sorted(curves.items()) for c in seeds]
    path.write_text(json.dumps(rows, indent=1))
    return path


def read_scores(path: Path) -> dict[str, list[SeedCurve]]:
    """The curves `write_scores` wrote to `path`, back as {setting: [SeedCurve, ...]}.

    Raises ValueError (one line naming the file and the fault) for a file that is not such a list of rows."""
    try:
        rows = json.loads(Path(path).read_text())
        curves: dict[str, list[SeedCurve]] = {}
        for row in rows:
            curve = SeedCurve(str(row["run"]), int(row["seed"]), [int(s) for s in row["env_steps"]],
                              [float(v) for v in row["score"]], str(row["metric"]))
            if not curve.env_steps or len(curve.env_steps) != len(curve.score):
                raise ValueError(f"run {curve.run} has {len(curve.env_steps)} env steps for {len(curve.score)} scores")
            curves.setdefault(str(row["method"]), []).append(curve)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a scores file of `vid2act report` ({type(e).__name__}: {e}); pass the "
                         f"scores-<target>.json a report wrote") from None
    return curves


def final_scores(curves: dict[str, list[SeedCurve]], last: float = 0.2) -> dict[str, np.ndarray]:
    """{setting: (seeds, 1) scores}: each seed's mean score over the last `last` of the common budget."""
    budget = min(c.env_steps[-1] for seeds in curves.values() for c in seeds)
    scores = {}
    for label, seeds in curves.items():
        values = []
        for c in seeds:
            steps, returns = np.array(c.env_steps), np.array(c.score)
            window = (steps >= (1 - last) * budget) & (steps <= budget)
            values.append(returns[window].mean() if window.any() else returns[steps <= budget][-1])
        scores[label] = np.array(values, dtype=np.float64)[:, None]
    return scores


def aggregate(curves: dict[str, list[SeedCurve]], baseline: str | None = None, seed: int = 0) -> dict:
    """{setting: {iqm, ci: [lo, hi], seeds, p_improvement (over `baseline`), p_ci}} with rliable's stratified
    bootstrap (95% CIs, reproducible from `seed`); IQM over seeds of the final scores (at 3 seeds or fewer it trims
    nothing: the mean). A bootstrap of one seed has no spread: its `ci` (and `p_ci` of a pair with one) is None."""
    from rliable import metrics

    scores = final_scores(curves)
    point, interval = _interval_estimates(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), REPS, seed)
    table = {label: {"iqm": float(point[label][0]), "seeds": int(len(scores[label])),
                     "ci": _interval(interval[label], len(scores[label]))} for label in scores}
    if baseline in scores:
        pairs = {label: (scores[label], scores[baseline]) for label in scores if label != baseline}
        if pairs:
            p_point, p_interval = _interval_estimates(
                pairs, lambda x, y: np.array([metrics.probability_of_improvement(x, y)]), REPS, seed)
            for label, (x, y) in pairs.items():
                table[label].update(p_improvement=float(p_point[label][0]),
                                    p_ci=_interval(p_interval[label], min(len(x), len(y))))
    return table


def _interval(interval: np.ndarray, seeds: int) -> list[float] | None:
    """[lo, hi] of rliable's (2, 1) interval, or None from a single seed (a bootstrap of one value has no spread)."""
    return [float(v) for v in interval[:, 0]] if seeds > 1 else None


def iqm_bands(seeds: list[SeedCurve], grid: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """IQM over seeds at each env step of `grid` (curves interpolated) and its 95% bootstrap CI: ((G,), (2, G))."""
    from rliable import metrics

    ys = np.stack([np.interp(grid, c.env_steps, c.score) for c in seeds])  # (seeds, G)

    def per_step(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x[:, j]) for j in range(x.shape[1])])

    point, interval = _interval_estimates({"x": ys}, per_step, REPS // 4, seed)
    return np.asarray(point["x"]), np.asarray(interval["x"])
