"""Publishing frames on ZeroMQ, one PUSH socket per readout source, as the crates would.

Time-compressed mode blocks on back-pressure (emits as fast as the consumers take). Real-time
mode never waits for a consumer: a batch that cannot be queued is not sent and counted, and the
source's end-of-spill and end-of-run frames carry those counts (the loss ledger needs them at
the stage that knows them).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import zmq

from daq.core.process_shell import ProcessShell
from daq.core.wire_format import EVENT_DTYPE, HEADER, FrameKind, decode, encode_control, peek

#: a crate waiting for its trigger looks for it this often (a flag its signal sets)
GO_POLL_S = 0.005


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


class Abandoned(Exception):
    """The run cannot be ended by sending: nobody takes the frames any more."""


class Publisher:
    """Sends ``(emit_time_s, source_id, parts)`` items on per-source endpoints."""

    def __init__(self, endpoints: dict[int, str], time_compressed: bool = True, pace: float = 1.0,
                 send_hwm: int = 16, linger_s: float = 10.0,
                 context: zmq.Context | None = None, heartbeat: str | None = None,
                 name: str = "source", heartbeat_s: float = 1.0, wait_for_go: bool = False,
                 commands: str | None = None, hold_s: float = 5.0,
                 endpoint_gone: Callable[[int, int], float] | None = None,
                 curve: tuple[str, str] | None = None, curve_data: bool = False):
        """``endpoint_gone(source, spill)``: the seconds a source's endpoint disappears after
        its first batch of the spill, 0 for never (the emulator's ``faults.gone_source``).
        ``curve``, ``curve_data``: the DAQ's CURVE, as :class:`ProcessShell` takes them."""
        self.context = context or zmq.Context()
        self.endpoints = endpoints
        self.send_hwm = send_hwm
        self.endpoint_gone = endpoint_gone
        self.gone: set[tuple[int, int]] = set()  # (source, spill) whose endpoint went
        self.name = name
        self._starting = False
        self.linger_s = linger_s
        #: a second stop came: a blocked send gives up
        self.abandon = False
        #: under run control: the process shell every DAQ process has (heartbeats with the
        #: counters; the run ended cleanly when the supervisor is gone). Run control starts
        #: and stops a crate with signals, which the command handles; its commands say where
        #: a stop ends: the spill, time-compressed (``end_after_spill``), the trigger time at
        #: the beam's pace (``end_after_s``)
        self.shell = None
        if heartbeat:
            self.shell = ProcessShell(name, heartbeat, commands, heartbeat_s,
                                      context=self.context, on_orphaned=self._orphaned,
                                      handle_sigterm=False, heartbeat_linger_ms=0,
                                      curve=curve, curve_data=curve_data)
            self.shell.before_beat = self._counters
        #: a time-compressed stop: the last spill this crate ended, while it waits at most
        #: ``hold_s`` for the spill every crate ends with (the latest any crate is in)
        self.held_after_spill: int | None = None
        self.hold_s = hold_s
        self.end_after_spill: int | None = None
        #: at the beam's pace, stopped: the stop on run control's clock, in seconds of the
        #: run since the trigger was enabled (``end_after_s``); nothing triggered later is
        #: read out. Alone, or told nothing, the moment this crate handled the stop
        self.end_after_s: float | None = None
        self.time_compressed = time_compressed
        self.pace = pace
        #: why to end the run early (set by :meth:`request_stop`): finish the run cleanly
        self.stop_reason: str | None = None
        self.stop_at = 0.0  # monotonic time of the request: the stop if none is told
        #: the trigger is enabled (run control's SIGUSR1 to every crate at once,
        #: :meth:`enable_trigger`)
        self.go = not wait_for_go
        self.sockets: dict[int, zmq.Socket] = {}
        self.counters = {sid: SourceCounters() for sid in endpoints}
        for sid in endpoints:
            try:
                self.sockets[sid] = self._bound(sid)
            except OSError:
                self.close()
                raise

    def _bound(self, sid: int) -> zmq.Socket:
        sock = self.context.socket(zmq.PUSH)
        sock.setsockopt(zmq.SNDHWM, self.send_hwm)
        sock.setsockopt(zmq.LINGER, int(self.linger_s * 1000))
        guard = self.shell.data_guard if self.shell is not None else None
        try:
            if guard is None:
                sock.bind(self.endpoints[sid])
            else:
                guard.bind(sock, self.endpoints[sid])
        except zmq.ZMQError as exc:
            sock.close(linger=0)  # not yet ours to close: term() would wait for it
            raise OSError(f"source {sid}: cannot bind {self.endpoints[sid]} ({exc})") from None
        return sock

    def _endpoint_goes(self, sid: int, spill: int) -> None:
        """The fault of a crate whose endpoint disappears (its socket closed, what was queued
        in it lost) and comes back ``endpoint_gone`` seconds later, bound again."""
        seconds = self.endpoint_gone(sid, spill) if self.endpoint_gone else 0.0
        if seconds <= 0 or (sid, spill) in self.gone:
            return
        self.gone.add((sid, spill))
        self.sockets.pop(sid).close(linger=0)
        back = time.monotonic() + seconds
        while time.monotonic() < back and not self.abandon:
            self.beat()
            time.sleep(0.05)
        self.sockets[sid] = self._bound(sid)

    def run(self, items: Iterable[tuple[float, int, list]]) -> dict[int, SourceCounters]:
        while not self.go and not self.stop_reason:  # ready, and saying so
            self.beat()
            time.sleep(GO_POLL_S)
        try:
            self._run(items)
        except Abandoned as exc:
            print(f"{self.name}: {exc}", flush=True)
        return self.counters

    def _run(self, items: Iterable[tuple[float, int, list]]) -> None:
        start = time.monotonic()
        opened: dict[int, tuple[FrameKind, Any]] = {}  # source -> last SOR/SOS frame
        last_ns: dict[int, int] = {}  # source -> crate clock of its last event read out
        last_spill = 0  # the last spill every source of this process ended
        t0_ns = None  # the run's start on the crates' clock (its first frame, a SOR)
        items = iter(items)
        for emit_s, sid, parts in items:
            self.beat()
            t0_ns = _frame_ns(parts) if t0_ns is None else t0_ns
            while not self.time_compressed and (not self.stop_reason or (
                    self._ends_with_spill and _in_spill(opened))) and (
                    delay := start + emit_s / self.pace - time.monotonic()) > 0:
                time.sleep(min(delay, 0.2))
                self.beat()
            if self.stop_reason and (self.abandon or (
                    self._ends_here(opened, last_spill) if self._ends_with_spill
                    else self._triggered_after_stop(parts, start, t0_ns))):
                # every crate ends at the same trigger, and the stop cuts no event in two: at
                # the beam's pace on run control's clock (``_triggered_after_stop``), else
                # with one spill (``_ends_here``)
                print(f"{self.name}: ending the run early: {self.stop_reason}", flush=True)
                self._open_run(sid, parts, items, opened)
                self._end_early(opened, last_ns)
                break
            kind, _, n_events = peek(parts)
            c = self.counters[sid]
            sock = self.sockets[sid]
            if kind is FrameKind.EVENTS:
                c.spill_triggered += n_events
                c.run_triggered += n_events
                last_ns[sid] = _frame_ns(parts)
                try:
                    if self.time_compressed:
                        self._send(sock, parts)
                    else:
                        sock.send_multipart(parts, copy=False, flags=zmq.NOBLOCK)
                except zmq.Again:
                    continue
                c.spill_sent += n_events
                c.run_sent += n_events
                self._endpoint_goes(sid, opened[sid][1].spill)
                continue
            if kind in (FrameKind.EOS, FrameKind.EOR):
                f = decode(parts)
                parts = encode_control(kind, f.run, f.spill, f.source_id, f.n_channels,
                                       f.n_samples, f.time_ns, c.info(kind is FrameKind.EOS))
            if kind is FrameKind.SOS:
                c.spill_triggered = c.spill_sent = 0
            if kind in (FrameKind.SOR, FrameKind.SOS):
                opened[sid] = (kind, decode(parts))
                last_ns[sid] = opened[sid][1].time_ns
            elif kind is FrameKind.EOS:
                opened[sid] = (FrameKind.SOR, opened[sid][1])
                if not _in_spill(opened):
                    last_spill = max(last_spill, f.spill)
            self._send(sock, parts)  # control frames always go: blocking
        self.beat(force=True)

    def request_stop(self, reason: str) -> None:
        """End the run: at the beam's pace, after what was triggered before the stop run
        control names (``_triggered_after_stop``); time-compressed, or orphaned, at the end
        of a spill (``_ends_with_spill``). A second request ends at once, and gives up what
        cannot be sent."""
        if self.stop_reason is not None:
            self.abandon = True
            return
        self.stop_at = time.monotonic()
        self.stop_reason = reason

    def enable_trigger(self) -> None:
        """Start the run: called from the SIGUSR1 handler, so it only sets a flag. A handler
        runs in the main thread between two bytecodes, perhaps while that thread holds the
        lock of the ``threading.Event`` this once was, waiting on it: ``set()`` then waited
        for that lock for ever, and the crate fell silent at its trigger. No signal handler
        of ours takes a lock (``tests/daq/test_signal_handlers.py``)."""
        self.go = True

    @property
    def _ends_with_spill(self) -> bool:
        """Whether a stop ends at a spill's end rather than at a trigger: time-compressed,
        crates share no clock and run up to max_lead_events apart (a stop at once cut up to
        3,072 events); an orphan at the beam's pace has no one to time its stop (each taking
        the moment it heard its supervisor die, a batch apart: 64 of 1,408 events cut), and
        reads out the spill it is in, at its pace: the spill is the one clock crates share."""
        return self.time_compressed or (self.orphaned and self.end_after_s is None)

    def _ends_here(self, opened: dict[int, tuple[FrameKind, Any]], last_spill: int) -> bool:
        """Stopped, ending with a spill (``_ends_with_spill``): whether the run ends before
        this frame. Not inside a spill; at a spill's end, under run control, the crate holds
        and says which spill it ended (``held_after_spill``) until the supervisor names the
        spill every crate ends with, the latest any is in; it goes on to that spill's end.
        Alone, orphaned, or without an answer within ``hold_s``, it ends where it is (what
        other crates sent beyond is then counted as cut by the stop)."""
        if _in_spill(opened):
            return False
        if self.end_after_spill is None and self._answered():
            self.held_after_spill = last_spill
            self.beat(force=True)
            self.end_after_spill = self._told("end_after_spill", "spill", int)
            self.held_after_spill = None
        return self.end_after_spill is None or last_spill >= self.end_after_spill

    def _triggered_after_stop(self, parts: list, start: float, t0_ns: int) -> bool:
        """At the beam's pace and stopped: whether this frame was triggered after the stop.
        The stop is run control's (``end_after_s``), the same for every crate: each crate
        taking the moment it handled its SIGTERM, a crate that handled it late (busy, or not
        scheduled on a loaded machine) read out more than the others (64 of 12,079 events
        cut on a loaded CI machine). The frame's time is its last trigger's, not when it is
        due: a crate that lags still reads out what was triggered before the stop, as does
        one behind its schedule."""
        if self.end_after_s is None:
            told = self._told("end_after_s", "s", float) if self._answered() and \
                self.go else None  # never enabled: nothing triggered, no wait
            self.end_after_s = self.stop_at - start if told is None else told
        return (_frame_ns(parts) - t0_ns) * 1e-9 > self.end_after_s * self.pace

    def _answered(self) -> bool:
        """Under run control, whose answer to a stop can come (not alone, not orphaned)."""
        return self.shell is not None and self.shell.commands is not None and not self.orphaned

    def _told(self, name: str, key: str, kind: type) -> Any:
        """Run control's command ``name`` to a stopped crate: its ``key``, waited for at
        most ``hold_s`` with the heartbeat going, None if none came (a second stop ends the
        wait). Other commands are dropped: a crate has no other use for them."""
        deadline = time.monotonic() + self.hold_s
        while not self.abandon and time.monotonic() < deadline:
            cmd = self.shell.command()
            if cmd is None:
                self.beat()
                time.sleep(0.02)
            elif cmd.get("cmd") == name and type(cmd.get(key)) is kind:
                return cmd[key]
        return None

    def _open_run(self, sid: int, parts: list, items, opened) -> None:
        """Stopped before every source has opened the run: send the start-of-run frames
        still to come (they lead the stream), so that the run opens and closes everywhere,
        with nothing in it, and the stop is a clean end rather than a run that never was."""
        while len(opened) < len(self.sockets):
            if peek(parts)[0] is not FrameKind.SOR:
                return
            opened[sid] = (FrameKind.SOR, decode(parts))
            self._send(self.sockets[sid], parts)
            try:
                _, sid, parts = next(items)
            except StopIteration:
                return

    def _send(self, sock: zmq.Socket, parts: list) -> None:
        """Blocking send that keeps the heartbeat going while the consumer holds us back. An
        orphan (its supervisor gone, so its builder too) gives up after ``linger_s``, and a
        second stop at once: four crates blocked for ever on a builder that was gone once
        held their ports for an hour, deaf to SIGTERM."""
        blocked_since = time.monotonic()
        while True:
            try:
                sock.send_multipart(parts, copy=False, flags=zmq.NOBLOCK)
                return
            except zmq.Again:
                self.beat()
                if self.abandon:
                    raise Abandoned("stopped again while blocked: giving up") from None
                if self.orphaned and time.monotonic() - blocked_since > self.linger_s:
                    self.abandon = True  # what is queued is given up too
                    raise Abandoned(f"nobody took a frame for {self.linger_s:g} s after the "
                                    "supervisor was gone: giving up") from None
                sock.poll(100, zmq.POLLOUT)

    @property
    def orphaned(self) -> bool:
        """The supervisor is gone: no one times a stop or answers a hold, and a blocked send
        gives up after ``linger_s``."""
        return self.shell is not None and self.shell.orphaned

    def _orphaned(self) -> None:
        if not self.stop_reason:
            self.request_stop("the supervisor is gone")

    def _counters(self) -> None:
        counters: dict[str, Any] = {str(sid): c.info(spill=False)
                                    for sid, c in self.counters.items()}
        if self.held_after_spill is not None:
            counters["held_after_spill"] = self.held_after_spill
        if self._starting:
            counters["starting"] = True
        elif not self.go:
            counters["ready"] = True  # waiting for the trigger to be enabled
        self.shell.counters = counters

    def beat(self, force: bool = False) -> None:
        if self.shell is not None:
            self.shell.beat(force)

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Heartbeats from a thread while the caller gets ready (the JIT compiles the
        kernels, a file is read): a crate compiling on a cold cache for over a minute was
        taken for dead before it ever beat."""
        self._starting = True
        try:
            with self.beating():
                yield
        finally:
            self._starting = False

    @contextlib.contextmanager
    def beating(self) -> Iterator[None]:
        """Heartbeats from a thread while the caller is busy without sending (getting ready,
        or closing the truth file after the run: a crate that took over 3 s to write it was
        taken for dead, and its finished run ended in error)."""
        if self.shell is None:
            yield
            return
        with self.shell.beating():
            yield

    def _end_early(self, opened: dict[int, tuple[FrameKind, Any]],
                   last_ns: dict[int, int]) -> None:
        """Stopped mid-run: close the open spill and the run, with what was counted. The end
        is on the crates' clock: the last event read out (or the start, if none was), so that
        a cut spill's length, and the electrons on target that follow from it, are real."""
        for sid, (kind, f) in opened.items():
            c = self.counters[sid]
            end_ns = max(last_ns.get(sid, f.time_ns), f.time_ns)
            if kind is FrameKind.SOS:
                self._send(self.sockets[sid], encode_control(
                    FrameKind.EOS, f.run, f.spill, sid, f.n_channels, f.n_samples, end_ns,
                    dict(c.info(spill=True), stopped=True)))
            self._send(self.sockets[sid], encode_control(
                FrameKind.EOR, f.run, 0, sid, f.n_channels, f.n_samples, end_ns,
                dict(c.info(spill=False), stopped=True)))

    def close(self) -> None:
        """Flush what is queued, then let go. Frames are sent without copies: their buffers
        must stay alive until ZeroMQ has sent them, so the context is terminated here (it
        waits up to ``linger_s``), not left to the interpreter's exit, which would free the
        buffers under frames still queued (seen as checksum failures at the receiver)."""
        for sock in self.sockets.values():
            # an orphan flushes too: at once, its end of run was lost with the builder waiting
            sock.close(linger=0 if self.abandon else None)
        self.sockets.clear()
        if self.shell is not None:
            self.shell.close(final_beat=False)
        self.context.term()


def _in_spill(opened: dict[int, tuple[FrameKind, Any]]) -> bool:
    """Whether any source of this process has a spill open (its SOS sent, its EOS not)."""
    return any(k is FrameKind.SOS for k, _ in opened.values())


def _frame_ns(parts: list) -> int:
    """When a frame this process encoded was triggered on the crates' clock: an EVENTS
    frame's last trigger (its header's time is its spill's start), a control frame's time."""
    time_ns = int(HEADER.unpack_from(memoryview(parts[0]))[12])
    if peek(parts)[0] is FrameKind.EVENTS:
        return time_ns + _last_trigger_ns(parts)
    return time_ns


def _last_trigger_ns(parts: list) -> int:
    """Trigger time in the spill of the last event of an EVENTS frame this process encoded."""
    return int(np.frombuffer(parts[1], EVENT_DTYPE)[-1]["trigger_time_ns"])
