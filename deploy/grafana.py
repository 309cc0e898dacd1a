"""The project's Grafana dashboard: panels of the run metrics Ray exports, per run and per actor.

    dashboard()                      # the dashboard as a dict (Grafana's JSON model)
    install(session_dir)             # into Ray's provisioned dashboards: <session>/metrics/grafana/dashboards/

Ray's documented way to add panels to its metrics view: Grafana, started with the config Ray writes
(`--config <session>/metrics/grafana/grafana.ini`), provisions every JSON dashboard in that folder; `vid2act train`
installs this one there when it starts on Ray. On a Grafana server of your own, import `vid2act_grafana_dashboard.json`
from that folder (or `python -m deploy.grafana > vid2act.json`). Gauges are named as `deploy/metrics.py` names them
(`ray_vid2act_<key>`) and carry `run` and `actor` labels; a dashboard variable picks the runs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from deploy.metrics import prometheus_name

FILE = "vid2act_grafana_dashboard.json"

PANELS: list[tuple[str, str, list[str], str]] = [
    # (title, unit, metric keys, legend): one time series per key and label set
    ("Env frames per second", "short", ["fps/env_frames"], "{{run}} {{actor}}"),
    ("Learner updates per second", "short", ["fps/updates"], "{{run}}"),
    ("Training-episode return", "short", ["actor/return"], "{{run}} {{actor}}"),
    ("Evaluation return (mode policy)", "short", ["eval/return"], "{{run}}"),
    ("Evaluation success rate (Meta-World)", "percentunit", ["eval/success"], "{{run}}"),
    ("World-model losses", "short", ["train/image_nll", "train/reward_nll", "train/kl_loss"], "{{run}} {{__name__}}"),
    ("Distillation loss (Eq. 4) and alpha", "short", ["train/distill_loss", "train/distill_alpha"],
     "{{run}} {{__name__}}"),
    ("Domain weight per source (Eq. 3)", "short", ["train/domain_weight"], "{{run}} {{source}}"),
    ("Actor-critic", "short", ["train/actor_loss", "train/critic_loss", "train/actor_entropy"],
     "{{run}} {{__name__}}"),
    ("Policy version lag of env actors (updates)", "short", ["actor/version_lag"], "{{run}} {{actor}}"),
    ("Replay: inserted and sampled agent steps", "short", ["replay/inserted_steps", "replay/sampled_steps"],
     "{{run}} {{__name__}}"),
    ("Restarts (env actors, learner)", "short", ["actor/restarts", "train/learner_restarts"],
     "{{run}} {{__name__}}"),
]


def metric(key: str) -> str:
    """The Prometheus name Ray exports for a metric key (`ray_` + `deploy.metrics.prometheus_name`)."""
    return f"ray_{prometheus_name(key)}"


def dashboard() -> dict:
    """Grafana's JSON model: a `run` variable (multi-select) and one time-series panel per entry of PANELS."""
    panels = []
    for i, (title, unit, keys, legend) in enumerate(PANELS):
        targets = [{"expr": f'{metric(key)}{{run=~"$run"}}', "legendFormat": legend, "refId": chr(65 + j),
                    "datasource": {"type": "prometheus", "uid": "${datasource}"}} for j, key in enumerate(keys)]
        panels.append({"id": i + 1, "type": "timeseries", "title": title, "targets": targets,
                       "datasource": {"type": "prometheus", "uid": "${datasource}"},
                       "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                       "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}})
    variables = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "hide": 0},
        {"name": "run", "type": "query", "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": f"label_values({metric('fps/env_frames')}, run)", "multi": True, "includeAll": True,
         "allValue": ".+", "refresh": 2},
    ]
    return {"title": "Vid2Act runs", "uid": "vid2act-runs", "tags": ["vid2act", "ray"], "schemaVersion": 39,
            "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "editable": True,
            "templating": {"list": variables}, "panels": panels}


def install(session_dir: str | Path) -> Path | None:
    """Write the dashboard into Ray's provisioned Grafana dashboards of `session_dir` (None when Ray wrote none)."""
    folder = Path(session_dir) / "metrics" / "grafana" / "dashboards"
    if not folder.is_dir():
        return None
    path = folder / FILE
    path.write_text(json.dumps(dashboard(), indent=1))
    return path


if __name__ == "__main__":
    json.dump(dashboard(), sys.stdout, indent=1)
