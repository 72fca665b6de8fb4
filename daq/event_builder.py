"""Event building: fragments of all sources grouped by (spill, event number), vectorised per
frame, with incomplete events named, counted and bounded; see ``docs/run-control.md``.

:class:`EventAssembler` is the logic (no sockets, tested on its own); :func:`main` is the process.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daq.built_batch import BUILT_DTYPE
from daq.detector import Detector
from daq.wire_format import Frame, FrameKind


@dataclass
class SourceStats:
    """Per-source counters, the builder's share of the ledger."""

    frames: int = 0
    fragments: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    late: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> frames

    def as_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "fragments": self.fragments, "duplicates": self.duplicates,
                "out_of_order": self.out_of_order, "gaps": self.gaps, "late": self.late,
                "rejected": dict(self.rejected)}


class _Spill:
    """Events of one spill waiting for fragments (arrays, one row per event)."""

    def __init__(self, spill: int, n_sources: int):
        self.spill = spill
        self.events = np.zeros(0, np.int64)
        self.have = np.zeros((0, n_sources), bool)
        self.block = np.full((0, n_sources), -1, np.int64)
        self.row = np.zeros((0, n_sources), np.int64)
        self.t_first = np.zeros(0)
        self.trigger = np.zeros(0, np.uint8)
        self.time_ns = np.zeros(0, np.uint64)
        self.done = np.zeros(1024, bool)  # event number -> emitted
        self.last_event = np.zeros(n_sources, np.int64)
        self.eos: dict[int, dict[str, Any]] = {}
        self.complete = 0
        self.incomplete = 0

    def grow(self, top: int) -> None:
        if top >= len(self.done):
            size = max(top + 1, 2 * len(self.done))
            self.done = np.concatenate([self.done, np.zeros(size - len(self.done), bool)])


class EventAssembler:
    """Groups fragments into events; returns built batches and markers to send, in order."""

    def __init__(self, detector: Detector, timeout_s: float, max_pending: int,
                 max_event_number: int, batch_events: int):
        self.detector = detector
        self.sources = list(detector.source_ids)
        self.index = {sid: k for k, sid in enumerate(self.sources)}
        self.channels = [np.asarray(detector.source(s).channels) for s in self.sources]
        self.slices = [_as_slice(c) for c in self.channels]
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.max_event_number = max_event_number
        self.batch_events = batch_events
        self.run_open = False
        self.reset(None)

    def reset(self, run: int | None) -> None:
        self.run = run
        self.stats = {sid: SourceStats() for sid in self.sources}
        self.spills: dict[int, _Spill] = {}
        self.closed: set[int] = set()
        self.blocks: dict[int, list] = {}  # id -> [samples, remaining rows]
        self.next_block = 0
        self.sor: set[int] = set()
        self.last_seen: dict[int, float] = {}  # source -> time of its last frame
        self.eor: dict[int, dict[str, Any]] = {}
        self.out: deque[tuple[str, dict[str, Any], np.ndarray | None, np.ndarray | None]] = deque()
        self.run_ledger = {"triggered": 0, "built_complete": 0, "built_incomplete": 0,
                           "dropped_by_policy": 0, "unseen_unexplained": 0}

    @property
    def pending(self) -> int:
        return sum(len(s.events) for s in self.spills.values())

    # -- input -------------------------------------------------------------------------------
    def reject(self, source_id: int, reason: str) -> None:
        """Count a refused frame, by source and reason. Its events are not trusted: they are
        built from the other sources (incomplete) or, if no source delivered them, show in the
        ledger as unaccounted."""
        stats = self.stats[source_id]
        stats.rejected[reason] = stats.rejected.get(reason, 0) + 1

    def add(self, source_id: int, frame: Frame, now: float) -> None:
        """Take one decoded frame from ``source_id`` (its own socket)."""
        if frame.source_id != source_id:
            self.reject(source_id, "wrong_source")
            return
        if frame.kind is FrameKind.SOR and not self.run_open:
            self.reset(frame.run)
            self.run_open = True
            self._emit_marker("SOR", 0, {"run": frame.run})
        st = self.stats[source_id]
        self.last_seen[source_id] = now
        if not self.run_open:  # after the end of the run: nothing can join it any more
            st.late += frame.n_events
            return
        st.frames += 1
        if frame.run != self.run:
            self.reject(source_id, "wrong_run")
            return
        if frame.kind is FrameKind.SOR:
            self.sor.add(source_id)
            return
        if frame.kind is FrameKind.EOR:
            self.eor[source_id] = frame.info
            if set(self.eor) >= set(self.sources):
                self.finish()
            return
        if frame.spill in self.closed:
            if frame.kind is FrameKind.EVENTS:
                st.late += frame.n_events
            return
        sp = self._spill(frame.spill)
        if frame.kind is FrameKind.SOS:
            return
        if frame.kind is FrameKind.EOS:
            sp.eos[source_id] = frame.info
            if set(sp.eos) >= set(self.sources):
                self.collect(now, close=[frame.spill])
            return
        self._add_events(sp, self.index[source_id], st, frame, now)

    def _spill(self, spill: int) -> _Spill:
        sp = self.spills.get(spill)
        if sp is None:
            sp = self.spills[spill] = _Spill(spill, len(self.sources))
            self._emit_marker("SOS", spill, {})
        return sp

    def _add_events(self, sp: _Spill, k: int, st: SourceStats, frame: Frame, now: float) -> None:
        ev = frame.events["event"].astype(np.int64)
        if ev.min() < 1 or ev.max() > self.max_event_number:
            self.reject(frame.source_id, "absurd_event_number")
            return
        sp.grow(int(ev.max()))
        # order bookkeeping, per source
        prev = np.concatenate([[sp.last_event[k]], ev[:-1]])
        step = ev - prev
        st.out_of_order += int((step <= 0).sum())
        st.gaps += int(np.clip(step - 1, 0, None).sum())
        sp.last_event[k] = max(sp.last_event[k], int(ev.max()))
        # late (event already emitted), duplicate (already here, or twice in this frame)
        rows = np.arange(len(ev))
        late = sp.done[ev]
        st.late += int(late.sum())
        uniq, first = np.unique(ev, return_index=True)
        keep = np.zeros(len(ev), bool)
        keep[first] = True
        keep &= ~late
        pos = np.searchsorted(sp.events, ev)
        here = (pos < len(sp.events)) & (sp.events[np.minimum(pos, len(sp.events) - 1)] == ev) \
            if len(sp.events) else np.zeros(len(ev), bool)
        dup_here = here.copy()
        dup_here[here] = sp.have[pos[here], k]
        st.duplicates += int((len(ev) - len(uniq)) + (dup_here & keep).sum())
        keep &= ~dup_here
        if not keep.any():
            return
        ev, rows = ev[keep], rows[keep]
        # merge the new event numbers into the spill's sorted table
        new = ev[~np.isin(ev, sp.events)]
        if len(new):
            merged = np.union1d(sp.events, new)
            old_at = np.searchsorted(merged, sp.events)
            n = len(merged)
            have = np.zeros((n, len(self.sources)), bool)
            block = np.full((n, len(self.sources)), -1, np.int64)
            row = np.zeros((n, len(self.sources)), np.int64)
            t_first = np.full(n, now)
            trigger = np.zeros(n, np.uint8)
            time_ns = np.zeros(n, np.uint64)
            have[old_at], block[old_at], row[old_at] = sp.have, sp.block, sp.row
            t_first[old_at], trigger[old_at], time_ns[old_at] = sp.t_first, sp.trigger, sp.time_ns
            sp.events, sp.have, sp.block, sp.row = merged, have, block, row
            sp.t_first, sp.trigger, sp.time_ns = t_first, trigger, time_ns
        at = np.searchsorted(sp.events, ev)
        fresh = ~sp.have[at].any(1)
        sp.trigger[at[fresh]] = frame.events["trigger"][rows[fresh]]
        sp.time_ns[at[fresh]] = frame.events["trigger_time_ns"][rows[fresh]]
        bid = self.next_block
        self.next_block += 1
        self.blocks[bid] = [frame.samples, len(ev)]
        sp.have[at, k] = True
        sp.block[at, k] = bid
        sp.row[at, k] = rows
        st.fragments += len(ev)

    # -- output ------------------------------------------------------------------------------
    def collect(self, now: float, close: list[int] | None = None, drain: bool = False) -> None:
        """Emit every event that is ready; ``close`` spills (or all, ``drain``) entirely."""
        close = set(close or ())
        overflow = self.pending - self.max_pending
        if overflow > 0:  # memory bound: the oldest waiting events go out incomplete
            t_all = np.concatenate([s.t_first for s in self.spills.values()])
            cut = np.partition(t_all, overflow - 1)[overflow - 1]
        for spill in sorted(self.spills):
            sp = self.spills[spill]
            if not len(sp.events):
                if drain or spill in close:
                    self._close(sp)
                continue
            if drain or spill in close:
                ready = np.ones(len(sp.events), bool)
            else:
                missing = ~sp.have
                # a missing source that already sent later events skipped this one; a missing
                # source silent for timeout_s since it started is given up; a source that is
                # alive but behind, or has not started yet (crates start seconds apart), is
                # waited for, within max_pending
                skipped = ~(missing & (sp.last_event[None, :] <= sp.events[:, None])).any(1)
                silent = np.array([s in self.sor and now - self.last_seen.get(s, now)
                                   >= self.timeout_s for s in self.sources])
                given_up = ~(missing & ~silent).any(1)
                ready = ~missing.any(1) | skipped | given_up
                if overflow > 0:
                    ready |= sp.t_first <= cut
            if ready.any():
                self._emit_events(sp, np.nonzero(ready)[0])
            if drain or spill in close:
                self._close(sp)

    def _emit_events(self, sp: _Spill, idx: np.ndarray) -> None:
        n_ch, n_s = self.detector.n_channels, self.detector.samples_per_channel
        for lo in range(0, len(idx), self.batch_events):
            sel = idx[lo:lo + self.batch_events]
            n = len(sel)
            have = sp.have[sel]
            events = np.zeros(n, BUILT_DTYPE)
            events["spill"] = sp.spill
            events["event"] = sp.events[sel]
            events["trigger"] = sp.trigger[sel]
            events["trigger_time_ns"] = sp.time_ns[sel]
            complete = have.all(1)
            events["complete"] = complete
            events["missing"] = ((~have).astype(np.uint16)
                                 << np.arange(len(self.sources), dtype=np.uint16)).sum(1)
            samples = np.empty((n, n_ch, n_s), np.uint16)
            for k in range(len(self.sources)):
                chans = self.slices[k] if self.slices[k] is not None else self.channels[k]
                got = np.nonzero(have[:, k])[0]
                if len(got) < n:  # a missing fragment reads as zeros
                    lost = np.nonzero(~have[:, k])[0]
                    if self.slices[k] is not None:
                        samples[lost, chans] = 0
                    else:
                        samples[np.ix_(lost, chans)] = 0
                if not len(got):
                    continue
                blocks = sp.block[sel[got], k]
                rows = sp.row[sel[got], k]
                for bid in np.unique(blocks):
                    mine = blocks == bid
                    block = self.blocks[bid][0]
                    target, src_rows = got[mine], rows[mine]
                    _copy_rows(samples, target, chans, block, src_rows)
                    self.blocks[bid][1] -= len(target)
                    if self.blocks[bid][1] <= 0:
                        del self.blocks[bid]
            sp.complete += int(complete.sum())
            sp.incomplete += int(n - complete.sum())
            sp.done[sp.events[sel]] = True
            header = {"run": self.run, "spill": sp.spill, "n_events": n,
                      "t_first_fragment": float(sp.t_first[sel].min())}
            self.out.append(("events", header, events, samples))
        keep = np.ones(len(sp.events), bool)
        keep[idx] = False
        for name in ("events", "have", "block", "row", "t_first", "trigger", "time_ns"):
            setattr(sp, name, getattr(sp, name)[keep])

    def _close(self, sp: _Spill) -> None:
        """End of spill: account for every triggered event, then the EOS marker."""
        info = sp.eos
        triggered = max([int(i.get("triggered", 0)) for i in info.values()] + [0])
        seen_top = int(np.nonzero(sp.done)[0].max()) if sp.done.any() else 0
        triggered = max(triggered, seen_top)
        numbers = np.arange(1, triggered + 1)
        sp.grow(triggered)
        for k, sid in enumerate(self.sources):  # events skipped at the end of the spill
            if sid in info:  # (a silently faulty crate under-counts: use every crate's)
                self.stats[sid].gaps += max(0, triggered - int(sp.last_event[k]))
        built = sp.complete + sp.incomplete
        built_in_range = int(sp.done[numbers].sum())
        unseen = triggered - built_in_range
        not_sent = [int(info[s].get("not_sent", 0)) for s in self.sources if s in info]
        declared = min(not_sent) if len(not_sent) == len(self.sources) else 0
        dropped = min(unseen, declared)
        ledger = {"triggered": triggered, "built_complete": sp.complete,
                  "built_incomplete": sp.incomplete,
                  "dropped_by_policy": dropped, "unseen_unexplained": unseen - dropped,
                  "built_beyond_triggered": built - built_in_range,
                  "sources_reporting": sorted(int(s) for s in info)}
        for key in self.run_ledger:
            self.run_ledger[key] += ledger[key]
        self._emit_marker("EOS", sp.spill, {"builder": ledger, "sources": {
            str(s): i for s, i in info.items()}})
        del self.spills[sp.spill]
        self.closed.add(sp.spill)

    def finish(self) -> None:
        """End of run (every EOR, or a drain): close every spill, then the EOR marker."""
        self.collect(0.0, drain=True)
        if self.run is not None:
            self._emit_marker("EOR", 0, {"builder": dict(self.run_ledger),
                                         "sources": {str(s): i for s, i in self.eor.items()},
                                         "per_source": self.stats_dict()})
        self.run_open = False

    def stats_dict(self) -> dict[str, Any]:
        return {str(s): st.as_dict() for s, st in self.stats.items()}

    def _emit_marker(self, kind: str, spill: int, info: dict[str, Any]) -> None:
        self.out.append((kind, {"run": self.run, "spill": spill, "info": info}, None, None))


def _run(idx: np.ndarray) -> slice | None:
    """``idx`` as a slice when it is a run of consecutive integers."""
    if len(idx) and int(idx[-1]) - int(idx[0]) == len(idx) - 1 and (
            len(idx) < 3 or bool((np.diff(idx) == 1).all())):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return None


def _copy_rows(out: np.ndarray, target: np.ndarray, chans, block: np.ndarray,
               rows: np.ndarray) -> None:
    """out[target, chans] = block[rows], with one copy when the rows run consecutively (the
    usual case: a source's frame carries consecutive events)."""
    t, r = _run(target), _run(rows)
    if t is not None and r is not None and isinstance(chans, slice):
        out[t, chans] = block[r]
    elif isinstance(chans, slice):
        out[target, chans] = block[rows]
    else:
        out[np.ix_(target, chans)] = block[rows]


def _as_slice(channels: np.ndarray) -> slice | None:
    """A slice when a source's channels are contiguous in the global order (a faster copy)."""
    if len(channels) and np.array_equal(channels, np.arange(channels[0],
                                                            channels[0] + len(channels))):
        return slice(int(channels[0]), int(channels[0]) + len(channels))
    return None


class SourcePacer:
    """Keeps the sources in step: a source too far ahead of the slowest live one is not read
    (so it is back-pressured) until the others catch up. Without this, time-compressed
    sources sharing a few cores drift apart by more than the building timeout."""

    def __init__(self, source_ids, max_lead: int, stall_s: float):
        self.max_lead = max_lead
        self.stall_s = stall_s
        self.position = dict.fromkeys(source_ids, 0)
        self.last_seen = dict.fromkeys(source_ids, 0.0)
        self.ended: set[int] = set()

    def saw(self, sid: int, frame: Frame, now: float) -> None:
        if frame.kind is FrameKind.SOR:
            for s in self.position:  # a new run: every source gets the stall time to start
                self.position[s] = 0
                self.last_seen[s] = max(self.last_seen[s], now)
            self.ended.clear()
        elif frame.kind is FrameKind.EOR:
            self.ended.add(sid)
        elif frame.kind is FrameKind.EVENTS:
            last = int(frame.events["event"][-1])
            self.position[sid] = max(self.position[sid], frame.spill * 2**32 + last)
        elif frame.kind is FrameKind.EOS:
            self.position[sid] = max(self.position[sid], (frame.spill + 1) * 2**32)
        self.last_seen[sid] = now

    def readable(self, now: float) -> set[int]:
        live = [self.position[s] for s in self.position
                if s not in self.ended and now - self.last_seen[s] < self.stall_s]
        if not live:
            return set(self.position)
        slowest = min(live)
        return {s for s, p in self.position.items() if p - slowest <= self.max_lead}


# --- the process ------------------------------------------------------------------------------

_FRAME_ERROR_REASONS = ("magic", "version", "header checksum", "payload checksum", "length",
                        "kind", "reserved", "source id", "channel count", "samples per channel",
                        "exceeds the ADC range", "trigger kind", "info", "part", "too short")


def frame_error_reason(message: str) -> str:
    """A short, countable reason for a refused frame."""
    for word in _FRAME_ERROR_REASONS:
        if word in message:
            return "undecodable: " + word
    return "undecodable"


def main(cfg, detector: Detector, name: str = "builder") -> None:
    import time

    import zmq

    from daq import built_batch
    from daq.component import Component, drain
    from daq.wire_format import FrameError, decode

    comp = Component(name, cfg, io_threads=2)  # its I/O moves every byte twice
    ctx = comp.ctx
    sources = {}
    for sid in detector.source_ids:
        s = ctx.socket(zmq.PULL)
        s.setsockopt(zmq.RCVHWM, 32)
        s.connect(cfg.source_endpoint(sid))
        sources[s] = sid
    work = ctx.socket(zmq.ROUTER)
    work.setsockopt(zmq.ROUTER_MANDATORY, 1)
    work.bind(cfg.endpoints.builder_work)
    writer = ctx.socket(zmq.PUSH)
    writer.connect(cfg.endpoints.writer)
    b = cfg.builder
    asm = EventAssembler(detector, b.timeout_s, b.max_pending_events, b.max_event_number,
                         b.batch_events)
    queue: deque[tuple[int, list]] = deque()
    inflight: dict[bytes, dict[int, list]] = {}
    credit: dict[bytes, int] = {}
    max_queue = 2 * cfg.workers.count * cfg.workers.prefetch + 4
    seq = 0
    built = requeued = 0
    pace = SourcePacer(detector.source_ids, b.max_lead_events, b.stall_s)
    last_collect = 0.0
    while not comp.exiting:
        poller = zmq.Poller()
        if len(queue) < max_queue:  # back-pressure: stop reading when the workers lag
            readable = pace.readable(time.time())
            for s, sid in sources.items():
                if sid in readable:
                    poller.register(s, zmq.POLLIN)
        poller.register(work, zmq.POLLIN)
        poller.register(comp.commands, zmq.POLLIN)
        ready = dict(poller.poll(50))
        now = time.time()  # wall clock: also the monitor's latency reference
        for s, sid in sources.items():
            if s not in ready:
                continue
            for parts in drain(s, 16):
                try:
                    frame = decode(parts, detector)
                except FrameError as exc:
                    asm.reject(sid, frame_error_reason(str(exc)))
                    continue
                asm.add(sid, frame, now)
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
                credit[ident] = credit.get(ident, 0) + int(arg)
                inflight.setdefault(ident, {})
            elif verb == b"done":
                inflight.get(ident, {}).pop(int(arg), None)
                credit[ident] = credit.get(ident, 0) + 1
        got_frames = any(s in ready for s in sources)
        cmd = comp.command()
        if cmd and cmd.get("cmd") == "worker_dead":
            ident = cmd["worker"].encode()
            lost = inflight.pop(ident, {})
            credit.pop(ident, None)
            queue.extendleft(reversed(sorted(lost.items())))
            requeued += len(lost)
        elif cmd and cmd.get("cmd") == "drain":
            asm.finish()
        if got_frames or now - last_collect > 0.05:  # timeouts need only a coarse clock
            asm.collect(now)
            last_collect = now
        while asm.out:
            kind, header, events, samples = asm.out.popleft()
            if kind == "SOR":
                seq = 0
            seq += 1
            if kind == "events":
                built += header["n_events"]
                queue.append((seq, built_batch.encode(dict(header, seq=seq, kind=kind), events,
                                                      samples)))
            else:  # lossless: may wait
                comp.send(writer, built_batch.marker(seq, kind, header["run"], header["spill"],
                                                     header["info"]))
        while queue and credit:
            ident = max(credit, key=credit.get)
            if credit[ident] <= 0:
                break
            seq_out, parts = queue.popleft()
            try:
                work.send_multipart([ident, *parts], copy=False)
            except zmq.ZMQError:  # that worker is gone: forget it, keep the batch
                credit.pop(ident, None)
                queue.appendleft((seq_out, parts))
                queue.extendleft(reversed(sorted(inflight.pop(ident, {}).items())))
                continue
            credit[ident] -= 1
            inflight.setdefault(ident, {})[seq_out] = parts
        comp.counters = {"run": asm.run, "built_events": built, "pending_events": asm.pending,
                         "queued_batches": len(queue), "requeued_batches": requeued,
                         "in_flight": sum(len(v) for v in inflight.values()),
                         "sources": asm.stats_dict(), "last_seq": seq}
        comp.beat()
    comp.close()
