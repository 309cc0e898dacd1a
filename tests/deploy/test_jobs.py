"""Jobs through the Ray CLI: a real `ray start --head` with the dashboard, a real `ray job submit` of the smoke run.

The head is started by this module with its own temp dir, ports and auth token (token auth, as on the cluster) and
`--block`, so ending that one process group stops exactly this head and nothing else on the machine. The venv's
bin directory is first on the head's PATH, as `ray_cluster.yaml` puts `~/vid2act/.venv/bin` on the nodes' PATH, so
the job's entrypoint finds `vid2act`.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin: ray, vid2act


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class Head:
    def __init__(self, root: Path, env: dict, gcs: int, dashboard: int, metrics: int, token: str,
                 process: subprocess.Popen):
        self.root, self.env, self.process, self.token = root, env, process, token
        self.gcs = f"127.0.0.1:{gcs}"
        self.address, self.metrics_port = f"http://127.0.0.1:{dashboard}", metrics

    def client(self):
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.address, headers={"Authorization": f"Bearer {self.token}"})

    def submit(self, *entrypoint: str) -> str:
        """`ray job submit --no-wait` of the repository with the cluster's runtime env; returns the job id."""
        out = subprocess.run(
            [str(BIN / "ray"), "job", "submit", "--address", self.address, "--working-dir", ".",
             "--runtime-env", "deploy/cluster/runtime_env.yaml", "--no-wait", "--", *entrypoint],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        words = [word.strip("'") for word in (out.stdout + out.stderr).split()]
        job_ids = [word for word in words if word.startswith("raysubmit_")]
        assert job_ids, out.stdout + out.stderr
        return job_ids[0]

    def wait(self, job_id: str, timeout: float = 300):
        from ray.job_submission import JobStatus

        client, deadline = self.client(), time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = client.get_job_status(job_id)
            if status.is_terminal():
                return status, client.get_job_logs(job_id)
            time.sleep(2)
        client.stop_job(job_id)
        pytest.fail(f"job {job_id} still {status} after {timeout:.0f}s; logs:\n{client.get_job_logs(job_id)[-4000:]}")
        return JobStatus.FAILED, ""

    def scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()


@pytest.fixture(scope="module")
def head():
    """One Ray head with the dashboard (2 CPUs, token auth) for the module; its process group ended after."""
    root = Path(tempfile.mkdtemp(prefix="v2a-job-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    token = secrets.token_hex(32)
    (root / "token").write_text(token)
    gcs, dashboard, metrics, client, node_manager, object_manager, agent_http, agent_grpc, runtime_env = free_ports(9)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(root / "token"),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MUJOCO_GL": "egl", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_JOB_STOP_WAIT_TIME_S": "60"}  # a stopped job's driver gets time to unwind before SIGKILL
    env.pop("RAY_ADDRESS", None)
    command = [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus=2", f"--port={gcs}",
               "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
               f"--metrics-export-port={metrics}", f"--ray-client-server-port={client}",
               f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
               f"--dashboard-agent-listen-port={agent_http}", f"--dashboard-agent-grpc-port={agent_grpc}",
               f"--runtime-env-agent-port={runtime_env}", f"--temp-dir={root / 'ray'}", "--disable-usage-stats"]
    log = open(root / "ray-start.log", "w")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    h = Head(root, env, gcs, dashboard, metrics, token, process)
    try:
        deadline, error = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            assert process.poll() is None, (root / "ray-start.log").read_text()
            try:
                h.client().list_jobs()
                break
            except Exception as e:  # the dashboard is still starting
                error = e
                time.sleep(2)
        else:
            pytest.fail(f"the dashboard at {h.address} did not answer in 120s: {error}")
        yield h
    finally:
        process.terminate()  # `ray start --block` stops the head's processes on SIGTERM
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of this head's group is left
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def test_smoke_job_succeeds_logs_progress_and_exports_our_metrics(head):
    from ray.job_submission import JobStatus

    logdir = head.root / "runs" / "smoke-job"
    started = time.monotonic()
    job = head.submit("vid2act", "train", "--preset", "smoke", "--method", "dreamerv2", "--logdir", str(logdir))
    status, logs = head.wait(job)
    assert status == JobStatus.SUCCEEDED, logs[-4000:]
    print(f"smoke job {job}: {status} in {time.monotonic() - started:.0f}s")
    assert "train: dreamerv2 on dmc/walker_run" in logs
    assert "steps/s" in logs and "train done:" in logs, logs[-4000:]  # progress lines and the summary
    assert (logdir / "checkpoint").is_dir() and (logdir / "metrics.jsonl").is_file()

    wanted = ["vid2act_train_image_nll", "vid2act_fps_env_frames", "vid2act_actor_version_lag",
              "vid2act_replay_", "vid2act_actor_restarts"]
    deadline, text = time.monotonic() + 60, ""  # metrics are exported every few seconds
    while time.monotonic() < deadline and not all(w in text for w in wanted):
        text = head.scrape()
        time.sleep(2)
    missing = [w for w in wanted if w not in text]
    assert not missing, f"not on the node's metrics endpoint: {missing}\n" + "\n".join(
        line for line in text.splitlines() if "vid2act" in line)


def test_a_job_with_a_bad_config_fails_with_the_reason_in_its_logs(head):
    from ray.job_submission import JobStatus

    job = head.submit("vid2act", "train", "--preset", "smoke", "--logdir", str(head.root / "runs" / "bad"),
                      "train.method=ppo")
    status, logs = head.wait(job, timeout=120)
    assert status == JobStatus.FAILED
    assert "unknown method 'ppo'; choose one of vid2act, dreamerv2" in logs, logs[-2000:]
    info = head.client().get_job_info(job)
    assert "exit code 2" in (info.message or ""), info.message


def test_vid2act_scale_reaches_a_submitted_job(head):
    """`vid2act scale`, run on the head (where `ray exec` runs it), changes a submitted job's env actors."""
    from ray.job_submission import JobStatus

    logdir = head.root / "runs" / "scaled-job"
    job = head.submit("vid2act", "train", "--preset", "smoke", "--method", "dreamerv2", "--logdir", str(logdir),
                      "train.steps=4000", "train.train_every=100")
    env = {**head.env, "RAY_ADDRESS": head.gcs}  # the head's GCS: what `ray.init(address="auto")` finds there
    deadline, out = time.monotonic() + 180, None
    while time.monotonic() < deadline:  # the job's control actor exists once its driver has started the actors
        out = subprocess.run([str(BIN / "vid2act"), "scale", "--actors", "2", "--logdir", str(logdir)], cwd=REPO,
                             env=env, capture_output=True, text=True, timeout=120)
        if out.returncode == 0 or "ray.json: not found" not in out.stderr:
            break
        time.sleep(3)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"run {logdir.name}: env actors -> 2" in out.stdout

    def scaled() -> bool:
        rows = [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]
        return any(r.get("actor/count") == 2 for r in rows)

    deadline = time.monotonic() + 180
    while not scaled() and time.monotonic() < deadline:
        time.sleep(2)
    assert scaled(), "no env-actor report with 2 actors"
    head.client().stop_job(job)  # `ray job stop`: SIGTERM to the driver, which unwinds and says so in one line
    status, logs = head.wait(job)
    assert status == JobStatus.STOPPED, logs[-4000:]
    assert "stopped by SIGTERM" in logs and "SIGTERM received" not in logs, logs[-4000:]  # no C++ stack dump
