"""Publishing frames on ZeroMQ, one PUSH socket per readout source, as the crates would.

Time-compressed mode blocks on back-pressure (emits as fast as the consumers take). Real-time
mode never waits for a consumer: a batch that cannot be queued is not sent and counted, and the
source's end-of-spill and end-of-run frames carry those counts (the loss ledger needs them at
the stage that knows them).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import zmq

from daq.wire_format import FrameKind, decode, encode_control, peek


@dataclass
class SourceCounters:
    """What one source triggered, sent, and could not send (per spill and per run)."""

    spill_triggered: int = 0
    spill_sent: int = 0
    run_triggered: int = 0
    run_sent: int = 0

    def info(self, spill: bool) -> dict[str, int]:
        t, s = (self.spill_triggered, self.spill_sent) if spill else (self.run_triggered,
                                                                      self.run_sent)
        return {"triggered": t, "sent": s, "not_sent": t - s}


class Publisher:
    """Sends ``(emit_time_s, source_id, parts)`` items on per-source endpoints."""

    def __init__(self, endpoints: dict[int, str], time_compressed: bool = True, pace: float = 1.0,
                 send_hwm: int = 16, linger_s: float = 10.0,
                 context: zmq.Context | None = None, heartbeat: str | None = None,
                 name: str = "source", heartbeat_s: float = 1.0):
        self.context = context or zmq.Context()
        self.name = name
        self.heartbeat_s = heartbeat_s
        self._next_beat = 0.0
        self.heartbeat = None
        self.parent = os.getppid()
        if heartbeat:  # under run control: tell the supervisor we live, with our counters
            self.heartbeat = self.context.socket(zmq.PUSH)
            self.heartbeat.setsockopt(zmq.SNDHWM, 10)
            self.heartbeat.setsockopt(zmq.LINGER, 0)
            self.heartbeat.connect(heartbeat)
        self.time_compressed = time_compressed
        self.pace = pace
        #: why to end the run early (set from a signal handler): finish the run cleanly
        self.stop_reason: str | None = None
        self.sockets: dict[int, zmq.Socket] = {}
        self.counters = {sid: SourceCounters() for sid in endpoints}
        for sid, endpoint in endpoints.items():
            sock = self.context.socket(zmq.PUSH)
            sock.setsockopt(zmq.SNDHWM, send_hwm)
            sock.setsockopt(zmq.LINGER, int(linger_s * 1000))
            try:
                sock.bind(endpoint)
            except zmq.ZMQError as exc:
                self.close()
                raise OSError(f"source {sid}: cannot bind {endpoint} ({exc})") from None
            self.sockets[sid] = sock

    def run(self, items: Iterable[tuple[float, int, list]]) -> dict[int, SourceCounters]:
        start = time.monotonic()
        opened: dict[int, tuple[FrameKind, Any]] = {}  # source -> last SOR/SOS frame
        for emit_s, sid, parts in items:
            if self.stop_reason:
                print(f"{self.name}: ending the run early: {self.stop_reason}", flush=True)
                self._end_early(opened)
                break
            self.beat()
            if not self.time_compressed:
                while (delay := start + emit_s / self.pace - time.monotonic()) > 0:
                    time.sleep(min(delay, 0.2))
                    self.beat()
            kind, _, n_events = peek(parts)
            c = self.counters[sid]
            sock = self.sockets[sid]
            if kind is FrameKind.EVENTS:
                c.spill_triggered += n_events
                c.run_triggered += n_events
                try:
                    if self.time_compressed:
                        self._send(sock, parts)
                    else:
                        sock.send_multipart(parts, copy=False, flags=zmq.NOBLOCK)
                except zmq.Again:
                    continue
                c.spill_sent += n_events
                c.run_sent += n_events
                continue
            if kind in (FrameKind.EOS, FrameKind.EOR):
                f = decode(parts)
                parts = encode_control(kind, f.run, f.spill, f.source_id, f.n_channels,
                                       f.n_samples, f.time_ns, c.info(kind is FrameKind.EOS))
            if kind is FrameKind.SOS:
                c.spill_triggered = c.spill_sent = 0
            if kind in (FrameKind.SOR, FrameKind.SOS):
                opened[sid] = (kind, decode(parts))
            elif kind is FrameKind.EOS:
                opened[sid] = (FrameKind.SOR, opened[sid][1])
            self._send(sock, parts)  # control frames always go: blocking
        self.beat(force=True)
        return self.counters

    def _send(self, sock: zmq.Socket, parts: list) -> None:
        """Blocking send that keeps the heartbeat going while the consumer holds us back."""
        while True:
            try:
                sock.send_multipart(parts, copy=False, flags=zmq.NOBLOCK)
                return
            except zmq.Again:
                self.beat()
                sock.poll(100, zmq.POLLOUT)

    def beat(self, force: bool = False) -> None:
        if self.heartbeat is None:
            return
        now = time.monotonic()
        if not force and now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat_s
        if os.getppid() != self.parent:  # the supervisor died: end the run and exit
            self.stop_reason = "the supervisor is gone"
        counters = {str(sid): c.info(spill=False) for sid, c in self.counters.items()}
        msg = {"name": self.name, "pid": os.getpid(), "time": time.time(),
               "counters": counters}
        try:
            self.heartbeat.send(json.dumps(msg).encode(), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def _end_early(self, opened: dict[int, tuple[FrameKind, Any]]) -> None:
        """Stopped mid-run: close the open spill and the run, with what was counted."""
        now = time.time_ns()
        for sid, (kind, f) in opened.items():
            c = self.counters[sid]
            if kind is FrameKind.SOS:
                self.sockets[sid].send_multipart(encode_control(
                    FrameKind.EOS, f.run, f.spill, sid, f.n_channels, f.n_samples, now,
                    c.info(spill=True)))
            self.sockets[sid].send_multipart(encode_control(
                FrameKind.EOR, f.run, 0, sid, f.n_channels, f.n_samples, now,
                c.info(spill=False)))

    def close(self) -> None:
        """Flush what is queued, then let go. Frames are sent without copies: their buffers
        must stay alive until ZeroMQ has sent them, so the context is terminated here (it
        waits up to ``linger_s``), not left to the interpreter's exit, which would free the
        buffers under frames still queued (seen as checksum failures at the receiver)."""
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        if self.heartbeat is not None:
            self.heartbeat.close()
        self.context.term()
