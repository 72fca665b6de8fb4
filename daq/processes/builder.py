"""The event builder process: reads every source's socket (as the pacer and the workers'
back-pressure allow), decodes and validates frames, hands them to the :class:`EventAssembler`,
and deals the built batches to the workers by credit (markers go to the writer)."""

from __future__ import annotations

import time
from collections import deque

import zmq

from daq.building.assembler import EventAssembler, warm_up
from daq.building.pacer import SourcePacer
from daq.core import built_batch
from daq.core.detector import Detector
from daq.core.process_shell import ProcessShell, bind, drain
from daq.core.wire_format import FrameError, decode


class WorkerCredit:
    """Built batches waiting for a worker, and what each worker may still take (credit) and
    holds (in flight, by sequence number), so that a dead worker's batches go out again."""

    def __init__(self, max_queue: int):
        self.max_queue = max_queue
        self.queue: deque[tuple[int, list]] = deque()
        self.inflight: dict[bytes, dict[int, list]] = {}
        self.credit: dict[bytes, int] = {}
        self.requeued = 0

    @property
    def full(self) -> bool:
        """Back-pressure: the builder stops reading the sources while this holds."""
        return len(self.queue) >= self.max_queue

    def ready(self, ident: bytes, n: int) -> None:
        self.credit[ident] = self.credit.get(ident, 0) + n
        self.inflight.setdefault(ident, {})

    def done(self, ident: bytes, seq: int) -> None:
        self.inflight.get(ident, {}).pop(seq, None)
        self.credit[ident] = self.credit.get(ident, 0) + 1

    def forget(self, ident: bytes) -> None:
        """A worker is gone: its batches in flight go back to the head of the queue."""
        self.credit.pop(ident, None)
        lost = self.inflight.pop(ident, {})
        self.queue.extendleft(reversed(sorted(lost.items())))
        self.requeued += len(lost)

    def deal(self, work: zmq.Socket) -> None:
        """Send queued batches to the workers with the most credit."""
        while self.queue and self.credit:
            ident = max(self.credit, key=self.credit.get)
            if self.credit[ident] <= 0:
                break
            seq, parts = self.queue.popleft()
            try:
                work.send_multipart([ident, *parts], copy=False)
            except zmq.ZMQError:  # that worker is gone: forget it, keep the batch
                self.queue.appendleft((seq, parts))
                self.forget(ident)
                continue
            self.credit[ident] -= 1
            self.inflight.setdefault(ident, {})[seq] = parts

    @property
    def in_flight(self) -> int:
        return sum(len(v) for v in self.inflight.values())


def main(cfg, detector: Detector, name: str = "builder") -> None:
    warm_up(detector)  # compile before the first heartbeat, not in the middle of a run
    shell = ProcessShell.for_daq(name, cfg, io_threads=2)  # its I/O moves every byte twice
    ctx = shell.ctx
    sources = {}
    for sid in detector.source_ids:
        s = ctx.socket(zmq.PULL)
        s.setsockopt(zmq.RCVHWM, 32)
        shell.connect(s, cfg.source_endpoint(sid), data=True)
        sources[s] = sid
    work = ctx.socket(zmq.ROUTER)
    work.setsockopt(zmq.ROUTER_MANDATORY, 1)
    bind(work, cfg.endpoints, "builder_work", shell.data_guard)
    writer = ctx.socket(zmq.PUSH)
    shell.connect(writer, cfg.endpoints.writer, data=True)
    b = cfg.builder
    asm = EventAssembler(detector, b.timeout_s, b.max_pending_events, b.max_event_number,
                         b.batch_events, b.spill_window)
    workers = WorkerCredit(2 * cfg.workers.count * cfg.workers.prefetch + 4)
    seq = built = 0
    pace = SourcePacer(detector.source_ids, b.max_lead_events, b.stall_s)
    last_collect = 0.0
    poller = zmq.Poller()
    poller.register(work, zmq.POLLIN)
    poller.register(shell.commands, zmq.POLLIN)
    polled: set[int] = set()  # the sources registered with the poller
    stopping = False  # run control stopped the run: its crates end with one spill
    by_id = {sid: s for s, sid in sources.items()}

    def counters() -> None:  # before each heartbeat, not per batch
        shell.counters = {"run": asm.run, "built_events": built, "pending_events": asm.pending,
                          "rejected_between_runs": {str(k): v for k, v in
                                                    asm.idle_rejected.items() if v},
                          "queued_batches": len(workers.queue),
                          "requeued_batches": workers.requeued,
                          "in_flight": workers.in_flight,
                          "sources": asm.stats_dict(), "last_seq": seq}
    shell.before_beat = counters
    while not shell.exiting:
        listening = set() if workers.full else pace.readable(time.monotonic())
        for sid in listening ^ polled:
            if sid in listening:
                poller.register(by_id[sid], zmq.POLLIN)
            else:
                poller.unregister(by_id[sid])
        polled = listening
        ready = dict(poller.poll(50))
        if ready:
            shell.worked()
        # timeouts and pacing on the monotonic clock: a wall clock stepped an hour forward (NTP)
        # gave up every event still waiting for a crate, and stepped back, timed out nothing
        now = time.monotonic()
        cmd = shell.command()  # before the frames: the run they may open is the command's
        if cmd and cmd.get("cmd") == "run" and type(cmd.get("run")) is int:
            asm.expect(cmd["run"])
            stopping = False
        elif cmd and cmd.get("cmd") == "worker_dead":
            workers.forget(str(cmd.get("worker")).encode())
        elif cmd and cmd.get("cmd") == "drain" and type(cmd.get("run")) is int:
            asm.drain(cmd["run"], now)
        elif cmd and cmd.get("cmd") == "stopping" and cmd.get("run") == asm.run:
            stopping = True
        # a stopped crate that waits at a spill's end for the others is silent by design:
        # not given up, until run control drains the run
        asm.not_listening(set(sources.values()) if stopping and not asm.draining
                          else set(sources.values()) - listening, now)
        for s, sid in sources.items():
            if s not in ready:
                continue
            for parts in drain(s, 16):
                try:
                    frame = decode(parts, detector)
                except FrameError as exc:
                    asm.reject(sid, "undecodable" if exc.reason == "undecodable"
                               else "undecodable: " + exc.reason)
                    continue
                if asm.add(sid, frame, now):
                    pace.saw(sid, frame, now)
                if sid not in pace.readable(now):
                    break
        while work in ready:
            try:
                ident, verb, arg = work.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            except ValueError:
                continue
            if verb == b"ready":
                workers.ready(ident, int(arg))
            elif verb == b"done":
                workers.done(ident, int(arg))
        if any(s in ready for s in sources) or now - last_collect > 0.05:
            asm.collect(now)  # timeouts need only a coarse clock
            last_collect = now
            if asm.draining and asm.sources_done(now):
                asm.finish()
        while asm.out:
            kind, header, events, samples = asm.out.popleft()
            if kind == "SOR":
                seq = 0
            seq += 1
            if kind == "events":
                built += header["n_events"]  # the monitor's latency reference: wall clock
                header["t_first_fragment"] += time.time() - time.monotonic()
                workers.queue.append((seq, built_batch.encode(dict(header, seq=seq, kind=kind),
                                                              events, samples)))
            else:  # lossless: may wait
                shell.send(writer, built_batch.marker(seq, kind, header["run"], header["spill"],
                                                      header["info"]))
        workers.deal(work)
        shell.beat()
    shell.close()
