"""Settings: defaults, YAML, environment, overrides, profiles, and clear errors."""

import pytest

from slimline.config import PROFILES, ConfigError, load_settings
from slimline.tasks.train.config import TrainConfig


@pytest.fixture(autouse=True)
def _clean(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith("SLIMLINE_"):
            monkeypatch.delenv(key)


def test_defaults_live_under_home(tmp_path):
    s = load_settings(home=tmp_path / "h")
    assert s.raw_store_url == f"sqlite:///{tmp_path / 'h' / 'raw.db'}"
    assert s.work_store_url.endswith("/h/work.db")
    assert s.mlflow_tracking_uri.endswith("/h/mlflow.db")
    assert s.train.method == "lora"


def test_precedence_overrides_env_yaml_defaults(tmp_path, monkeypatch):
    cfg = tmp_path / "slimline.yaml"
    cfg.write_text("train:\n  rank: 4\n  alpha: 8\nscrub:\n  operator: placeholder\n")
    assert load_settings().train.rank == 4  # ./slimline.yaml is found
    monkeypatch.setenv("SLIMLINE_TRAIN__RANK", "12")
    s = load_settings(cfg)
    assert (s.train.rank, s.train.alpha, s.scrub.operator) == (12, 8, "placeholder")
    assert load_settings(cfg, home=tmp_path / "x").home == tmp_path / "x"


def test_profile_fills_what_is_unset(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("profile: demo\ntrain:\n  rank: 2\n")
    s = load_settings(cfg)
    assert s.train.rank == 2  # the file wins over the profile
    demo_steps = PROFILES["demo"]["train"]["max_steps"]
    assert demo_steps != TrainConfig().max_steps
    assert s.train.max_steps == demo_steps  # the profile wins over the default


def test_bad_values_name_the_field(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  method: qlora\n")
    with pytest.raises(ConfigError, match=r"train\.method"):
        load_settings(cfg)
    cfg.write_text("trian: {}\n")
    with pytest.raises(ConfigError, match="trian"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown profile"):
        load_settings(profile="huge")
