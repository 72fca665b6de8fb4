"""Run control with CURVE keys and roles (``docs/security.md``): a real ``na64daq run``, asked
by ``na64daq ctl`` and by the protocol's client with an operator's, a viewer's and a stranger's
key."""

import json
import os
import subprocess
import sys

import pytest

from daq.core.config_schema import ConfigError, load
from daq.core.control_protocol import ask
from daq.core.link_security import Keyring, new_key
from daq.processes.daq_config import DaqConfig, client_key

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
    daq = subprocess.Popen([*CLI, "run", "--config", str(config)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env)
    cfg = load(DaqConfig, str(config))
    control = cfg.endpoints.control

    def as_(name, command, directory=keys, timeout_s=30.0):
        return ask(control, command, timeout_s, curve_keys=(Keyring.load(directory), name, "daq"))

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
        with pytest.raises(ConfigError, match="key 'op' one it knows"):
            as_("op", "status", stranger, timeout_s=3.0)
        with pytest.raises(ConfigError, match="name the key to act as"):
            client_key(cfg)
        out = subprocess.run([*CLI, "ctl", "status", "--config", str(config), "--key", "op"],
                             capture_output=True, text=True, timeout=120, env=env)
        status = json.loads(out.stdout)
        assert out.returncode == 0 and status["refused"]["commands"] == {
            "viewer:watcher start": 1}, status["refused"]
        (who, n), = status["refused"]["connections"].items()
        public = next(k for k, v in Keyring.load(stranger).public.items() if v == "op")
        assert who.startswith(public.decode() + "@") and n >= 1
        assert as_("op", "shutdown")["ok"]
        rest, _ = daq.communicate(timeout=60)
    finally:
        if daq.poll() is None:
            daq.kill()
            daq.communicate()
    assert daq.returncode == 0, rest
    log = "".join(lines) + rest
    assert "refused 'start' from viewer:watcher" in log
    assert f"refused a connection: key never issued ({public.decode()}@" in log


def test_a_loose_key_directory_stops_the_daq_before_it_listens(tmp_path, keyed):
    config, keys, _ = keyed
    os.chmod(keys, 0o755)
    out = subprocess.run([*CLI, "run", "--config", str(config)], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ, NA64DAQ_DB=str(tmp_path / "r.db")))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip().splitlines() == [
        f"na64daq: error: key directory {keys}: mode 0755, must be 0700 (chmod 700 {keys})"]
