"""Who starts the DAQ's processes (``docs/deployment.md``): the supervisor itself, each one a
child in a session of its own (``local``), or each host's supervisord over XML-RPC
(``supervisord``). Either way the supervisor holds a ``Popen``-like handle per process: ``pid``,
``poll``, ``returncode``, ``send_signal``, ``signal_group``, ``wait``, ``tail`` and
``last_line``; what to do when one dies stays the supervisor's decision."""

from __future__ import annotations

import http.client
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from daq.processes.daq_config import DaqConfig

#: supervisord's states of a process that is not (or no longer) running
ENDED = ("STOPPED", "EXITED", "FATAL", "UNKNOWN")
#: a host's process table is asked at most this often (every poll asks each process)
INFO_TTL_S = 0.2
#: a supervisord that has not answered this long is taken for gone (connect and each reply)
RPC_TIMEOUT_S = 5.0


def _with_timeout(make):
    """supervisor's transport's connection factory, its connections with ``RPC_TIMEOUT_S``
    (it sets none: a host that vanished from the network held run control for the TCP
    connect timeout, minutes)."""
    def connection():
        conn = make()
        conn.timeout = RPC_TIMEOUT_S  # tcp: at connect
        connect = conn.connect

        def connect_with_timeout():
            connect()
            conn.sock.settimeout(RPC_TIMEOUT_S)  # unix and tcp: each reply
        conn.connect = connect_with_timeout
        return conn
    return connection


class LocalChild:
    """A child of the supervisor (``subprocess.Popen``), in a session of its own."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str]):
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen([sys.executable, *argv], stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env=env)
        self.pid = self.popen.pid
        self.log_path = log_path

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        return self.popen.poll()

    def send_signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> int:
        return self.popen.wait(timeout)

    def tail(self, n_bytes: int = 4096) -> tuple[str, int]:
        """The end of its log, and the log's size in bytes."""
        return log_tail(self.log_path, n_bytes)

    def last_line(self) -> str:
        return last_line_of(self.tail()[0])


def log_tail(path: str | Path | None, n_bytes: int = 4096) -> tuple[str, int]:
    """The end of the log at ``path`` and its size in bytes ("" and 0 if there is none)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - n_bytes))
            return fh.read().decode(errors="replace"), size
    except (OSError, TypeError):
        return "", 0


def last_line_of(text: str) -> str:
    """The last non-empty line of a log's ``text`` (at most 300 characters), or ""."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1][:300] if lines else ""


class HostUnreachable(OSError):
    """A host's supervisord does not answer: its processes are taken for dead."""


class Host:
    """One host's supervisord, through its XML-RPC interface (``hosts.rpc``): its process
    table, asked at most every ``INFO_TTL_S``. ``secrets``: the directory of its inet
    interface's ``rpc.secret``, read at the first call. A host that did not answer is not
    asked again for ``RPC_TIMEOUT_S``: a dead host costs run control one timeout, not one per
    poll."""

    def __init__(self, name: str, url: str, secrets: Path | None = None):
        self.name = name
        self.url = url
        self.secrets = secrets
        self.transport = None
        self._info: dict[str, dict[str, Any]] = {}
        self._asked = 0.0
        self._down: tuple[float, str] | None = None  # (until, why)
        self._lock = threading.Lock()  # the transport is not thread-safe

    def _proxy(self) -> xmlrpc.client.ServerProxy:
        from supervisor.xmlrpc import SupervisorTransport

        if self.transport is None:
            user, password = rpc_secret(self.secrets) if self.secrets else (None, None)
            self.transport = SupervisorTransport(user, password, self.url)
            self.transport._get_connection = _with_timeout(self.transport._get_connection)
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=self.transport)

    def call(self, method: str, *args: Any) -> Any:
        with self._lock:
            if self._down is not None and time.monotonic() < self._down[0]:
                raise HostUnreachable(self._down[1])
            try:
                return getattr(self._proxy().supervisor, method)(*args)
            except xmlrpc.client.Fault:
                raise
            except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as exc:
                self.transport.close()  # a connection left mid-request cannot be used again
                why = f"host {self.name}: supervisord at {self.url} does not answer ({exc})"
                if getattr(exc, "errcode", None) == 401:
                    why = (f"host {self.name}: supervisord at {self.url} refuses the user and "
                           f"password of {self.secrets}/rpc.secret")
                self._down = (time.monotonic() + RPC_TIMEOUT_S, why)
                raise HostUnreachable(why) from None

    def info(self, program: str) -> dict[str, Any]:
        now = time.monotonic()
        if now - self._asked > INFO_TTL_S:
            try:
                self._info = {i["name"]: i for i in self.call("getAllProcessInfo")}
            except HostUnreachable:
                self._info = {}
            self._asked = now
        return self._info.get(program, {"statename": "UNKNOWN", "pid": 0, "exitstatus": -1})

    def forget(self) -> None:
        self._asked = 0.0


class SupervisedProcess:
    """A process started by its host's supervisord (program ``program``)."""

    def __init__(self, host: Host, program: str):
        self.host = host
        self.program = program
        self.returncode: int | None = None
        self.pid = 0
        host.forget()
        try:
            try:
                host.call("startProcess", program, False)
            except xmlrpc.client.Fault as exc:
                if "ALREADY_STARTED" not in exc.faultString:
                    raise
                # left by a supervisor that died: it beats with an old token, so it goes
                host.call("stopProcess", program, True)
                host.call("startProcess", program, False)
        except xmlrpc.client.Fault as exc:
            raise HostUnreachable(f"host {host.name}: cannot start {program} "
                                  f"({exc.faultString})") from None
        self.pid = int(host.info(program).get("pid") or 0)

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        info = self.host.info(self.program)
        self.pid = int(info.get("pid") or self.pid)
        if info["statename"] in ENDED:
            self.returncode = int(info.get("exitstatus") if info["statename"] == "EXITED"
                                  else -signal.SIGKILL)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        try:
            self.host.call("signalProcess", self.program, signal.Signals(sig).name[3:])
        except (xmlrpc.client.Fault, HostUnreachable):
            pass  # not running any more: its exit is noticed by poll
        self.host.forget()

    #: signalProcess reaches the process alone, not a child it runs at that moment (an
    #: isolated file check); supervisord's own stops take the group (stopasgroup, killasgroup)
    signal_group = send_signal

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.program, timeout)
            time.sleep(0.05)
            self.host.forget()
        return self.returncode

    def tail(self, n_bytes: int = 4096) -> tuple[str, int]:
        """The end of its log on its host, and the log's size in bytes."""
        try:
            text, size, _ = self.host.call("tailProcessStdoutLog", self.program, 0, n_bytes)
            return text, size
        except xmlrpc.client.Fault:
            return "", 0

    def last_line(self) -> str:
        try:
            return last_line_of(self.tail()[0])
        except HostUnreachable as exc:  # the cause of its death, most likely
            return str(exc)


class SupervisordEngine:
    """Starts each process through its host's supervisord: the program slot of its role on
    the host ``hosts`` gives it, and the launch spec (arguments, files, environment) the
    process asks for when it starts (``daq.processes.launched``)."""

    def __init__(self, cfg: DaqConfig, source_ids: list[int]):
        self.cfg = cfg
        self.hosts: dict[str, Host] = {}
        for name in cfg.hosts.all():
            secrets = None
            if cfg.hosts.rpc.startswith("http://"):
                secrets = Path(cfg.hosts.rpc_secrets).expanduser() / name
            self.hosts[name] = Host(name, cfg.hosts.rpc.format(host=name), secrets)
        self.placed = cfg.placement(source_ids)  # program -> host, fixed for the DAQ's life
        self.pending: dict[str, dict[str, Any]] = {}  # program -> its launch spec
        self.in_use: dict[str, str] = {}  # process name -> program
        self.workers_started = 0

    def program(self, role: str, name: str) -> tuple[str, Host]:
        """The program slot and host of process ``name`` (of ``role``)."""
        if role != "worker":
            return name, self.hosts[self.placed[name]]
        # the first free slot: a dead worker's replacement takes the slot it released
        used = set(self.in_use.values())
        free = [s for s in self.placed if s.startswith("worker-") and s not in used]
        if not free:
            raise HostUnreachable(f"no free worker program for {name}: "
                                  f"{self.cfg.workers.count} slots, all in use")
        return free[0], self.hosts[self.placed[free[0]]]

    def spawn(self, role: str, name: str, argv: list[str], env: dict[str, str],
              log_path: Path) -> SupervisedProcess:
        program, host = self.program(role, name)
        self.pending[program] = {"name": name, "argv": argv, "env": env,
                                 "files": shipped_files(argv)}
        self.in_use[name] = program
        try:
            return SupervisedProcess(host, program)
        except HostUnreachable:
            self.release(name)
            raise

    def release(self, name: str) -> None:
        program = self.in_use.pop(name, None)
        if program is not None:
            self.pending.pop(program, None)

    def launch_spec(self, program: str) -> dict[str, Any] | None:
        """What program ``program`` asks for when it starts (once)."""
        return self.pending.pop(program, None)


def rpc_secret(directory: Path) -> tuple[str, str]:
    """The user and password of the supervisord whose ``deploy`` directory is ``directory``
    (``rpc.secret``, which must be the user's own, mode 0600)."""
    from daq.core.config_schema import ConfigError

    path = directory / "rpc.secret"
    try:
        st = path.stat()
        words = path.read_text().split()
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    if stat.S_IMODE(st.st_mode) & 0o077 or st.st_uid != os.geteuid():
        raise ConfigError(f"{path}: mode {stat.S_IMODE(st.st_mode):04o}, must be 0600 and "
                          "this user's")
    if len(words) != 2:
        raise ConfigError(f"{path}: expected 'USER PASSWORD'")
    return words[0], words[1]


def shipped_files(argv: list[str]) -> dict[str, str]:
    """The small text files ``argv`` names (configurations, a detector map): a process on
    another host gets them with its arguments, so that nothing has to be copied there."""
    out = {}
    for item in argv:
        path = Path(item)
        if item.endswith((".json", ".toml")) and path.is_file() and \
                path.stat().st_size < 1 << 20:
            out[item] = path.read_text()
    return out
