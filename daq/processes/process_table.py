"""The DAQ's child processes: started with their own log, session and heartbeat token, known by
name and role, heard through their heartbeats, and stopped (SIGTERM, then SIGKILL). What to do
when one dies is the supervisor's decision (``daq/processes/supervisor.py``), not this table's.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from daq.core import heartbeat
from daq.core.stack_dump import STACK_SIGNAL, stuck_at
from daq.processes.process_engine import LocalChild, last_line_of, log_tail

# glibc's allocator in every process: batches of 0.1-1 MB are kept in the heap instead of being
# mapped and unmapped each time (every fresh page is a fault: 3-10k faults/s per process and
# ~10 % of the DAQ's CPU at 20k events/s on a VM); the environment can override each
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20),
              "MALLOC_TOP_PAD_": str(16 << 20)}
#: Heartbeats taken in one go before run control has its turn: a flood cannot starve it.
HEARTBEATS_PER_POLL = 1000
#: a silent process's stacks are waited for this long (they come at once unless it is frozen)
STACK_WAIT_S = 0.5
STACK_TAIL_BYTES = 16384
#: a longer gap between two reads of the heartbeats is time the supervisor was not looking
#: (frozen, suspended, or busy): it is not held against the processes
BLIND_AFTER_S = 1.0


@dataclass
class Process:
    role: str
    name: str
    #: its handle (``daq/processes/process_engine.py``): a child, or a host's supervisord's
    popen: Any
    started: float
    last_beat: float = 0.0
    counters: dict[str, Any] = field(default_factory=dict)
    token: str = ""  # its heartbeats carry it: nobody else can speak for it
    asked_to_stop: bool = False  # a source's exit after this is the stop, not a failure

    def alive(self, now: float, dead_after_s: float, startup_s: float) -> bool:
        if self.popen.poll() is not None:
            return False
        if self.last_beat == 0.0:
            return now - self.started < startup_s
        return now - self.last_beat < dead_after_s

    def running(self) -> bool:
        return self.popen.poll() is None

    def cause(self) -> str:
        """The last line of its log (a dead process's error), to name the cause in one line."""
        line = self.popen.last_line()
        return f": {line}" if line else ""


class ProcessTable:
    """Every child by name; ``workdir`` holds their logs, ``env`` is added to each one's
    environment (after the allocator's settings and the DAQ's own)."""

    def __init__(self, workdir: Path, env: dict[str, str], engine: Any = None):
        """``engine``: a host's supervisord starts each process (``SupervisordEngine``);
        None: each is a child of this process."""
        self.workdir = workdir
        self.env = env
        self.engine = engine
        self.procs: dict[str, Process] = {}
        self.bad_heartbeats: dict[str, int] = {}  # reason -> count, never acted on
        self._last_look: float | None = None

    def __contains__(self, name: str) -> bool:
        return name in self.procs

    def __getitem__(self, name: str) -> Process:
        return self.procs[name]

    def get(self, name: str) -> Process | None:
        return self.procs.get(name)

    def all(self) -> list[Process]:
        return list(self.procs.values())

    def role(self, role: str) -> list[Process]:
        return [p for p in self.procs.values() if p.role == role]

    def child_env(self, token: str = "") -> dict[str, str]:
        """A child's environment: the allocator's settings, the DAQ's, and its token."""
        return {**MALLOC_ENV, **os.environ, **self.env, heartbeat.TOKEN_ENV: token}

    def spawn(self, role: str, name: str, argv: list[str]) -> Process:
        """``python argv...`` in a session of its own, its output into ``<name>.log`` (on
        its host, with a supervisord engine)."""
        token = secrets.token_hex(16)
        log_path = self.workdir / f"{name}.log"
        if self.engine is None:
            handle = LocalChild(argv, log_path, self.child_env(token))
        else:  # another host's environment is its own; the DAQ's settings go with the spec
            handle = self.engine.spawn(role, name, argv, {
                **MALLOC_ENV, **self.env, heartbeat.TOKEN_ENV: token}, log_path)
        proc = Process(role, name, handle, time.monotonic(), token=token)
        self.procs[name] = proc
        return proc

    def kill(self, proc: Process, wait_s: float) -> None:
        """SIGTERM to its process group, SIGKILL after ``wait_s``; its log closed. It stays
        in the table (``remove`` takes it out)."""
        if proc.running():
            try:
                proc.popen.signal_group(signal.SIGTERM)
                proc.popen.wait(wait_s)
            except subprocess.TimeoutExpired:
                proc.popen.signal_group(signal.SIGKILL)
                proc.popen.wait()

    def remove(self, proc: Process, wait_s: float) -> None:
        self.kill(proc, wait_s)
        self.procs.pop(proc.name, None)
        if self.engine is not None:
            self.engine.release(proc.name)

    def remove_all(self, wait_s: float) -> None:
        for proc in self.all():
            self.remove(proc, wait_s)

    def take_heartbeats(self, sock: zmq.Socket, timeout_s: float) -> None:
        """Heartbeats waiting on ``sock`` (up to ``HEARTBEATS_PER_POLL``): each one checked
        against its sender's token, its counters kept. Bad ones are counted by reason.

        Time the supervisor was not reading (SIGSTOP, a crew's Ctrl-Z, a busy call) is not
        counted against anyone: after a freeze the heartbeats sent meanwhile are still on
        their way through the kernel and ZeroMQ's I/O thread, and a process judged before they
        arrive was taken for dead ("writer stopped answering", a run ended in error)."""
        self.watching()
        self._take(sock, timeout_s)
        self.watching(waited_s=timeout_s)  # frozen inside the wait

    def watching(self, waited_s: float = 0.0) -> float:
        """Now (monotonic), as the supervisor looks: the time since it last looked, beyond
        ``waited_s`` (a wait of its own choosing) and ``BLIND_AFTER_S``, is excused."""
        now = time.monotonic()
        if self._last_look is not None and now - self._last_look > waited_s + BLIND_AFTER_S:
            self.excuse(now - self._last_look - waited_s)
        self._last_look = now
        return now

    def excuse(self, blind_s: float) -> None:
        """Every process's silence and start-up are ``blind_s`` shorter: nobody watched."""
        for proc in self.procs.values():
            proc.started += blind_s
            if proc.last_beat:
                proc.last_beat += blind_s

    def _take(self, sock: zmq.Socket, timeout_s: float) -> None:
        if not sock.poll(int(timeout_s * 1000)):
            return
        tokens = {name: p.token for name, p in self.procs.items()}
        for _ in range(HEARTBEATS_PER_POLL):
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                if len(parts) != 1:
                    raise heartbeat.HeartbeatError("multipart")
                msg = heartbeat.parse(parts[0], tokens)
            except heartbeat.HeartbeatError as exc:
                self.bad_heartbeats[str(exc)] = self.bad_heartbeats.get(str(exc), 0) + 1
                continue
            proc = self.procs[msg["name"]]
            proc.last_beat = time.monotonic()
            proc.counters = msg["counters"]

    def stuck_at(self, proc: Process) -> str:
        """Where a process that stopped beating is stuck, asked of it (``stack_dump``): its
        stacks come into its log at once, from C, unless it is frozen (SIGSTOP: "")."""
        asked_at = proc.popen.tail(0)[1]  # the log's size: what comes after is the answer
        proc.popen.send_signal(STACK_SIGNAL)
        deadline, seen = time.monotonic() + STACK_WAIT_S, None
        while time.monotonic() < deadline:
            time.sleep(0.05)
            text, size = proc.popen.tail(STACK_TAIL_BYTES)
            text = text[-(size - asked_at):] if size > asked_at else ""
            where = stuck_at(text)
            if where and text == seen:  # a whole dump, not one still being written
                return where
            seen = text
        return ""

    def rows(self, now: float) -> dict[str, dict[str, Any]]:
        """Each process for the monitor's viewers: role, alive, heartbeat age, counters."""
        return {p.name: {
            "role": p.role, "alive": p.running(),
            "heartbeat_age_s": now - p.last_beat if p.last_beat else None,
            "counters": {k: v for k, v in p.counters.items()
                         if k not in ("ledger", "spill_ledger")}}
            for p in self.procs.values()}


def last_line(path: str | Path | None) -> str:
    """The last non-empty line of a log (at most 300 characters), or ""."""
    return last_line_of(log_tail(path)[0])
