"""Where metric dicts go: Ray dashboard gauges, TensorBoard and a progress line, behind one `MetricsSink.log`.

    sink = MetricsSink(logdir=run_dir, total_steps=cfg.train.steps, tags={"run": "walker-s0"})
    sink.log(env_steps, learner_metrics, tags={"actor": "learner"})   # {"train/kl_loss": 1.2, ...}
    sink.close()

Components report plain dicts whose keys carry a prefix: `train/` (losses, updates), `replay/` (size, ratio),
`actor/` (return, weight-version lag, restarts), `teacher/`, `fps/` (env frames/s, updates/s). Only `deploy/` holds
a sink; domain code never imports this module.

Ray gauges: each key becomes a `ray.util.metrics.Gauge` named by Prometheus rules with a `vid2act_` prefix
(`train/kl_loss` -> `vid2act_train_kl_loss`; Ray's exporter adds its own `ray_`), created on first use. Keys of a
tagged family fold into one gauge with a tag: `train/domain_weight/<source>` -> `vid2act_train_domain_weight`
{source=<source>}. The sink's constant `tags` (e.g. `actor=env-actor-0`) go on every gauge it sets. Gauges need a
connected Ray; without one (a debugger, a unit test) the sink skips them.
"""
from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import ray
from ray.util.metrics import Gauge

log = logging.getLogger(__name__)

PREFIXES = ("train/", "replay/", "actor/", "teacher/", "fps/", "eval/")
"""The prefixes metric keys carry."""

TAGGED = {"train/domain_weight/": "source", "train/distill_dist/": "source"}
"""Key families that fold into one gauge: `<family><value>` -> gauge `<family>` with tag `<tag>=<value>`."""

PROGRESS_KEYS = ("fps/env_frames", "fps/updates", "actor/return", "actor/version_lag", "train/image_nll",
                 "train/actor_loss")
"""Keys the progress line shows when present, in this order."""

SUCCESS_KEYS = ("actor/success", "eval/success")
"""What the progress line adds for Meta-World targets (success rates of training and evaluation episodes)."""

NAMESPACE = "vid2act"


def split_tags(key: str) -> tuple[str, dict[str, str]]:
    """`train/domain_weight/walker_walk` -> (`train/domain_weight`, {"source": "walker_walk"}); others unchanged."""
    for family, tag in TAGGED.items():
        if key.startswith(family) and len(key) > len(family):
            return family.rstrip("/"), {tag: key[len(family):]}
    return key, {}


def prometheus_name(key: str) -> str:
    """`train/domain_weight` -> `vid2act_train_domain_weight`: letters, digits and single underscores."""
    return re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9_]+", "_", f"{NAMESPACE}_{key}")).strip("_")


def _scalar(value: object) -> float | None:
    """A finite float, or None for values that are not a number (strings, arrays, NaN)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class RayGauges:
    """One lazily created Ray gauge per metric name; every value carries the sink's constant tags."""

    def __init__(self, tags: Mapping[str, str]):
        self.tags = dict(tags)
        self.gauges: dict[str, Gauge] = {}

    def set(self, key: str, value: float, tags: Mapping[str, str] | None = None) -> None:
        """Set the gauge of `key` with the sink's tags, the call's `tags` and the key family's tag."""
        base, extra = split_tags(key)
        name, tags = prometheus_name(base), {**self.tags, **(tags or {}), **extra}
        gauge = self.gauges.get(name)
        if gauge is None:
            description = base + "".join(f" per {tag}" for tag in extra)
            gauge = self.gauges[name] = Gauge(name, description, tag_keys=tuple(sorted(tags)))
        gauge.set(value, tags=tags)


class Progress:
    """The progress line: steps, rate, ETA and the headline metrics, at most once per `every` seconds."""

    def __init__(self, total_steps: int | None, every: float, keys: Sequence[str] = PROGRESS_KEYS,
                 deadline: float | None = None):
        self.total, self.every, self.keys, self.deadline = total_steps, every, tuple(keys), deadline
        self.first: tuple[int, float] | None = None  # (step, time) of the first update: the rate's origin
        self.shown = -math.inf

    def update(self, step: int, metrics: Mapping[str, float]) -> str | None:
        """The line to print for this call, or None when the last one was under `every` seconds ago."""
        now = time.monotonic()
        if self.first is None:
            self.first = (step, now)
        if now - self.shown < self.every:
            return None
        self.shown = now
        first_step, started = self.first
        rate = (step - first_step) / (now - started) if now > started else 0.0
        eta = max(self.total - step, 0) / rate if self.total and rate > 0 else None
        if self.deadline is not None:  # a wall-clock budget ends the run first when it is nearer
            eta = min(eta if eta is not None else math.inf, max(self.deadline - now, 0.0))
        return format_progress(step, self.total, rate, {k: metrics[k] for k in self.keys if k in metrics}, eta)


def format_duration(seconds: float) -> str:
    """`5432` -> `1h30m`, `75` -> `1m15s`."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def format_progress(step: int, total: int | None, steps_per_s: float, metrics: Mapping[str, float],
                    eta: float | None = None) -> str:
    """`step 12,000/100,000 (12%) | 850 steps/s | ETA 1m43s | fps/updates 4.2 | train/kl_loss 1.23`."""
    parts = [f"step {step:,}" + (f"/{total:,} ({100 * step / total:.0f}%)" if total else "")]
    parts.append(f"{steps_per_s:,.0f} steps/s")
    if eta is not None:
        parts.append(f"ETA {format_duration(eta)}")
    parts += [f"{key} {value:.4g}" for key, value in metrics.items()]
    return " | ".join(parts)


class MetricsSink:
    """Sends each `log(step, metrics)` to the Ray gauges, TensorBoard (`logdir`) and the progress line.

    logdir: TensorBoard event files go here; None = no TensorBoard.
    total_steps: the run's step budget, for the progress line's percentage and ETA.
    tags: constant Prometheus tags on every gauge (`{"actor": "env-actor-0"}`).
    progress_every: seconds between progress lines (logged at INFO, so job logs carry them); None = no line.
    deadline: `time.monotonic()` at which a wall-clock budget ends the run, for the ETA; None = no budget.
    progress_keys: the metrics the progress line shows when present (Meta-World runs add the success rates).
    """

    def __init__(self, logdir: str | Path | None = None, total_steps: int | None = None,
                 tags: Mapping[str, str] | None = None, progress_every: float | None = 10.0,
                 deadline: float | None = None, progress_keys: Sequence[str] = PROGRESS_KEYS):
        self.gauges = RayGauges(tags or {})
        self.writer = None
        if logdir is not None:  # local import: sinks without a logdir (env actors) skip TensorBoard's
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(logdir))
        self.pending: dict[str, tuple[int, list[float]]] = {}  # key -> (its latest step, the values there)
        self.progress = Progress(total_steps, progress_every, progress_keys, deadline) \
            if progress_every is not None else None

    def log(self, step: int, metrics: Mapping[str, object], tags: Mapping[str, str] | None = None) -> None:
        """Export every numeric value of `metrics` at `step`, the gauges tagged with `tags` too (e.g. the actor that
        reported them); non-numeric and non-finite values are skipped. TensorBoard gets one point per key and step:
        the mean of the values reported there, written once a later step is logged (or at `close`); each key keeps
        its own step, so a late evaluation reporting an older step splits no other key's point."""
        values = {key: number for key, value in metrics.items() if (number := _scalar(value)) is not None}
        unknown = [key for key in values if not key.startswith(PREFIXES)]
        if unknown:
            raise ValueError(f"metric keys {unknown} lack a prefix ({', '.join(PREFIXES)})")
        if ray.is_initialized():
            for key, value in values.items():
                self.gauges.set(key, value, tags)
        if self.writer is not None:
            for key in [k for k, (at, _) in self.pending.items() if at < step or (k in values and at != step)]:
                self._write(key)
            for key, value in values.items():
                self.pending.setdefault(key, (step, []))[1].append(value)
        if self.progress is not None and (line := self.progress.update(step, values)):
            log.info("%s", line)

    def _write(self, key: str) -> None:
        step, values = self.pending.pop(key)
        self.writer.add_scalar(key, sum(values) / len(values), step)

    def hparams(self, config: Mapping[str, object], metrics: Sequence[str] = ("eval/return",)) -> None:
        """The run's config in TensorBoard's HPARAMS tab (flat dotted keys; lists as text) beside `metrics`, in this
        run's own event file, and as a text summary."""
        if self.writer is None:
            return
        from torch.utils.tensorboard.summary import hparams

        flat = {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in config.items()}
        for summary in hparams(flat, {m: 0.0 for m in metrics}):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", "\n".join(f"    {k}: {v}" for k, v in flat.items()))

    def video(self, step: int, tag: str, frames: np.ndarray, fps: int = 10) -> None:
        """A (T, H, W, 3) uint8 clip as an animated GIF in TensorBoard's images tab (how Dreamer logs its videos)."""
        if self.writer is None:
            return
        import imageio.v3 as iio
        from tensorboard.compat.proto.summary_pb2 import Summary

        gif = iio.imwrite("<bytes>", frames, extension=".gif", duration=1000 / fps, loop=0)
        image = Summary.Image(height=frames.shape[1], width=frames.shape[2], colorspace=3, encoded_image_string=gif)
        self.writer.file_writer.add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self.writer is not None:
            for key in list(self.pending):
                self._write(key)
            self.writer.close()
            self.writer = None
