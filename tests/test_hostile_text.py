"""Text from outside, generated rather than hand-picked: logbooks, configuration files,
detector maps, value tables, run-control messages and monitor snapshots, as random text and
as valid examples edited at random. Each is accepted or refused with its own error type and a
message of one line; nothing else (another exception is a check that is missing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: what edits put in: the characters formats are made of, and some that break them
PIECES = st.lists(st.sampled_from(
    list("0123456789.,;:=-+eE[]{}\"'#\\/ \t\n\r") + ["\x00", "\x0b", "\u2028", "é", "nan",
                                                     "inf", "1e999", "-1", "true", "ECAL0"]),
    max_size=8).map("".join)
SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def edited(valid: str) -> st.SearchStrategy[str]:
    """``valid`` with one to four random edits: a span replaced by a few pieces."""
    edit = st.tuples(st.integers(0, len(valid)), st.integers(0, 30), PIECES)

    def apply(edits):
        text = valid
        for at, length, piece in edits:
            at = min(at, len(text))
            text = text[:at] + piece + text[at + length:]
        return text

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def hostile(valid: str) -> st.SearchStrategy[str]:
    return st.one_of(st.text(max_size=300), edited(valid))


def _one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "\r" not in text, repr(text)


def _refused_or_accepted(call, errors):
    try:
        return call()
    except errors as exc:
        _one_line(exc)
        return None


LOGBOOK = (Path(__file__).parent / "calib" / "data" / "hcal-hv-logbook-2017.txt").read_text()


@SETTINGS
@given(text=hostile(LOGBOOK[:1500]))
def test_logbooks(text, detector):
    from calib.logbook import LogbookFormatError, parse_logbook

    _refused_or_accepted(lambda: parse_logbook(text, detector), LogbookFormatError)


CONFIG = """[emulator.run]
spills = 2
seed = 7

[emulator.spill]
duration_s = 0.5
time_compressed = true

[endpoints]
writer = "ipc:///tmp/w"

[workers]
count = 2
"""


@SETTINGS
@given(text=hostile(CONFIG))
def test_configuration_files(text, tmp_path):
    from daq.core.config_schema import ConfigError, load
    from daq.processes.daq_config import DaqConfig

    path = tmp_path / "daq.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _refused_or_accepted(lambda: load(DaqConfig, path), ConfigError)


@SETTINGS
@given(data=st.data())
def test_detector_maps(data):
    from daq.core.detector import Detector, DetectorMapError

    valid = (Path(__import__("daq.core.detector").core.detector.__file__).parent /
             "detector.toml").read_text()
    at = data.draw(st.integers(0, max(0, len(valid) - 1500)))
    text = valid[:at] + data.draw(edited(valid[at:at + 1500])) + valid[at + 1500:]
    _refused_or_accepted(lambda: Detector.from_text(text, "map"), DetectorMapError)


@SETTINGS
@given(text=hostile('ECAL0 = 1210.5\n"ECAL1" = 1190\nHCAL0 = 1500.0\n'))
def test_value_tables(text, tmp_path, detector):
    from daq.core.channel_table import ValueTableError, read_value_table

    path = tmp_path / "values.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    values = _refused_or_accepted(lambda: read_value_table(path, detector), ValueTableError)
    if values is not None:
        assert values and all(np.isfinite(v) for v in values.values())


@SETTINGS
@given(text=hostile(json.dumps({"command": "alarm", "action": "shelve", "name": "dead channel",
                                "author": "shift", "minutes": 30, "reason": "known"})))
def test_run_control_messages(text, tmp_path, detector):
    from daq.conditions import Conditions, ConditionsError
    from daq.core.control_protocol import RunControlError, parse_command
    from daq.core.run_database import RunDatabase
    from monitor.alarm_handler import AlarmCommandError, check_command

    raw = text.encode("utf-8", "surrogatepass")
    command = _refused_or_accepted(lambda: parse_command([raw]), RunControlError)
    if command == "alarm":
        _refused_or_accepted(lambda: check_command(json.loads(raw)), AlarmCommandError)
    elif command == "logbook":
        msg = json.loads(raw)
        db = RunDatabase(tmp_path / "runs.db")
        _refused_or_accepted(lambda: Conditions(db, detector).add_note(
            msg.get("text"), msg.get("kind"), msg.get("author"), msg.get("run")),
            ConditionsError)


def _snapshot_parts():
    from monitor.snapshot import PROTOCOL, encode

    return encode({"protocol": PROTOCOL, "seq": 3, "run": 1},
                  [("channel_hits", "run", np.arange(6, dtype=np.float64)),
                   ("energy_plane", "spill", np.zeros((2, 3), np.float64))])


@SETTINGS
@given(data=st.data())
def test_monitor_snapshots(data):
    from monitor.snapshot import SnapshotError, decode

    parts = [bytes(p) for p in _snapshot_parts()]
    k = data.draw(st.integers(0, len(parts) - 1))
    part = parts[k].decode("latin-1")
    parts[k] = data.draw(hostile(part)).encode("latin-1", "replace")
    if data.draw(st.booleans()):
        parts = parts[: data.draw(st.integers(0, len(parts)))]
    _refused_or_accepted(lambda: decode(parts), SnapshotError)


def test_the_unedited_examples_are_valid(tmp_path, detector):
    """The strategies start from valid inputs: their edits, not their base, are refused."""
    from calib.logbook import parse_logbook
    from daq.core.config_schema import load
    from daq.processes.daq_config import DaqConfig
    from monitor.snapshot import decode

    assert parse_logbook(LOGBOOK[:1500], detector)
    (tmp_path / "daq.toml").write_text(CONFIG)
    assert load(DaqConfig, tmp_path / "daq.toml").workers.count == 2
    assert decode(_snapshot_parts()).seq == 3


pytestmark = pytest.mark.timeout(300)
