"""The config tree: presets, dotted overrides, validation messages, save/load round trip."""
import re

import pytest

from deploy.config import ConfigError, load_config, read_config, save_config


def test_presets_differ_in_the_documented_direction():
    smoke, cpu, paper = (load_config(p) for p in ("smoke", "cpu", "paper"))
    assert smoke.model.deter < cpu.model.deter < paper.model.deter
    assert (paper.model.depth, paper.model.stoch, paper.model.deter, paper.model.units) == (32, 50, 200, 400)
    assert (paper.replay.batch, paper.replay.seq_len) == (50, 50)
    assert smoke.preset == "smoke"


def test_dotted_overrides_are_typed():
    cfg = load_config("cpu", ["model.deter=256", "train.steps=1e5", "env.task=dmc/cheetah_run"])
    assert cfg.model.deter == 256 and cfg.train.steps == 100_000 and cfg.env.task == "dmc/cheetah_run"


@pytest.mark.parametrize("override, message", [
    ("model.detr=3", "Did you mean model.deter"),
    ("model.deter=3.5", "not a valid int"),
    ("model.deter", "key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("cpu", [override])


def test_unknown_preset():
    with pytest.raises(ConfigError, match="smoke, cpu, paper"):
        load_config("huge")


def test_validate_names_the_bad_value():
    with pytest.raises(ConfigError, match="train.method"):
        load_config("smoke", ["train.method=ppo"]).validate()
    with pytest.raises(ValueError, match="walker_walk"):
        load_config("smoke", ["env.task=dmc/walker_wlak"]).validate()


def test_save_and_read_round_trip(tmp_path):
    cfg = load_config("smoke", ["model.deter=24"])
    path = save_config(cfg, tmp_path)
    assert read_config(path) == cfg


def test_windows_longer_than_episodes_are_rejected_before_anything_starts():
    """A config that can never yield a batch (10-step episodes, 10-step windows of 6-frame episodes) fails up front."""
    with pytest.raises(ConfigError, match="replay.seq_len.*never fit in 6-frame episodes.*env.time_limit"):
        load_config("smoke", ["train.method=dreamerv2", "env.time_limit=10"]).validate()
    load_config("smoke", ["env.time_limit=18"]).validate()  # 9 agent steps + 1 = 10 frames: one window fits


@pytest.mark.parametrize("key", ["train.num_actors", "train.envs_per_actor", "train.sync_every", "train.env_chunk"])
@pytest.mark.parametrize("value", [0, -1])
def test_actor_counts_and_cadences_must_be_positive(key, value):
    with pytest.raises(ConfigError, match=f"{key}: {value} must be > 0"):
        load_config("smoke", [f"{key}={value}"]).validate()


def test_the_replay_must_hold_the_prefill():
    with pytest.raises(ConfigError, match="replay.capacity.*prefill"):
        load_config("smoke", ["replay.capacity=60"]).validate()


def test_every_part_hyperparameter_is_a_key_and_moved_keys_still_read(caplog):
    from dataclasses import fields

    from learner import ActionVAEConfig, ActorCriticConfig, DistillConfig, WorldModelConfig
    cfg = load_config("cpu", ["model.eps=1e-6", "model.clip=10", "vae.batch=64", "ac.horizon=7",
                              "train.model_lr=1e-5"])
    assert (cfg.model.eps, cfg.model.clip, cfg.vae.batch, cfg.ac.horizon) == (1e-6, 10.0, 64, 7)
    assert cfg.model.lr == 1e-5 and "train.model_lr is now model.lr" in caplog.text
    assert cfg.learner.model is cfg.model and cfg.learner.ac is cfg.ac  # composed, not copied
    for part, prefix in ((WorldModelConfig, "model"), (ActorCriticConfig, "ac"), (DistillConfig, "distill"),
                         (ActionVAEConfig, "vae")):
        for f in fields(part):
            load_config("cpu", [f"{prefix}.{f.name}={getattr(part(), f.name)}"])  # every field is settable


def test_config_keys_lists_every_key_with_its_doc_and_the_presets_values(capsys):
    from deploy.cli import main

    assert main(["config", "--keys", "--preset", "smoke"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "ac.horizon" in lines and lines["ac.horizon"].split()[2] == "5"  # smoke's value, not the default 15
    assert "Imagination horizon H." in lines["ac.horizon"] and "Adam epsilon" in lines["model.eps"]
    assert all(len(line.split(None, 3)) == 4 for line in lines.values()), "a key without its doc line"


@pytest.mark.parametrize("override, message", [
    ("train.steps=inf", "'inf' is not a valid int"), ("model.lr=nan", "'nan' is not a valid float"),
    ("ac.horizon=0", "ac.horizon: 0 must be > 0"), ("train.learner_threads=-1", "-1 must be >= 0"),
    ("model.deter=0", "model.deter: 0 must be > 0"), ("ac.discount=2", "0 < ac.discount <= 1"),
    ("model.lr=-1", "model.lr: -1.0 must be > 0"), ("train.eval_episodes=0", "0 must be > 0"),
])
def test_values_no_part_can_run_with_are_refused_up_front(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config("smoke", [override]).validate()


def test_pvdrs_token_grid_must_halve_down_from_the_frame_size():
    pvdr = ["train.method=pvdr", "env.task=metaworld/reach"]
    load_config("smoke", [*pvdr, "env.size=64", "pvdr.grid=16"]).validate()  # 64 / 16 = 4: two halvings
    with pytest.raises(ConfigError, match="pvdr.grid: 32 tokens per side do not tile 96x96 frames by halvings"):
        load_config("smoke", [*pvdr, "env.size=96", "pvdr.grid=32"]).validate()  # 96 / 32 = 3


def test_source_tasks_take_the_suite_task_scheme_too():
    cfg = load_config("cpu", ["collect.tasks=dmc/walker_walk,hopper_stand"]).validate()
    assert cfg.collect.task_list == ["walker_walk", "hopper_stand"]
    with pytest.raises(ConfigError, match="collect.tasks|metaworld"):
        load_config("cpu", ["collect.tasks=metaworld/door-lock"]).validate()


def test_tasks_lists_every_name_the_system_accepts_and_library_chatter_needs_verbose():
    import subprocess
    import sys
    from pathlib import Path

    vid2act = str(Path(sys.executable).parent / "vid2act")
    listed = subprocess.run([vid2act, "tasks", "--suite", "dmc"], capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0 and "dmc/walker_stand  action 6" in listed.stdout
    assert "absl" not in listed.stderr + listed.stdout  # dm_control's GL-backend INFO lines are hidden
    loud = subprocess.run([vid2act, "tasks", "--suite", "dmc", "--verbose"], capture_output=True, text=True,
                          timeout=120)
    assert "absl INFO" in loud.stderr
