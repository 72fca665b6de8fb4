"""The shell of every DAQ process: a ZeroMQ context, heartbeats with its counters to the
supervisor, the supervisor's commands, a lossless send that keeps beating, and an end when
orphaned (``docs/run-control.md``)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from daq.core import heartbeat
from daq.core.link_security import Keyring, LinkGuard
from daq.core.memory_use import memory_use
from daq.core.stack_dump import answer_stack_requests

#: An orphan (its supervisor gone) finishes the run in hand as a stop would, then exits: once
#: it has had nothing to do for ORPHAN_IDLE_S (the crates end their run at the end of the
#: spill they are in, and the builder's timeout, the workers and the writer follow within
#: it), or after ORPHAN_MAX_S, longer than the longest spill (60 s, ``emulator.spill``).
ORPHAN_IDLE_S = 3.0
ORPHAN_MAX_S = 90.0
#: the kernel's signal to a process whose parent died (``prctl(PR_SET_PDEATHSIG)``)
PARENT_DEATH_SIGNAL = signal.SIGUSR2


def command_topic(to: str) -> bytes:
    """A command's first part: its addressee (a process's name, a role, or ``all``). Each
    process subscribes to its own three, so the supervisor's PUB sends it nothing else: a
    crate reads commands only at a stop, and the tap's state, sent every second to all
    subscribers, queued in each crate (15 KB/s of heap, up to ZeroMQ's high-water mark, where
    a command meant for it would have been dropped)."""
    return to.encode() + b"\0"


def _ask_for_parent_death_signal() -> bool:
    """Linux signals ``PARENT_DEATH_SIGNAL`` the moment the parent dies; False elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(1, int(PARENT_DEATH_SIGNAL), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


class BindError(OSError):
    """A process cannot bind its endpoint; the message names the configuration key."""


def bind(sock: zmq.Socket, endpoints: Any, key: str, guard: LinkGuard | None = None,
         domain: str = "daq") -> None:
    """Bind ``sock`` to ``endpoints.<key>`` (with ``guard``, a CURVE server of ZAP
    ``domain``); failing, a :class:`BindError` that names the key (a log line the crew can act
    on, not a ZeroMQ traceback)."""
    endpoint = getattr(endpoints, key)
    try:
        if guard is None:
            sock.bind(endpoint)
        else:
            guard.bind(sock, endpoint, domain)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise BindError(f"endpoints.{key} = {endpoint}: cannot bind ({exc}); is another DAQ "
                        "or program using it?") from None


def drain(sock: zmq.Socket, limit: int) -> Iterator[list[zmq.Frame]]:
    """The messages already waiting on ``sock``, at most ``limit`` (then back to the loop, so
    that no input can starve the others)."""
    for _ in range(limit):
        try:
            yield sock.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return


class ProcessShell:
    """What makes a process one of the DAQ's, whatever it does (builder, worker, writer, tap,
    or a crate): it beats, takes the supervisor's commands, and ends when orphaned.

    A crate takes no commands (``commands_endpoint`` None: run control starts and stops it with
    signals), shares its context with its data sockets (``context``), handles its own signals
    (``handle_sigterm`` False) and ends its run cleanly when orphaned (``on_orphaned``)."""

    def __init__(self, name: str, heartbeat_endpoint: str, commands_endpoint: str | None,
                 heartbeat_s: float, io_threads: int = 1, context: zmq.Context | None = None,
                 on_orphaned: Callable[[], None] | None = None, handle_sigterm: bool = True,
                 heartbeat_linger_ms: int = 500, curve: tuple[str, str] | None = None,
                 curve_data: bool = False):
        """``curve``: (key directory, the DAQ's key name), when the DAQ's links use CURVE
        (``docs/security.md``); its data links too with ``curve_data`` (:attr:`data_guard`)."""
        self.name = name
        self.heartbeat_s = heartbeat_s
        self.own_context = context is None
        self.ctx = context or zmq.Context(io_threads=io_threads)
        self.guard = None if curve is None else LinkGuard(self.ctx, Keyring.load(curve[0]),
                                                          curve[1])
        #: the guard of the data links (None: they are plain)
        self.data_guard = self.guard if curve_data else None
        self.heartbeat = self.ctx.socket(zmq.PUSH)
        self.heartbeat.setsockopt(zmq.SNDHWM, 10)
        self.heartbeat.setsockopt(zmq.LINGER, heartbeat_linger_ms)
        self.connect(self.heartbeat, heartbeat_endpoint)
        self.commands = None
        if commands_endpoint is not None:
            self.commands = self.ctx.socket(zmq.SUB)
            for to in (name, name.split("-")[0], "all"):
                self.commands.setsockopt(zmq.SUBSCRIBE, command_topic(to))
            self.connect(self.commands, commands_endpoint)
        self.counters: dict[str, Any] = {}
        self.exiting = False
        self.parent = os.getppid()  # the supervisor: if it dies, we must not live on
        #: the supervisor died: nobody will ever stop this process
        self.orphaned = False
        self.orphaned_at = 0.0
        self.on_orphaned = on_orphaned
        self.last_work = time.monotonic()  # ``worked``: an orphan ends once idle
        self._next_beat = 0.0
        # every process hears of the supervisor's death at once, together: noticed at each
        # one's next beat, up to a beat apart, the crates stopped at different triggers (64
        # events incomplete when the supervisor was killed mid-spill)
        if threading.current_thread() is threading.main_thread():
            signal.signal(PARENT_DEATH_SIGNAL, lambda *_: self._orphan())
            _ask_for_parent_death_signal()
            answer_stack_requests()  # a silent process says where it is stuck
        #: called before each heartbeat, for counters too costly to keep current per batch
        self.before_beat: Callable[[], None] | None = None
        if handle_sigterm:
            signal.signal(signal.SIGTERM, self._on_term)

    @classmethod
    def for_daq(cls, name: str, cfg: Any, io_threads: int = 1) -> ProcessShell:
        """The shell of a process of the DAQ configured by ``cfg`` (a ``DaqConfig``)."""
        return cls(name, cfg.endpoints.heartbeat, cfg.endpoints.commands, cfg.run.heartbeat_s,
                   io_threads, curve=cfg.curve_keys, curve_data=cfg.data_curve)

    def connect(self, sock: zmq.Socket, endpoint: str, data: bool = False) -> None:
        """Connect ``sock`` to a DAQ server's ``endpoint``, with this process's key when the
        DAQ's links (its ``data`` links) use CURVE."""
        guard = self.data_guard if data else self.guard
        if guard is not None:
            guard.client(sock)
        sock.connect(endpoint)

    def _on_term(self, *_: Any) -> None:
        self.exiting = True

    def _orphan(self) -> None:
        if self.orphaned:
            return
        self.orphaned, self.orphaned_at = True, time.monotonic()
        if self.on_orphaned is not None:
            self.on_orphaned()

    def worked(self) -> None:
        """Something came to do: an orphan is not yet idle."""
        self.last_work = time.monotonic()

    def beat(self, force: bool = False) -> None:
        """Send the heartbeat if it is due (or now, with ``force``)."""
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat_s
        if os.getppid() != self.parent:  # nobody will ever stop us (no signal, or missed)
            self._orphan()
        if self.orphaned and self.on_orphaned is None and (
                now - self.last_work > ORPHAN_IDLE_S or now - self.orphaned_at > ORPHAN_MAX_S):
            self.exiting = True  # the run in hand is finished, or given up
        if self.before_beat is not None:
            self.before_beat()
        if self.guard is not None and self.guard.refused:  # counted in the DAQ's status
            self.counters["refused_connections"] = self.guard.refused
        try:
            self.heartbeat.send(heartbeat.message(
                self.name, {**self.counters, "memory": memory_use()}), zmq.NOBLOCK)
        except zmq.Again:  # supervisor gone or slow: a heartbeat is never worth blocking for
            pass

    def command(self) -> dict[str, Any] | None:
        """The next command addressed to this process (or to all), if any."""
        while self.commands is not None:
            try:
                parts = self.commands.recv_multipart(zmq.NOBLOCK)
                msg = json.loads(parts[-1]) if len(parts) == 2 else None
            except zmq.Again:
                return None
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            if msg.get("to") in (self.name, "all", self.name.split("-")[0]):
                if msg.get("cmd") == "exit":
                    self.exiting = True
                elif msg.get("cmd") == "beat":  # the supervisor wants final counters now
                    self.beat(force=True)
                return msg
        return None

    @contextlib.contextmanager
    def beating(self) -> Iterator[None]:
        """Heartbeats from a thread while the caller is busy without beating itself (getting
        ready, or closing a file: a crate that took over 3 s to write its truth file was taken
        for dead, and its finished run ended in error)."""
        done = threading.Event()

        def beat_on() -> None:
            while not done.wait(self.heartbeat_s):
                self.beat(force=True)

        self.beat(force=True)
        thread = threading.Thread(target=beat_on, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()

    def send(self, sock: zmq.Socket, parts: list, **kw: Any) -> Any:
        """A lossless send that waits for the peer (back-pressure) but keeps the heartbeat
        going, so that waiting is never taken for dying. Returns the tracker if ``track``."""
        while True:
            try:
                return sock.send_multipart(parts, zmq.NOBLOCK, **kw)
            except zmq.Again:
                self.beat()
                if self.exiting:
                    raise
                sock.poll(100, zmq.POLLOUT)

    def close(self, final_beat: bool = True) -> None:
        """The last counters (``final_beat``), then its sockets; the context too if it is
        the shell's own."""
        if final_beat:
            self.beat(force=True)
        if self.guard is not None:
            self.guard.close()
        if self.own_context:
            self.ctx.destroy(linger=1000)
            return
        self.heartbeat.close()
        if self.commands is not None:
            self.commands.close()
