"""Run control with CURVE keys and roles (``docs/security.md``): a real ``na64daq run``, asked
by ``na64daq ctl`` and by the protocol's client with an operator's, a viewer's and a stranger's
key."""

import json
import os
import subprocess
import sys

import pytest
from conftest import wait_until

from calib.conditions import ConditionsWriter
from daq.core.config_schema import ConfigError, load
from daq.core.control_protocol import ask
from daq.core.detector import Detector
from daq.core.link_security import Keyring, new_key
from daq.core.run_database import RunDatabase
from daq.processes.daq_config import DaqConfig, client_key
from monitor.feeds import LiveFeed

CLI = [sys.executable, "-m", "daq.app.cli"]


@pytest.fixture
def keyed(tmp_path, daq_toml):
    """The test's DAQ configuration with run control on CURVE, its keys, and a stranger's key
    directory: a key never issued, by someone who knows the DAQ's public key."""
    keys, stranger = tmp_path / "keys", tmp_path / "stranger"
    for name, role in (("daq", "daq"), ("op", "operator"), ("watcher", "viewer")):
        new_key(keys, name, role)
    new_key(stranger, "op", "operator")
    (stranger / "daq.key").write_bytes((keys / "daq.key").read_bytes())
    with open(stranger / "roles.toml", "a") as fh:
        fh.write('daq = "daq"\n')
    text = daq_toml.read_text()
    daq_toml.write_text(text + f"[security]\ncurve = 'on'\nkeys_directory = '{keys}'\n")
    return daq_toml, keys, stranger


def test_each_role_does_only_its_part_and_strangers_are_refused(tmp_path, keyed):
    config, keys, stranger = keyed
    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))
    db = RunDatabase(tmp_path / "runs.db")  # an HV limit the experts set
    ConditionsWriter(db, Detector.load()).write("hv_max_v", {"ECAL1:0:0": 1500.0}, 0)
    db.close()
    daq = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env)
    cfg = load(DaqConfig, str(config))
    control = cfg.endpoints.control

    def as_(name, command, directory=keys, timeout_s=30.0, **fields):
        return ask(control, command, timeout_s, curve_keys=(Keyring.load(directory), name, "daq"),
                   **fields)

    try:
        lines = []
        while not any("configured" in x for x in lines):  # the DAQ is up
            line = daq.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        assert any("CURVE, 3 keys" in x for x in lines), lines
        watched = as_("watcher", "status")
        assert watched["ok"] and watched["state"] == "configured"
        refused = as_("watcher", "start")  # a viewer may only watch
        assert not refused["ok"] and refused["state"] == "configured"
        assert refused["error"] == "'start' needs the operator role (this key: viewer:watcher)"
        passed = as_("op", "stop")  # the operator passes the role check; the state refuses
        assert "not allowed in state 'configured'" in passed["error"]
        hv = {"hv": {"ECAL1:2:2": 1234.5}, "author": "expert", "reason": "gain match"}
        assert as_("watcher", "hv", **hv)["error"] == (
            "'hv' needs the operator role (this key: viewer:watcher)")
        for values, why in (({"ECAL1:2:2": 1234.5, "ECAL1:0:0": 1600.0},  # its own limit
                              "ECAL1:0:0: HV 1600 V is outside its limits 0-1500 V"),
                             ({"ECAL1:2:2": 2500.0}, "hv_v ECAL1:2:2 = 2500: outside (0, 2000]")):
            too_high = as_("op", "hv", **dict(hv, hv=values))  # whatever the role
            assert not too_high["ok"] and too_high["error"] == f"hv refused: {why}"
        written = as_("op", "hv", **hv, first_run=7)
        assert written["ok"], written
        db = RunDatabase(tmp_path / "runs.db")  # written once, with its entry
        rows = db.db.execute(
            "SELECT v.id, v.first_run, v.author, c.channel, c.value FROM condition_versions v "
            "JOIN condition_values c ON c.version = v.id WHERE v.kind = 'hv_v'").fetchall()
        entry = db.db.execute("SELECT author, text FROM logbook WHERE version = ?",
                              (written["hv_version"],)).fetchall()
        db.close()
        assert rows == [(written["hv_version"], 7, "expert", "ECAL1:2:2", 1234.5)]
        assert entry == [("expert", "HV set through run control: gain match")]
        # the monitor feed: a viewer's key watches; a stranger's is refused at the handshake
        viewer = LiveFeed(cfg.endpoints.tap_publish,
                          curve_keys=(Keyring.load(keys), "watcher", "daq")).start()
        outsider = LiveFeed(cfg.endpoints.tap_publish,
                            curve_keys=(Keyring.load(stranger), "op", "daq")).start()
        try:
            assert wait_until(lambda: viewer.latest is not None, 60), viewer.last_error
            public = next(k for k, v in Keyring.load(stranger).public.items() if v == "op")
            assert wait_until(lambda: any(  # refused by the tap, counted in the status
                who.startswith(public.decode() + " from ")
                for who in as_("op", "status")["refused"]["connections"]), 60)
            assert outsider.received == 0
        finally:
            viewer.stop()
            outsider.stop()
        with pytest.raises(ConfigError, match="key 'op' one it knows"):
            as_("op", "status", stranger, timeout_s=3.0)
        with pytest.raises(ConfigError, match="name the key to act as"):
            client_key(cfg)
        out = subprocess.run([*CLI, "ctl", "status", "--config", str(config), "--key", "op"],
                             capture_output=True, text=True, timeout=120, env=env)
        status = json.loads(out.stdout)
        assert out.returncode == 0, out.stderr
        assert status["refused"]["commands"] == {"viewer:watcher start": 1,
                                                 "viewer:watcher hv": 1}, status["refused"]
        refused_keys = {who.split(" from ")[0] for who in status["refused"]["connections"]}
        assert refused_keys == {public.decode()}, status["refused"]
        assert as_("op", "shutdown")["ok"]
        rest, _ = daq.communicate(timeout=60)
    finally:
        if daq.poll() is None:
            daq.kill()
            daq.communicate()
    assert daq.returncode == 0, rest
    log = "".join(lines) + rest
    assert "refused 'start' from viewer:watcher" in log
    assert f"refused a connection: key never issued ({public.decode()} from " in log


def test_a_loose_key_directory_stops_the_daq_before_it_listens(tmp_path, keyed):
    config, keys, _ = keyed
    os.chmod(keys, 0o755)
    out = subprocess.run([*CLI, "run", "--config", str(config)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, NA64DAQ_DB=str(tmp_path / "r.db")))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        f"na64daq: error: key directory {keys}: mode 0755, must be 0700 (chmod 700 {keys})"]
