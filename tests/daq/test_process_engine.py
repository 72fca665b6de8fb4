"""Each host's supervisord as the DAQ's process engine (``docs/deployment.md``), on this one
machine: ``na64daq deploy`` writes the hosts' configurations, real supervisord daemons start,
and the supervisor starts, watches and stops every process through them."""

import os
import signal
import stat
import subprocess
import sys
import xmlrpc.client

import pytest
from conftest import wait_until
from supervisor.xmlrpc import SupervisorTransport

from daq.core.config_schema import ConfigError, load
from daq.processes.daq_config import DaqConfig
from daq.processes.deployment import deploy
from daq.processes.process_engine import SupervisordEngine, rpc_secret


def start_supervisords(cfg, detector, directory):
    """``na64daq deploy``'s configurations, each host's supervisord started on it; the
    daemons (stopped by the caller)."""
    confs = deploy(cfg, detector.source_ids, directory)
    daemons = []
    for host, conf in confs.items():
        daemons.append(subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-n",
                                         "-c", str(conf)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT))
        sock = cfg.hosts.rpc.format(host=host).removeprefix("unix://")
        assert wait_until(lambda s=sock: os.path.exists(s), 30), host
    return confs, daemons


def stop(daemons):
    for d in daemons:
        d.terminate()
    for d in daemons:
        try:
            d.wait(30)
        except subprocess.TimeoutExpired:
            d.kill()


@pytest.fixture
def hosts(tmp_path):
    """Five 'hosts' of one machine, each with its supervisord's socket."""
    return {"hosts.engine": "supervisord", "hosts.rpc": f"unix://{tmp_path}/rpc-{{host}}.sock",
            "hosts.builder": "hub", "hosts.tap": "hub", "hosts.writer": "storage",
            "hosts.workers": "reco", "hosts.sources": "crates-a,crates-b"}


def test_deploy_writes_closed_programs_and_a_private_rpc_socket(daq, hosts, tmp_path, detector):
    sup = daq(**hosts)
    confs = deploy(sup.cfg, detector.source_ids, tmp_path / "deploy")
    assert sorted(confs) == ["crates-a", "crates-b", "hub", "reco", "storage"]
    text = {h: c.read_text() for h, c in confs.items()}
    assert "[program:builder]" in text["hub"] and "[program:tap]" in text["hub"]
    assert text["reco"].count("[program:worker-") == sup.cfg.workers.count
    ids = sorted(detector.source_ids)
    assert f"[program:source-{ids[0]}]" in text["crates-a"]  # dealt in turn
    assert f"[program:source-{ids[1]}]" in text["crates-b"]
    for t in text.values():
        assert "chmod = 0700" in t and "inet_http_server" not in t
        assert t.count("autostart = false") == t.count("[program:")
        assert t.count("autorestart = false") == t.count("[program:")
    for c in confs.values():
        assert stat.S_IMODE(c.parent.stat().st_mode) == 0o700
    inet = dict(hosts, **{"hosts.rpc": "http://{host}:9001"})  # never open: a password
    with pytest.raises(ConfigError, match="hosts.rpc_secrets: an inet rpc needs"):
        load(DaqConfig, None, inet)
    cfg = load(DaqConfig, None, dict(inet, **{"hosts.rpc_secrets": str(tmp_path / "inet")}))
    for host, conf in deploy(cfg, detector.source_ids, tmp_path / "inet").items():
        secret = conf.parent / "rpc.secret"
        user, password = secret.read_text().split()
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(password) >= 32
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        assert f"port = {host}:9001\nusername = {user}\npassword = {password}\n" in \
            conf.read_text()
        assert rpc_secret(conf.parent) == (user, password)  # what the supervisor logs in with
    hub = SupervisordEngine(cfg, detector.source_ids).hosts["hub"]
    hub._proxy()  # read at the first call
    assert hub.transport.password == rpc_secret(tmp_path / "inet" / "hub")[1]
    os.chmod(tmp_path / "inet" / "hub" / "rpc.secret", 0o644)
    with pytest.raises(ConfigError, match=r"rpc.secret: mode 0644, must be 0600"):
        SupervisordEngine(cfg, detector.source_ids).hosts["hub"]._proxy()


def test_a_run_through_each_hosts_supervisord_loses_nothing(daq, hosts, tmp_path, detector):
    from conftest import run_to_end

    sup = daq(**hosts)
    confs, daemons = start_supervisords(sup.cfg, detector, tmp_path / "deploy")
    try:
        ledger = run_to_end(sup)
        assert sup.outcome == "stopped" and ledger["balanced"], (sup.error, ledger)
        assert ledger["written_complete"] == ledger["triggered"] > 0
        for p in sup.procs.all():  # started by a supervisord, not by the supervisor
            ppid = int(open(f"/proc/{p.popen.pid}/stat").read().rsplit(")", 1)[1].split()[1])
            assert ppid in {d.pid for d in daemons}, p.name
        sup.shutdown()
        for host in confs:
            rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport(
                None, None, sup.cfg.hosts.rpc.format(host=host)))
            states = {i["name"]: i["statename"] for i in rpc.supervisor.getAllProcessInfo()}
            assert set(states.values()) <= {"STOPPED", "EXITED"}, (host, states)
    finally:
        sup.close()
        stop(daemons)


def test_an_inet_supervisord_runs_the_daq_with_its_password_and_refuses_another(
        daq, tmp_path, detector):
    """One host, ``localhost``, whose supervisord listens on tcp loopback behind the user and
    password ``deploy`` wrote; the supervisor logs in with them. A wrong password is refused
    (401), and a host that does not answer is said in one line."""
    import socket

    from conftest import run_to_end

    from daq.processes.process_engine import Host, HostUnreachable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sup = daq(**{"hosts.engine": "supervisord", "hosts.rpc": f"http://{{host}}:{port}",
                 "hosts.rpc_secrets": str(tmp_path / "deploy")})
    conf = deploy(sup.cfg, detector.source_ids, tmp_path / "deploy")["localhost"]
    daemon = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-n", "-c",
                               str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        url = f"http://localhost:{port}"
        assert wait_until(lambda: _answers(Host("localhost", url, conf.parent)), 30)
        ledger = run_to_end(sup)
        assert sup.outcome == "stopped" and ledger["balanced"], (sup.error, ledger)
        assert ledger["written_complete"] == ledger["triggered"] > 0
        wrong = tmp_path / "wrong"
        wrong.mkdir(mode=0o700)
        (wrong / "rpc.secret").touch(mode=0o600)
        (wrong / "rpc.secret").write_text("na64daq not-the-password\n")
        with pytest.raises(HostUnreachable, match="refuses the user and password of "):
            Host("localhost", url, wrong).call("getState")
        os.kill(daemon.pid, signal.SIGSTOP)  # a host that hangs: given up after the timeout
        try:
            with pytest.raises(HostUnreachable, match="timed out"):
                Host("localhost", url, conf.parent).call("getState")
        finally:
            os.kill(daemon.pid, signal.SIGCONT)
    finally:
        sup.close()
        daemon.terminate()
        daemon.wait(30)
    gone = Host("localhost", url, conf.parent)
    with pytest.raises(HostUnreachable, match=r"host localhost: supervisord at .* does not "
                                              "answer"):
        gone.call("getState")


def _answers(host) -> bool:
    from daq.processes.process_engine import HostUnreachable

    try:
        return bool(host.call("getState"))
    except HostUnreachable:
        host._down = None  # starting: ask again at once
        return False
