"""The DAQ over separate hosts (``docs/deployment.md``, ``docs/security.md``): network
namespaces the test creates, joined by veth links to a bridge, sharing nothing but that network
(and this machine's files: the run database, the key directory, supervisord's unix sockets).
The crates, the builder, two workers, the writer and the tap each run on their own host,
started by that host's supervisord; the supervisor on another, the monitor on another. Every
link is TCP on the namespaces' own addresses, with CURVE keys and roles."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from conftest import FIXED_PHYSICS, wait_until

from daq.core.link_security import new_key

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="network namespaces need root and iproute2 (CI runs as root)")

CLI = [sys.executable, "-m", "daq.app.cli"]
#: host -> its address on the test's own bridge (addresses of namespaces this test creates)
HOSTS = {"ctl": "10.64.0.1", "crates": "10.64.0.2", "hub": "10.64.0.3", "reco1": "10.64.0.4",
         "reco2": "10.64.0.5", "storage": "10.64.0.6", "tap": "10.64.0.7", "mon": "10.64.0.8"}


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


class Network:
    """Namespaces named ``<tag>-<host>``, each with loopback and a veth to a bridge in the
    switch namespace ``<tag>-sw``."""

    def __init__(self):
        self.tag = "na64" + uuid.uuid4().hex[:6]
        self.switch = f"{self.tag}-sw"
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for k, (host, address) in enumerate(HOSTS.items()):
            ns = self.ns(host)
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name",
               f"p{k}", "netns", self.switch)
            sh("ip", "-n", self.switch, "link", "set", f"p{k}", "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", f"p{k}", "up")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def on(self, host: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), *argv]

    def link(self, host: str, up: bool) -> None:
        sh("ip", "-n", self.ns(host), "link", "set", "eth0", "up" if up else "down")

    def close(self) -> None:
        for host in HOSTS:
            subprocess.run(["ip", "netns", "pids", self.ns(host)], capture_output=True)
            pids = subprocess.run(["ip", "netns", "pids", self.ns(host)], capture_output=True,
                                  text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run(["ip", "netns", "del", self.ns(host)], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)


@pytest.fixture
def network():
    net = Network()
    yield net
    net.close()


def config_text(tmp_path, keys) -> str:
    a = HOSTS
    return f"""
[endpoints]
source_host = "{a['crates']}"
control = "tcp://{a['ctl']}:5600"
heartbeat = "tcp://{a['ctl']}:5601"
commands = "tcp://{a['ctl']}:5602"
launch = "tcp://{a['ctl']}:5607"
builder_work = "tcp://{a['hub']}:5603"
writer = "tcp://{a['storage']}:5604"
tap = "tcp://{a['tap']}:5605"
tap_publish = "tcp://{a['tap']}:5606"
[hosts]
engine = "supervisord"
rpc = "unix://{tmp_path}/rpc-{{host}}.sock"
builder = "hub"
writer = "storage"
tap = "tap"
workers = "reco1,reco2"
sources = "crates"
[security]
keys_directory = "{keys}"
[workers]
count = 2
[writer]
directory = "{tmp_path}/runs"
[tap]
end_of_run_png = false
[emulator.publish]
bind_host = "{a['crates']}"
[emulator.spill]
duration_s = 2.0
pause_s = 1.0
time_compressed = false
pace = 1.0
[emulator.run]
spills = 100
[emulator.trigger]
physics_rate_hz = {FIXED_PHYSICS['trigger.physics_rate_hz']}
"""


def test_the_daq_across_hosts_survives_a_link_down_and_a_dead_host(network, tmp_path):
    keys, stranger = tmp_path / "keys", tmp_path / "stranger"
    for name, role in (("daq", "daq"), ("op", "operator"), ("watcher", "viewer")):
        new_key(keys, name, role)
    new_key(stranger, "op", "operator")  # never issued here, by someone with the DAQ's
    (stranger / "daq.key").write_bytes((keys / "daq.key").read_bytes())  # public key
    with open(stranger / "roles.toml", "a") as fh:
        fh.write('daq = "daq"\n')
    config = tmp_path / "daq.toml"
    config.write_text(config_text(tmp_path, keys))
    env = dict(os.environ, NA64DAQ_DB=str(tmp_path / "runs.db"))
    out = subprocess.run([*CLI, "deploy", "--config", str(config), "--out",
                          str(tmp_path / "deploy")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    daemons = {}
    for host in ("crates", "hub", "reco1", "reco2", "storage", "tap"):
        daemons[host] = subprocess.Popen(network.on(host, [
            sys.executable, "-m", "supervisor.supervisord", "-n", "-c",
            str(tmp_path / "deploy" / host / "supervisord.conf")]), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        assert wait_until(lambda h=host: (tmp_path / f"rpc-{h}.sock").exists(), 30), host
    log = open(tmp_path / "run.log", "w")
    daq = subprocess.Popen(network.on("ctl", [*CLI, "run", "--config", str(config)]), env=env,
                           stdout=log, stderr=subprocess.STDOUT)

    def ctl(action, key, directory=keys, timeout=60):
        """``na64daq ctl`` on the monitor's host (the control room)."""
        cfg = tmp_path / f"ctl-{directory.name}.toml"
        cfg.write_text(config.read_text().replace(str(keys), str(directory)))
        return subprocess.run(network.on("mon", [*CLI, "ctl", action, "--config", str(cfg),
                                                 "--key", key, "--timeout", str(timeout)]),
                              capture_output=True, text=True, env=env, timeout=timeout + 60)

    def status():
        out = ctl("status", "watcher")
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout)

    def written():
        return status().get("written_events") or 0

    try:
        assert wait_until(lambda: "configured" in open(tmp_path / "run.log").read(), 300), \
            open(tmp_path / "run.log").read()
        # a viewer on another host watches, and cannot stop the run; a stranger is refused
        viewer = subprocess.Popen(network.on("mon", [
            *CLI, "monitor", "--config", str(config), "--key", "watcher", "--snapshot",
            str(tmp_path / "viewer.png")]), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        started = ctl("start", "op")
        assert started.returncode == 0, started.stdout + started.stderr
        assert wait_until(lambda: written() > 0, 120), status()
        stopped = ctl("stop", "watcher")
        assert stopped.returncode == 1 and json.loads(stopped.stdout)["error"] == (
            "'stop' needs the operator role (this key: viewer:watcher)")
        refused = ctl("status", "op", stranger, timeout=3)
        assert refused.returncode == 2 and "one it knows" in refused.stderr
        assert viewer.wait(120) == 0, viewer.stdout.read()
        assert (tmp_path / "viewer.png").stat().st_size > 10_000
        # a link that goes down mid-run and comes back (shorter than the dead-after limit)
        network.link("reco1", up=False)
        time.sleep(1.5)  # the fault's length is the test's input, not a wait for a result
        network.link("reco1", up=True)
        before = written()
        assert wait_until(lambda: written() > before + 1000, 120), status()
        # a host whose processes all die: reco2's supervisord and everything it started
        pids = subprocess.run(["ip", "netns", "pids", network.ns("reco2")],
                              capture_output=True, text=True).stdout.split()
        for pid in pids:
            os.kill(int(pid), signal.SIGKILL)
        assert wait_until(lambda: "worker" in status().get("not_restarted", {}), 60), status()
        s = status()
        assert s["state"] == "running", s
        before = written()
        assert wait_until(lambda: written() > before + 1000, 120), status()  # reco1 carries on
        final = ctl("stop", "op", timeout=120)
        assert final.returncode == 0, final.stdout + final.stderr
        ledger = json.loads(final.stdout)["ledger"]
        # every event written, complete: the crates, signalled one host after another, end
        # on one trigger (run control's ``end_after_s``; each once took the moment it heard
        # its stop, and one CI run of three found 64 events incomplete)
        assert ledger["balanced"] and ledger["unaccounted"] == 0, ledger
        assert ledger["written_complete"] == ledger["triggered"] > 0, ledger
        run = json.loads(final.stdout)["run"]
        verify = subprocess.run([*CLI, "inspect", "--verify", str(tmp_path / "runs" /
                                                                  f"run_{run:06d}.h5")],
                                capture_output=True, text=True, env=env, timeout=300)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        s = status()
        refused_keys = {w.split(" from ")[0] for w in s["refused"]["connections"]}
        public = (stranger / "op.key").read_text()
        assert len(refused_keys) == 1 and next(iter(refused_keys)) in public, s["refused"]
        assert s["refused"]["commands"] == {"viewer:watcher stop": 1}, s["refused"]
        assert ctl("shutdown", "op").returncode == 0
        assert daq.wait(120) == 0
    finally:
        if daq.poll() is None:
            daq.kill()
        for d in daemons.values():
            if d.poll() is None:
                d.terminate()
        for d in daemons.values():
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
        log.close()
