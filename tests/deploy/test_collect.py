"""Source-data collection with real Ray env actors: resumable after an interruption, deterministic, no duplicates."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from replay import DatasetReader

# Episodes of 1000 env steps (smoke's are 100), so the collection is still going when the Ctrl-C arrives.
ARGS = ["--preset", "smoke", "--tasks", "walker_walk,hopper_stand", "--episodes", "4", "--num-actors", "2",
        "--policy", "random", "collect.agents=/nonexistent", "env.time_limit=1000"]


def collect(out, extra=(), wait=True):
    cmd = [sys.executable, "-m", "deploy.cli", "collect", *ARGS, "--out", str(out), *extra]
    env = {**os.environ, "MUJOCO_GL": "egl"}
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    # A shell's background job (`.ci/run &`) starts with SIGINT ignored, and children inherit that: restore the
    # default so the collection gets its Ctrl-C as it would from a terminal.
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def episodes(root):
    out = {}
    for task in ("walker_walk", "hopper_stand"):
        reader = DatasetReader(root / task)
        indices = [e["index"] for e in reader.manifest["episodes"]]
        assert len(indices) == len(set(indices)), "duplicated episode"
        out.update({(task, meta["index"]): ep for ep, meta in reader.episodes()})
    return out


def test_interrupted_collection_resumes_without_duplicates_and_matches_a_clean_run(tmp_path):
    proc = collect(tmp_path / "resumed", wait=False)
    manifest = tmp_path / "resumed" / "walker_walk" / "manifest.json"
    deadline = time.time() + 200
    while time.time() < deadline and not (manifest.exists() and json.loads(manifest.read_text())["episodes"]):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C mid-collection
    proc.wait(timeout=120)
    partial = sum(len(json.loads((tmp_path / "resumed" / t / "manifest.json").read_text())["episodes"])
                  for t in ("walker_walk", "hopper_stand") if (tmp_path / "resumed" / t / "manifest.json").exists())
    assert 1 <= partial < 8, f"{partial} of 8 episodes were on disk at the interrupt; it should have been mid-way"
    again = collect(tmp_path / "resumed")
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{8 - partial} of 8 episodes to play" in again.stderr
    clean = collect(tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr[-2000:]
    resumed, fresh = episodes(tmp_path / "resumed"), episodes(tmp_path / "clean")
    assert sorted(resumed) == sorted(fresh) and len(fresh) == 8
    for key in fresh:  # the same seed gives the same data, whatever was interrupted
        for field in ("image", "action", "reward"):
            np.testing.assert_array_equal(resumed[key][field], fresh[key][field])
    assert (tmp_path / "clean" / "walker_walk" / "contact_sheet.png").stat().st_size > 0
    assert "return mean" in clean.stdout
    nothing = collect(tmp_path / "clean")  # a third run has nothing left to do
    assert "0 of 8 episodes to play" in nothing.stderr


def test_unknown_task_and_missing_agent_fail_clearly(tmp_path):
    bad = collect(tmp_path / "x", ["--tasks", "walker_wlak"])
    assert bad.returncode == 2 and "walker_walk" in bad.stderr and "Traceback" not in bad.stderr
    missing = collect(tmp_path / "y", ["--policy", "expert", "--episodes", "1", "--tasks", "walker_walk"])
    assert missing.returncode == 2 and "vid2act behaviour --task dmc/walker_walk" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_a_metaworld_collection_reports_its_success_rate(tmp_path):
    cmd = [sys.executable, "-m", "deploy.cli", "collect", "--preset", "smoke", "--suite", "metaworld", "--tasks",
           "reach", "--episodes", "2", "--num-actors", "1", "--policy", "expert", "env.time_limit=150",
           "--out", str(tmp_path / "mw")]
    done = subprocess.run(cmd, env={**os.environ, "MUJOCO_GL": "egl"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    header, row = done.stdout.splitlines()[:2]
    assert "success" in header and row.split()[0] == "reach"
    entries = DatasetReader(tmp_path / "mw" / "reach").manifest["episodes"]
    rate = 100 * np.mean([e["success"] for e in entries])
    assert f"{rate:.0f}%" in row
