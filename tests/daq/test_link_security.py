"""Keys, roles and the ZAP handler (``docs/security.md``), on real CURVE sockets on loopback."""

import dataclasses
import json
import os
import stat

import pytest
import zmq
from conftest import wait_until

from daq.core.config_schema import ConfigError, load
from daq.core.link_security import (
    Keyring,
    LinkGuard,
    allowed,
    connect_curve,
    exposed,
    is_loopback,
    new_key,
    role_of,
)
from daq.processes.daq_config import DaqConfig


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    for name, role in (("daq", "daq"), ("op", "operator"), ("watcher", "viewer")):
        new_key(d, name, role)
    return d


def test_new_keys_are_private_and_a_loose_directory_is_refused(keys, tmp_path):
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "op.key_secret").stat().st_mode) == 0o600
    ring = Keyring.load(keys)
    assert ring.roles == {"daq": "daq", "op": "operator", "watcher": "viewer"}
    with pytest.raises(ConfigError, match="exists already"):
        new_key(keys, "op", "viewer")
    with pytest.raises(ConfigError, match="key name"):
        new_key(keys, "../op", "viewer")
    with pytest.raises(ConfigError, match="role 'boss'"):
        new_key(keys, "x", "boss")
    os.chmod(keys, 0o750)
    with pytest.raises(ConfigError, match=r"mode 0750, must be 0700"):
        Keyring.load(keys)
    os.chmod(keys, 0o700)
    (keys / "roles.toml").write_text('op = "root"\n')
    with pytest.raises(ConfigError, match="roles.toml: op = 'root'"):
        Keyring.load(keys)


def _server(ctx, ring, endpoint):
    guard = LinkGuard(ctx, ring, "daq", log=lambda m: None)
    rep = ctx.socket(zmq.REP)
    guard.bind(rep, endpoint, "control")
    return guard, rep


def _client(ctx, ring, endpoint, name):
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    if name is not None:
        connect_curve(req, ring, name)
    req.connect(endpoint)
    req.send(b"{}")
    return req


def test_each_key_comes_with_its_role_and_a_key_never_issued_is_refused(keys, tmp_path):
    ring = Keyring.load(keys)
    stranger = tmp_path / "stranger"  # a key pair made elsewhere, never entered here, by
    new_key(stranger, "op", "operator")  # someone who knows the server's public key
    (stranger / "daq.key").write_bytes((keys / "daq.key").read_bytes())
    with open(stranger / "roles.toml", "a") as fh:
        fh.write('daq = "daq"\n')
    ctx = zmq.Context()
    endpoint = f"ipc://{tmp_path}/control"
    guard, rep = _server(ctx, ring, endpoint)
    try:
        roles = {}
        for name in ("op", "watcher"):
            req = _client(ctx, ring, endpoint, name)
            assert rep.poll(10_000), name
            frame = rep.recv(copy=False)
            roles[name] = role_of(frame)
            rep.send(b"ok")
            assert req.poll(10_000) and req.recv() == b"ok"
        assert roles == {"op": ("operator", "op"), "watcher": ("viewer", "watcher")}
        bad = _client(ctx, Keyring.load(stranger), endpoint, "op")
        plain = _client(ctx, ring, endpoint, None)  # no CURVE at all
        waited = 0
        while not guard.refused and waited < 100:  # the refusal is the event waited for
            rep.poll(100)
            waited += 1
        assert not rep.poll(500), "a request came through"
        assert not bad.poll(0) and not plain.poll(0)
        (who, times), = guard.refused.items()
        public = next(k for k, n in Keyring.load(stranger).public.items() if n == "op")
        assert who.startswith(public.decode() + " from ") and times >= 1
    finally:
        guard.close()
        ctx.destroy(linger=0)


def test_a_viewer_may_only_watch():
    assert allowed("viewer", "status")
    for command in ("start", "stop", "configure", "shutdown", "logbook", "alarm", "hv"):
        assert not allowed("viewer", command) and allowed("operator", command)


def test_every_endpoint_of_the_default_configuration_is_on_loopback():
    cfg = load(DaqConfig, None)
    names = [f.name for f in dataclasses.fields(cfg.endpoints)]
    assert len(names) >= 8 and exposed(cfg.endpoints) == [], json.dumps(
        dataclasses.asdict(cfg.endpoints))
    assert is_loopback(f"tcp://{cfg.emulator.publish.bind_host}:1")  # the crates' publishers
    assert not is_loopback("tcp://*:5600") and not is_loopback("tcp://daq-host:5600")
    assert is_loopback("tcp://[::1]:5600") and is_loopback("tcp://127.0.0.2:5600")


def test_any_endpoint_beyond_loopback_puts_every_link_on_curve_and_off_is_refused():
    for key in ("endpoints.heartbeat", "endpoints.tap_publish", "endpoints.writer"):
        cfg = load(DaqConfig, None, {key: "tcp://*:5699"})  # auto: on when exposed
        assert cfg.curve and cfg.data_curve and cfg.curve_keys == (
            "~/.config/na64daq/keys", "daq")
    with pytest.raises(ConfigError, match="security.curve cannot be off"):
        load(DaqConfig, None, {"endpoints.control": "tcp://*:5600", "security.curve": "off"})
    plain = load(DaqConfig, None)
    assert not plain.curve and plain.curve_keys is None and not plain.data_curve
    assert not load(DaqConfig, None, {"endpoints.writer": "tcp://*:5699",
                                      "security.curve_data": "off"}).data_curve


def test_the_daq_links_admit_only_the_daq_key_and_every_server_is_self_tested(keys, tmp_path):
    """Heartbeats, commands and data links (ZAP domain ``daq``) take only the DAQ's key; an
    operator's or a viewer's key is refused there, as a stranger's is. The monitor feed
    (``feed``) takes every issued key. Binding runs the self-test (a key never issued must be
    refused) on each kind of server socket."""
    ctx = zmq.Context()
    logged = []
    guard = LinkGuard(ctx, Keyring.load(keys), "daq", log=logged.append)
    try:
        pull, pub = ctx.socket(zmq.PULL), ctx.socket(zmq.PUB)
        guard.bind(pull, f"ipc://{tmp_path}/heartbeat")  # self-tested, with a PUSH
        guard.bind(pub, f"ipc://{tmp_path}/feed", "feed")  # and with a SUB
        pushes = {}
        for name in ("daq", "op", "watcher"):
            pushes[name] = ctx.socket(zmq.PUSH)
            pushes[name].setsockopt(zmq.LINGER, 0)
            connect_curve(pushes[name], guard.keyring, name)
            pushes[name].connect(f"ipc://{tmp_path}/heartbeat")
        pushes["daq"].send(b"beat")
        assert pull.poll(10_000) and pull.recv() == b"beat"
        assert wait_until(lambda: len(guard.refused) == 2, 10), guard.refused
        assert {who.split(" from ")[0] for who in guard.refused} == {"operator:op",
                                                                      "viewer:watcher"}
        assert any("not a role of the daq links (viewer:watcher from " in m for m in logged)
        sub = ctx.socket(zmq.SUB)  # a viewer watches the feed
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        connect_curve(sub, guard.keyring, "watcher")
        sub.connect(f"ipc://{tmp_path}/feed")
        assert wait_until(lambda: pub.send(b"snapshot") or sub.poll(50), 10)
        assert sub.recv() == b"snapshot" and len(guard.refused) == 2
    finally:
        guard.close()
        ctx.destroy(linger=0)
