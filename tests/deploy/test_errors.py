"""Every error a user can meet is one line naming what is wrong and what to do; a run directory is checked before
anything in it is written."""
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.cli import report_failure, unwrap
from deploy.config import ConfigError, load_config
from deploy.train import train
from learner import CheckpointError
from runtime import RunError

BIN = Path(sys.executable).parent


def vid2act(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vid2act"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def one_line(out: subprocess.CompletedProcess) -> str:
    lines = [line for line in out.stderr.splitlines() if line.startswith("vid2act ")]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A short dreamerv2 run, in-process (`--local`): a real run directory with a checkpoint."""
    cfg = load_config("smoke", ["train.method=dreamerv2", f"logdir={tmp_path_factory.mktemp('errors') / 'run'}",
                                "train.steps=300"]).validate()
    train(cfg, local=True)
    return cfg


@pytest.mark.parametrize("args, message", [
    (["train", "--actors", "0"], "config train.num_actors: 0 must be > 0"),
    (["train", "--actors", "-1"], "config train.num_actors: -1 must be > 0"),
    (["train", "model.detr=3"], "Did you mean model.deter"),
    (["train", "zzz.qqq=3"], "Run `vid2act config --keys` for the list"),
    (["scale", "--actors", "0"], "--actors 0: a run needs at least one env actor"),
    (["train", "--method", "vid2actt"], "unknown method 'vid2actt'; did you mean vid2act?"),
    (["train", "--target", "metaworld/walker_walk"], "did you mean dmc/walker_walk?"),
    (["train", "--preset", "tiny"], "argument --preset: invalid choice: 'tiny'"),
])
def test_bad_arguments_are_one_line(tmp_path, args, message):
    out = vid2act(*args, "--logdir", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode == 2 and message in one_line(out)
    assert not (tmp_path / "run").exists()  # nothing written for a run that cannot start


def test_a_sweep_checks_its_seeds_and_each_trial_plan_before_anything_starts(tmp_path):
    for args, message in ((["--seeds", "a,b", "--variant", "dreamerv2"], "--seeds 'a,b': give comma-separated"),
                          (["--variant", "vid2act", f"train.teachers={tmp_path / 'nope'}"],
                           "nope/checkpoint.json: missing")):
        out = vid2act("sweep", "--preset", "smoke", "--out", str(tmp_path / "sweep"), *args, cwd=tmp_path)
        assert out.returncode == 2 and message in one_line(out)
        assert not (tmp_path / "sweep").exists()


def test_a_report_of_a_history_without_metric_rows_is_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text('garbage\n{"env_steps": "x"}\n')
    out = vid2act("report", "--logdir", str(tmp_path / "run"), cwd=tmp_path)
    assert out.returncode == 2 and "metrics.jsonl holds no metric rows" in one_line(out)


def test_scale_names_the_file_that_would_reach_the_run(tmp_path):
    out = vid2act("scale", "--actors", "2", "--logdir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and f"{tmp_path / 'ray.json'}: not found: no training job is running" in one_line(out)


def test_a_run_directory_of_another_model_is_refused_before_anything_is_written(finished_run):
    saved = (Path(finished_run.logdir) / "config.yaml").read_text()
    other = load_config("smoke", ["train.method=dreamerv2", f"logdir={finished_run.logdir}", "model.deter=24"])
    with pytest.raises(RunError, match="holds a dreamerv2 run that differs from this dreamerv2 run in model"):
        train(other, local=True)
    assert (Path(finished_run.logdir) / "config.yaml").read_text() == saved


def test_resuming_with_changed_settings_says_so_or_refuses_when_strict(finished_run, caplog):
    changed = load_config("smoke", ["train.method=dreamerv2", f"logdir={finished_run.logdir}", "model.lr=1e-5",
                                    "train.steps=400", "strict_resume=true"])
    with pytest.raises(ConfigError, match=r"settings changed since the run was saved \(model.lr: 0.0003 -> 1e-05"):
        train(changed, local=True)
    changed.strict_resume = False
    train(changed, local=True)
    assert "resuming" in caplog.text and "model.lr: 0.0003 -> 1e-05" in caplog.text


@pytest.mark.parametrize("damage", ["garbage sidecar", "flipped tensor bytes"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file(finished_run, tmp_path, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run.logdir, run, ignore=shutil.ignore_patterns("redis"))
    if damage == "garbage sidecar":
        (run / "checkpoint" / "checkpoint.json").write_text("{not json")
        expected = f"{run / 'checkpoint' / 'checkpoint.json'}: unreadable sidecar"
    else:
        tensors = run / "checkpoint" / "checkpoint.safetensors"
        data = bytearray(tensors.read_bytes())
        data[-200:-100] = bytes(100)
        tensors.write_bytes(bytes(data))
        expected = f"{tensors}: content does not match the hash"
    out = vid2act("train", "--preset", "smoke", "--method", "dreamerv2", "--logdir", str(run), "--local",
                  cwd=tmp_path)
    assert out.returncode == 2 and expected in one_line(out)


def test_errors_raised_in_an_actor_reach_the_user_as_their_own_line(ray_local, capsys):
    @ray_local.remote
    def fail():
        raise CheckpointError("/x/checkpoint.json: missing; train the run first")

    with pytest.raises(Exception) as info:
        ray_local.get(fail.remote())
    assert isinstance(unwrap(info.value), CheckpointError)
    assert report_failure("eval", info.value) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vid2act eval: /x/checkpoint.json: missing; train the run first") and "\n" not in err


def test_a_run_directory_in_use_is_refused(finished_run):
    import fcntl

    with open(Path(finished_run.logdir) / ".lock", "a+") as held:  # as a running `vid2act train` holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunError, match="is in use by another `vid2act train`"):
            train(finished_run, local=True)


def test_a_stale_ray_json_is_named_not_waited_on(tmp_path):
    (tmp_path / "ray.json").write_text('{"address": "127.0.0.1:9", "namespace": "vid2act", "control": "c"}')
    out = vid2act("scale", "--actors", "2", "--logdir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and "ray.json is stale: nothing answers at 127.0.0.1:9" in one_line(out)
    (tmp_path / "ray.json").write_text("{}")
    out = vid2act("scale", "--actors", "2", "--logdir", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 2 and "ray.json: unreadable" in one_line(out)
