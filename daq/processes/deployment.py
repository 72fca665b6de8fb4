"""Each host's supervisord configuration (``docs/deployment.md``): one program per process
placed on the host, started and stopped only by the supervisor (``autostart``, ``autorestart``
false), and an XML-RPC interface that is never open: a unix socket of mode 0700, or an inet
socket with a user and a random password."""

from __future__ import annotations

import os
import secrets
import shlex
import sys
from pathlib import Path

from daq.core.link_security import reachable
from daq.processes.daq_config import DaqConfig

RPC_USER = "na64daq"


def programs(cfg: DaqConfig, source_ids: list[int]) -> dict[str, list[str]]:
    """host -> the programs placed on it (workers as slots ``worker-K``; crates by id; a
    replayed DATE file is one process, ``source-all``, on the first crate host)."""
    out: dict[str, list[str]] = {host: [] for host in cfg.hosts.all()}
    for name, host in cfg.placement(source_ids).items():
        out[host].append(name)
    return out


def supervisord_conf(cfg: DaqConfig, host: str, names: list[str], directory: Path,
                     password: str | None) -> str:
    """``host``'s supervisord.conf, its files (logs, pid, socket) in ``directory``."""
    rpc = cfg.hosts.rpc.format(host=host)
    lines = ["; written by 'na64daq deploy': the DAQ's processes on host " + host,
             "[supervisord]", f"logfile = {directory / 'supervisord.log'}",
             f"pidfile = {directory / 'supervisord.pid'}", f"childlogdir = {directory}", ""]
    if rpc.startswith("unix://"):
        lines += ["[unix_http_server]", f"file = {rpc[len('unix://'):]}", "chmod = 0700", ""]
    else:
        address = rpc[len("http://"):].rstrip("/")
        lines += ["[inet_http_server]", f"port = {address}", f"username = {RPC_USER}",
                  f"password = {password}", ""]
    lines += ["[rpcinterface:supervisor]",
              "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
              "", "[supervisorctl]", f"serverurl = {rpc}", ""]
    launch = reachable(cfg.endpoints.launch)
    for name in names:
        command = [sys.executable, "-m", "daq.processes.launched", name, "--launch", launch]
        if cfg.curve_keys:
            command += ["--keys", os.path.expanduser(cfg.curve_keys[0]), "--key",
                        cfg.curve_keys[1]]
        lines += [f"[program:{name}]", f"command = {shlex.join(command)}",
                  "autostart = false", "autorestart = false", "startsecs = 0",
                  "startretries = 0", "stopsignal = TERM", "stopwaitsecs = 5",
                  "stopasgroup = true", "killasgroup = true", "redirect_stderr = true",
                  f"stdout_logfile = {directory / (name + '.log')}", ""]
    return "\n".join(lines)


def deploy(cfg: DaqConfig, source_ids: list[int], out: Path) -> dict[str, Path]:
    """Every host's ``OUT/HOST/supervisord.conf`` (and ``rpc.secret``, 0600, for an inet
    interface); returns host -> its configuration."""
    written = {}
    for host, names in programs(cfg, source_ids).items():
        d = out / host
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
        password = None
        if not cfg.hosts.rpc.startswith("unix://"):
            password = secrets.token_urlsafe(24)
            secret = d / "rpc.secret"
            secret.touch(mode=0o600)
            secret.write_text(f"{RPC_USER} {password}\n")
        conf = d / "supervisord.conf"
        conf.touch(mode=0o600)  # with the password in it
        conf.write_text(supervisord_conf(cfg, host, names, d.resolve(), password))
        written[host] = conf
    return written
