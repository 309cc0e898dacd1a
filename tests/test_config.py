"""The config tree: presets, dotted overrides, validation messages, save/load round trip."""
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
