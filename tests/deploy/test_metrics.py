"""Metric dicts reach the node's Prometheus endpoint (the dashboard's metrics view), TensorBoard, progress lines."""
from __future__ import annotations

import logging
import socket
import time
import urllib.request

import pytest
import ray

from deploy.metrics import (
    MetricsSink,
    Progress,
    format_progress,
    prometheus_name,
    split_tags,
)
from deploy.ray_runtime import local_ray, remote


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def test_names_follow_prometheus_rules_and_fold_sources_into_a_tag():
    assert prometheus_name("train/image_nll") == "vid2act_train_image_nll"
    assert prometheus_name("fps/env frames-per.s") == "vid2act_fps_env_frames_per_s"
    assert split_tags("train/domain_weight/walker_walk") == ("train/domain_weight", {"source": "walker_walk"})
    assert split_tags("train/image_nll") == ("train/image_nll", {})


def test_progress_line_has_steps_rate_eta_and_headline_metrics():
    line = format_progress(12_000, 100_000, 880.0, {"train/image_nll": 1.23456}, eta=100.0)
    assert line == "step 12,000/100,000 (12%) | 880 steps/s | ETA 1m40s | train/image_nll 1.235"
    assert format_progress(5, None, 0.0, {}) == "step 5 | 0 steps/s"


def test_sink_without_ray_writes_tensorboard_and_progress(tmp_path, caplog):
    assert not ray.is_initialized()
    sink = MetricsSink(logdir=tmp_path, total_steps=100, progress_every=0.0)
    with caplog.at_level(logging.INFO, logger="deploy.metrics"):
        sink.log(10, {"train/image_nll": 0.5, "fps/env_frames": 100.0, "actor/note": "text",
                      "replay/size": float("nan")})
    sink.close()
    assert "step 10/100 (10%)" in caplog.text and "train/image_nll 0.5" in caplog.text
    assert list(tmp_path.glob("events.out.tfevents.*"))
    with pytest.raises(ValueError, match="lack a prefix"):
        MetricsSink(progress_every=None).log(0, {"loss": 1.0})


def test_metrics_logged_in_an_actor_reach_the_prometheus_endpoint(tmp_path):
    port = free_port()
    local_ray(num_cpus=1, _metrics_export_port=port)
    try:
        sink = remote(MetricsSink, name="metrics-sink", num_cpus=0).remote(
            logdir=str(tmp_path), total_steps=100, tags={"actor": "learner"})
        metrics = {"train/image_nll": 1.5, "fps/env_frames": 250.0,
                   "train/domain_weight/walker_walk": 0.7, "train/domain_weight/hopper_stand": 0.3}
        ray.get(sink.log.remote(10, metrics))
        for actor in ("env-actor-0", "env-actor-1"):  # two actors' values of one gauge: two series, not one
            ray.get(sink.log.remote(10, {"actor/return": 3.0 if actor.endswith("0") else 5.0}, {"actor": actor}))
        wanted = ["vid2act_train_image_nll", "vid2act_fps_env_frames", 'source="walker_walk"', 'source="hopper_stand"',
                  'actor="learner"', 'actor="env-actor-0"', 'actor="env-actor-1"']
        deadline, text = time.monotonic() + 60, ""  # workers export every ~10 s
        while time.monotonic() < deadline and not all(w in text for w in wanted):
            time.sleep(2)
            text = scrape(port)
        missing = [w for w in wanted if w not in text]
        assert not missing, f"not on the metrics endpoint after 60s: {missing}"
        returns = [line for line in text.splitlines() if line.startswith("ray_vid2act_actor_return{")]
        assert any('actor="env-actor-0"' in r and r.endswith(" 3.0") for r in returns), returns
        assert any('actor="env-actor-1"' in r and r.endswith(" 5.0") for r in returns), returns
        weight_lines = [line for line in text.splitlines() if line.startswith("ray_vid2act_train_domain_weight{")]
        assert any('source="walker_walk"' in line and line.endswith(" 0.7") for line in weight_lines), weight_lines
        ray.get(sink.close.remote())
        assert list(tmp_path.glob("events.out.tfevents.*"))
    finally:
        ray.shutdown()


def test_progress_rate_counts_from_the_first_update_and_lines_are_throttled(monkeypatch):
    clock = iter([100.0, 110.0, 111.0])
    monkeypatch.setattr("deploy.metrics.time.monotonic", lambda: next(clock))
    progress = Progress(total_steps=2_000, every=5.0)
    assert progress.update(0, {}) == "step 0/2,000 (0%) | 0 steps/s"
    assert progress.update(1_000, {"fps/env_frames": 100.0, "other/x": 1.0}) == (
        "step 1,000/2,000 (50%) | 100 steps/s | ETA 0m10s | fps/env_frames 100")
    assert progress.update(1_100, {}) is None  # 1 s after the last line


def test_progress_eta_is_the_nearer_of_steps_and_wall_clock_budget(monkeypatch):
    clock = iter([100.0, 110.0, 120.0])
    monkeypatch.setattr("deploy.metrics.time.monotonic", lambda: next(clock))
    progress = Progress(total_steps=1_000_000, every=0.0, deadline=150.0)
    progress.update(0, {})
    assert "ETA 0m40s" in progress.update(1_000, {})  # 99,900 s by steps, 40 s left of the budget
    assert progress.update(2_000, {}).endswith("steps/s | ETA 0m30s")


def test_tensorboard_gets_one_point_per_step_the_config_as_hparams_and_gif_videos(tmp_path):
    import imageio.v3 as iio
    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    sink = MetricsSink(logdir=tmp_path, progress_every=None)
    sink.hparams({"model.deter": 128, "train.method": "vid2act", "collect.tasks": ["a", "b"]})
    sink.log(10, {"train/loss": 1.0})
    sink.log(10, {"train/loss": 3.0, "actor/return": 7.0})  # the same env step from another reporter
    sink.log(20, {"train/loss": 5.0})
    sink.log(15, {"eval/return": 9.0})  # an evaluation finishing late reports the older step it evaluated
    sink.log(20, {"train/loss": 7.0})  # ... between two learner results at one step
    frames = np.random.default_rng(0).integers(0, 255, (6, 16, 48, 3), dtype=np.uint8)
    sink.video(20, "video/openloop/student", frames)
    sink.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(10, 2.0), (20, 6.0)]  # no zig-zag
    assert [(e.step, e.value) for e in events.Scalars("actor/return")] == [(10, 7.0)]
    assert [(e.step, e.value) for e in events.Scalars("eval/return")] == [(15, 9.0)]
    clip = events.Images("video/openloop/student")[0]
    assert clip.step == 20 and (clip.width, clip.height) == (48, 16)
    assert iio.imread(clip.encoded_image_string, index=None, extension=".gif").shape[0] == 6  # an animation
    assert "model.deter" in str(events.PluginTagToContent("hparams"))


def test_the_grafana_dashboard_goes_where_rays_grafana_provisions_dashboards(tmp_path):
    import json

    from deploy import grafana

    assert grafana.install(tmp_path) is None  # no Grafana folder in this session: nothing written
    folder = tmp_path / "metrics" / "grafana" / "dashboards"
    folder.mkdir(parents=True)
    board = json.loads(grafana.install(tmp_path).read_text())
    assert board["uid"] == "vid2act-runs" and len(board["panels"]) == len(grafana.PANELS)
    assert all('{run=~"$run"}' in t["expr"] and t["expr"].startswith("ray_vid2act_")
               for p in board["panels"] for t in p["targets"])
