"""The shell of every DAQ process: a ZeroMQ context, heartbeats with its counters to the
supervisor, the supervisor's commands, a lossless send that keeps beating, and an end when
orphaned (``docs/run-control.md``)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import zmq

from daq.core import heartbeat


def drain(sock: zmq.Socket, limit: int) -> Iterator[list[zmq.Frame]]:
    """The messages already waiting on ``sock``, at most ``limit`` (then back to the loop, so
    that no input can starve the others)."""
    for _ in range(limit):
        try:
            yield sock.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return


class ProcessShell:
    def __init__(self, name: str, heartbeat_endpoint: str, commands_endpoint: str,
                 heartbeat_s: float, io_threads: int = 1):
        self.name = name
        self.heartbeat_s = heartbeat_s
        self.ctx = zmq.Context(io_threads=io_threads)
        self.heartbeat = self.ctx.socket(zmq.PUSH)
        self.heartbeat.setsockopt(zmq.SNDHWM, 10)
        self.heartbeat.setsockopt(zmq.LINGER, 500)
        self.heartbeat.connect(heartbeat_endpoint)
        self.commands = self.ctx.socket(zmq.SUB)
        self.commands.setsockopt(zmq.SUBSCRIBE, b"")
        self.commands.connect(commands_endpoint)
        self.counters: dict[str, Any] = {}
        self.exiting = False
        self.parent = os.getppid()  # the supervisor: if it dies, we must not live on
        self._next_beat = 0.0
        #: called before each heartbeat, for counters too costly to keep current per batch
        self.before_beat: Callable[[], None] | None = None
        signal.signal(signal.SIGTERM, self._on_term)

    @classmethod
    def for_daq(cls, name: str, cfg: Any, io_threads: int = 1) -> ProcessShell:
        """The shell of a process of the DAQ configured by ``cfg`` (a ``DaqConfig``)."""
        return cls(name, cfg.endpoints.heartbeat, cfg.endpoints.commands, cfg.run.heartbeat_s,
                   io_threads)

    def _on_term(self, *_: Any) -> None:
        self.exiting = True

    def beat(self, force: bool = False) -> None:
        """Send the heartbeat if it is due (or now, with ``force``)."""
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat_s
        if os.getppid() != self.parent:  # orphaned: nobody will ever stop us, so stop
            self.exiting = True
        if self.before_beat is not None:
            self.before_beat()
        try:
            self.heartbeat.send(heartbeat.message(self.name, self.counters), zmq.NOBLOCK)
        except zmq.Again:  # supervisor gone or slow: a heartbeat is never worth blocking for
            pass

    def command(self) -> dict[str, Any] | None:
        """The next command addressed to this process (or to all), if any."""
        while True:
            try:
                msg = json.loads(self.commands.recv(zmq.NOBLOCK))
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

    def close(self) -> None:
        self.beat(force=True)
        self.ctx.destroy(linger=1000)
