from dataclasses import dataclass

import pytest

from daq.core.config_schema import ConfigError, build, describe, load, param, section
from emulator.config import EmulatorConfig


@dataclass(frozen=True)
class Inner:
    rate_hz: float = param(1.0, "a rate", unit="Hz", low=0.0, low_inclusive=False)
    mode: str = param("a", "a mode", choices=("a", "b"))


@dataclass(frozen=True)
class Outer:
    n: int = param(3, "a count", low=1, high=10)
    flag: bool = param(False, "a switch")
    inner: Inner = section(Inner, "inner section")


def test_defaults_and_nested_values():
    cfg = build(Outer, {"n": 5, "inner": {"rate_hz": 2}})
    assert (cfg.n, cfg.flag, cfg.inner.rate_hz, cfg.inner.mode) == (5, False, 2.0, "a")
    assert isinstance(cfg.inner.rate_hz, float)


@pytest.mark.parametrize("values, words", [
    ({"n": 0}, ["n = 0", ">= 1 and <= 10"]),
    ({"n": 2.5}, ["n = 2.5", "integer"]),
    ({"n": True}, ["n = True", "integer"]),
    ({"flag": 1}, ["flag", "true or false"]),
    ({"inner": {"rate_hz": 0}}, ["inner.rate_hz = 0.0 Hz", "> 0"]),
    ({"inner": {"rate_hz": float("nan")}}, ["inner.rate_hz", "finite"]),
    ({"inner": {"mode": "c"}}, ["inner.mode", "one of a, b"]),
    ({"inner": 3}, ["inner", "table"]),
    ({"bogus": 1}, ["bogus", "unknown key", "known keys"]),
    ({"inner": {"rate": 1}}, ["inner.rate", "unknown key in inner"]),
])
def test_bad_values_name_the_key_and_the_allowed_range(values, words):
    with pytest.raises(ConfigError) as err:
        build(Outer, values)
    for w in words:
        assert w in str(err.value)


def test_load_file_and_dotted_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("n = 4\n[inner]\nmode = 'b'\n")
    cfg = load(Outer, path, {"inner.rate_hz": 7.5})
    assert (cfg.n, cfg.inner.mode, cfg.inner.rate_hz) == (4, "b", 7.5)
    with pytest.raises(ConfigError, match="not found"):
        load(Outer, tmp_path / "missing.toml")
    path.write_text("n = = 4")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(Outer, path)


def test_every_emulator_key_is_documented():
    rows = describe(EmulatorConfig)
    assert len(rows) > 50
    for key, _default, _unit, _allowed, doc in rows:
        assert doc, f"{key} has no documentation"


@pytest.mark.parametrize("key, value, words", [
    ("beam.intensity_per_spill", -1.0, ["beam.intensity_per_spill", ">= 0"]),
    ("classes.dimuon_boost", -2.0, ["classes.dimuon_boost"]),
    ("trigger.physics_rate_hz", -5.0, ["trigger.physics_rate_hz"]),
    ("run.batch_events", 0, ["run.batch_events", ">= 1"]),
])
def test_emulator_refuses_out_of_range_values(key, value, words):
    with pytest.raises(ConfigError) as err:
        load(EmulatorConfig, None, {key: value})
    for w in words:
        assert w in str(err.value)


def test_emulator_cross_checks():
    with pytest.raises(ConfigError, match="pedestal_min_adc"):
        load(EmulatorConfig, None, {"digitizer.pedestal_min_adc": 300.0,
                                    "digitizer.pedestal_max_adc": 200.0})
    with pytest.raises(ConfigError, match="add up to"):
        load(EmulatorConfig, None, {"beam.hadron_fraction": 0.5,
                                    "beam.upstream_loss_fraction": 0.5})
    with pytest.raises(ConfigError, match="all trigger rates are 0"):
        load(EmulatorConfig, None, {"trigger.physics_rate_hz": 0.0,
                                    "trigger.calibration_rate_hz": 0.0,
                                    "trigger.random_rate_hz": 0.0,
                                    "trigger.led_rate_hz": 0.0})


def test_trigger_offset_must_fit_the_window(detector):
    cfg = load(EmulatorConfig, None, {"digitizer.trigger_offset_ns": 390.0})
    with pytest.raises(ConfigError, match="readout window"):
        cfg.check_detector(detector.window_ns)
