import pytest

from daq.core.config_schema import ConfigError, load
from daq.processes.daq_config import DaqConfig


@pytest.mark.parametrize("key, value, words", [
    ("endpoints.writer", "tcp:/localhost:5", ["endpoints.writer", "tcp://HOST:PORT"]),
    ("endpoints.tap", "udp://127.0.0.1:5000", ["endpoints.tap", "ipc://PATH"]),
    ("endpoints.control", "tcp://127.0.0.1:70000", ["endpoints.control", "1-65535"]),
    ("endpoints.tap", "tcp://127.0.0.1:5604", ["endpoints.tap", "used by endpoints.writer"]),
    ("workers.count", 0, ["workers.count = 0", ">= 1"]),
    ("run.sources", "telepathy", ["run.sources", "one of emulator, replay, external"]),
    ("run.dead_after_s", 0.5, ["run.dead_after_s", "longer than run.heartbeat_s"]),
    ("emulator.beam.intensity_per_spill", -1.0, ["emulator.beam.intensity_per_spill"]),
    ("endpoints.source_host", "no such host;rm -rf", ["endpoints.source_host", "RFC 1123"]),
    ("endpoints.source_host", "-crate", ["endpoints.source_host", "RFC 1123"]),
    ("endpoints.source_host", "crate_1", ["endpoints.source_host", "RFC 1123"]),
    ("endpoints.writer", "tcp://no such host;rm -rf:5604", ["endpoints.writer", "HOST a name"]),
    ("endpoints.writer", "tcp://bad;host:5604", ["endpoints.writer", "HOST a name"]),
    ("builder.spill_window", 0, ["builder.spill_window", ">= 1"]),
    ("emulator.publish.bind_host", "$(reboot)", ["emulator.publish.bind_host = '$(reboot)'",
                                                 "not an IP address"]),
    ("run.replay_trigger_bits", "0=physics,1=beam", ["run.replay_trigger_bits", "'beam'"]),
    ("run.replay_trigger_bits", "32=led", ["run.replay_trigger_bits", "'32=led'", "0-31"]),
    ("run.replay_trigger_bits", "0=led,0=random", ["run.replay_trigger_bits", "bit 0 given twice"]),
    ("run.replay_trigger_bits", " , ", ["run.replay_trigger_bits", "none given"]),
    ("run.replay_names", "ECALMAIN=ECAL1,HCAL", ["run.replay_names", "'HCAL' is not THEIRS=OURS"]),
])
def test_configuration_errors_name_the_key(key, value, words):
    with pytest.raises(ConfigError) as err:
        load(DaqConfig, None, {key: value})
    for w in words:
        assert w in str(err.value)


def test_replay_needs_a_file():
    with pytest.raises(ConfigError, match="run.replay_file"):
        load(DaqConfig, None, {"run.sources": "replay"})


def test_host_names_and_ipc_are_accepted():
    cfg = load(DaqConfig, None, {"endpoints.writer": "tcp://daq-writer.cern.ch:5604",
                                 "endpoints.tap": "ipc:///tmp/na64daq-tap",
                                 "endpoints.source_host": "crate-1"})
    assert cfg.source_endpoint(3) == "tcp://crate-1:5553"
    for host in ("127.0.0.7", "::1", "pcdmfs01.cern.ch."):
        assert load(DaqConfig, None, {"endpoints.source_host": host}).endpoints.source_host == host
    cfg = load(DaqConfig, None, {"endpoints.writer": "tcp://[::1]:5604",
                                 "endpoints.tap": "tcp://*:5605"})
    assert cfg.endpoints.tap == "tcp://*:5605"


def test_the_documented_timeouts_are_the_configuration_keys():
    """docs/run-control.md's table of timeouts is the one generated from the keys."""
    from pathlib import Path

    from daq.processes.daq_config import timeouts_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "run-control.md").read_text()
    shown = doc.split("<!-- timeouts table: begin -->\n")[1].split("\n<!-- timeouts table")[0]
    assert shown == timeouts_table()
    assert timeouts_table().count("| `run.") >= 12  # every wait is a key
