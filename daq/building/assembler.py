"""Event building: fragments of all sources grouped by (spill, event number), vectorised per
frame, with incomplete events named, counted and bounded; see ``docs/run-control.md``.

:class:`EventAssembler` is the logic (no sockets, tested on its own); the process that feeds it
from the sources' sockets is ``daq/processes/builder.py``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from daq.core.built_batch import BUILT_DTYPE
from daq.core.detector import Detector
from daq.core.wire_format import Frame, FrameKind


@dataclass
class SourceStats:
    """Per-source counters, the builder's share of the ledger."""

    frames: int = 0
    fragments: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    gaps: int = 0
    late: int = 0
    mismatched: int = 0  # fragments whose trigger kind or time was not their event's
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> frames

    def as_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "fragments": self.fragments, "duplicates": self.duplicates,
                "out_of_order": self.out_of_order, "gaps": self.gaps, "late": self.late,
                "mismatched": self.mismatched, "rejected": dict(self.rejected)}


class _Spill:
    """Events of one spill waiting for fragments: arrays indexed by event number - ``base``, so
    taking a fragment is a lookup, not a merge (the builder's hot path)."""

    def __init__(self, spill: int, n_sources: int):
        self.spill = spill
        self.n_sources = n_sources
        self.base = 0  # event number of row 0 of the per-event arrays
        self.lo = 0  # no pending event below this number
        self.hi = 0  # no event at or above this number seen yet
        self.n_pending = 0
        self._allocate(0, 1024)
        self.done = np.zeros(1024, bool)  # event number -> emitted
        self.last_event = np.zeros(n_sources, np.int64)
        self.eos: dict[int, dict[str, Any]] = {}
        self.start_ns = 0  # the spill's start and end, as the crates' clocks say (SOS, EOS)
        self.end_ns = 0
        self.complete = 0
        self.incomplete = 0

    def _allocate(self, base: int, size: int) -> None:
        """Per-event arrays of ``size`` rows from event number ``base``, keeping what the
        current ones hold in that range (rows below ``lo`` are emitted or unseen: no loss)."""
        old = {name: getattr(self, name) for name in _PER_EVENT if hasattr(self, name)}
        n = self.n_sources
        self.have = np.zeros((size, n), bool)
        self.block = np.full((size, n), -1, np.int32)
        self.row = np.zeros((size, n), np.int32)
        self.t_first = np.zeros(size)
        self.trigger = np.zeros(size, np.uint8)
        self.time_ns = np.zeros(size, np.uint64)
        self.src_trigger = np.zeros((size, n), np.uint8)  # what each crate said
        self.src_time = np.zeros((size, n), np.uint64)
        shift = self.base - base  # old row i is new row i + shift
        for name, values in old.items():
            src, dst = max(0, -shift), max(0, shift)
            count = min(len(values) - src, size - dst)
            if count > 0:
                getattr(self, name)[dst:dst + count] = values[src:src + count]
        self.base = base

    def grow_done(self, top: int) -> None:
        if top >= len(self.done):
            size = max(top + 1, 2 * len(self.done))
            self.done = np.concatenate([self.done, np.zeros(size - len(self.done), bool)])

    def reserve(self, bottom: int, top: int, max_span: int) -> bool:
        """Room for event numbers ``bottom..top``; False when that would span more than
        ``max_span`` events (a source jumping far ahead: not trusted, memory stays bounded)."""
        self.grow_done(top)
        if bottom >= self.base and top - self.base < len(self.t_first):
            return True
        base = min(bottom, self.lo)
        top = max(top, self.hi - 1)  # the rows already seen stay (an early frame came late)
        if top - base >= max_span:
            return False
        size = len(self.t_first)
        while top - base >= size:
            size *= 2
        self._allocate(base, size)
        return True

    def pending_events(self) -> np.ndarray:
        """Event numbers seen from some source and not emitted yet, in order."""
        lo, hi = self.lo - self.base, self.hi - self.base
        seen = self.have[lo:hi].any(1) & ~self.done[self.lo:self.hi]
        return np.nonzero(seen)[0] + self.lo


_PER_EVENT = ("have", "block", "row", "t_first", "trigger", "time_ns", "src_trigger",
              "src_time")


@njit(cache=True, nogil=True)
def take_fragments(ev, k, bid, now, trigger_in, time_in, base, have, block, row, t_first,
                   trigger, time_ns, src_trigger, src_time, done, last_event):
    """Books one frame's fragments of source ``k`` into the spill's arrays, each with the
    trigger kind and time its crate gave (the event's are decided when it is emitted, by the
    crates' majority). Returns the counts (out of order, gaps, late, duplicates, taken, newly
    pending events)."""
    ooo = gaps = late = dup = taken = fresh = 0
    prev = last_event[k]
    for i in range(len(ev)):
        e = ev[i]
        step = e - prev
        if step <= 0:
            ooo += 1
        else:
            gaps += step - 1
        prev = e
        if e > last_event[k]:
            last_event[k] = e
        if done[e]:
            late += 1
            continue
        r = e - base
        if have[r, k]:
            dup += 1
            continue
        seen = False
        for j in range(have.shape[1]):
            seen |= have[r, j]
        if not seen:
            fresh += 1
            t_first[r] = now
            trigger[r] = trigger_in[i]
            time_ns[r] = time_in[i]
        src_trigger[r, k] = trigger_in[i]
        src_time[r, k] = time_in[i]
        have[r, k] = True
        block[r, k] = bid
        row[r, k] = i
        taken += 1
    return ooo, gaps, late, dup, taken, fresh


@njit(cache=True, nogil=True)
def fragment_runs(blocks, rows):
    """Per source (column), the runs of consecutive events filled from consecutive rows of one
    block (frame), as rows ``(source, first event, length, block, first row)``; block -1: the
    fragments are missing."""
    out = np.empty((blocks.size, 5), np.int64)
    m = 0
    for k in range(blocks.shape[1]):
        for i in range(blocks.shape[0]):
            b, r = blocks[i, k], rows[i, k]
            if i and b == out[m - 1, 3] and (b < 0 or r == out[m - 1, 4] + out[m - 1, 2]):
                out[m - 1, 2] += 1
            else:
                out[m, 0], out[m, 1], out[m, 2], out[m, 3], out[m, 4] = k, i, 1, b, r
                m += 1
    return out[:m]


class EventAssembler:
    """Groups fragments into events; returns built batches and markers to send, in order."""

    def __init__(self, detector: Detector, timeout_s: float, max_pending: int,
                 max_event_number: int, batch_events: int, spill_window: int = 2):
        self.detector = detector
        self.sources = list(detector.source_ids)
        self.index = {sid: k for k, sid in enumerate(self.sources)}
        self.channels = [np.asarray(detector.source(s).channels) for s in self.sources]
        self.slices = [_as_slice(c) for c in self.channels]
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.max_event_number = max_event_number
        self.batch_events = batch_events
        # per spill, event numbers waiting at once span at most this (memory bound)
        self.max_span = max(1 << 20, 4 * max_pending)
        #: spills open at once at most: a frame of a spill beyond the newest open one by
        #: more than this is refused (absurd spill numbers cannot open spills without end)
        self.spill_window = spill_window
        self.run_open = False
        self.draining = False  # run control asked to close the run (sources_done, then finish)
        #: the run the supervisor commanded: the only one a SOR may open (None: no run)
        self.commanded: int | None = None
        #: frames refused while no run was open, by source and reason (never reset)
        self.idle_rejected: dict[int, dict[str, int]] = {sid: {} for sid in self.sources}
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
        self.run_ledger = {"triggered": 0, "cut_by_stop": 0, "built_complete": 0,
                           "built_incomplete": 0,
                           "dropped_by_policy": 0, "unseen_unexplained": 0}

    @property
    def pending(self) -> int:
        return sum(s.n_pending for s in self.spills.values())

    # -- input -------------------------------------------------------------------------------
    def not_listening(self, source_ids: Iterable[int], now: float) -> None:
        """The builder is not reading these sources now (back-pressure from the workers, or
        the pacer holding a source that is ahead): their silence is the builder's, not theirs,
        so it does not count towards ``timeout_s`` (complete events were emitted incomplete
        after a second of back-pressure, their late fragments thrown away)."""
        for sid in source_ids:
            if sid in self.last_seen:
                self.last_seen[sid] = now

    def reject(self, source_id: int, reason: str) -> None:
        """Count a refused frame, by source and reason. Its events are not trusted: they are
        built from the other sources (incomplete) or, if no source delivered them, show in the
        ledger as unaccounted."""
        stats = self.stats[source_id]
        stats.rejected[reason] = stats.rejected.get(reason, 0) + 1

    def expect(self, run: int) -> None:
        """The supervisor started ``run``: its SOR frames may open it (nothing else can)."""
        self.commanded = run

    def drain(self, run: int, now: float) -> None:
        """Run control ends ``run`` (stopped, or some source died): close it once every source
        has ended its run or fallen silent, so that frames still on their way are built (a
        drain that closed at once emitted complete events, queued in the sockets, as
        incomplete). A run no source opened (stopped in their start-up) opens and closes."""
        if not self.run_open and self.run != run:
            self.open_run(run)
        if self.run == run and self.run_open:
            self.draining = True
            if self.sources_done(now):
                self.finish()

    def sources_done(self, now: float) -> bool:
        return all(s in self.eor or now - self.last_seen.get(s, -np.inf) >= self.timeout_s
                   for s in self.sources)

    def open_run(self, run: int) -> None:
        self.reset(run)
        self.run_open = True
        self.draining = False
        self._emit_marker("SOR", 0, {"run": run})

    def add(self, source_id: int, frame: Frame, now: float) -> bool:
        """Take one decoded frame from ``source_id`` (its own socket); False if it was
        refused (then it must not move anything else, such as the pacer)."""
        if frame.source_id != source_id:
            self.reject(source_id, "wrong_source")
            return False
        if not self.run_open:
            if frame.kind is FrameKind.SOR and frame.run == self.commanded:
                self.open_run(frame.run)
            else:  # a run not commanded, or its frames after it ended: nothing opens
                reason = ("late" if frame.run == self.run and frame.run is not None else
                          "uncommanded_sor" if frame.kind is FrameKind.SOR else "no_run_open")
                idle = self.idle_rejected[source_id]
                idle[reason] = idle.get(reason, 0) + 1
                return False
        st = self.stats[source_id]
        st.frames += 1
        if frame.run != self.run:
            self.reject(source_id, "wrong_run")
            return False
        self.last_seen[source_id] = now
        if frame.kind is FrameKind.SOR:
            if source_id in self.sor:
                self.reject(source_id, "repeated_sor")
                return False
            self.sor.add(source_id)
            return True
        if frame.kind is FrameKind.EOR:
            if source_id not in self.sor or source_id in self.eor:
                self.reject(source_id, "eor_out_of_sequence")
                return False
            self.eor[source_id] = frame.info
            if set(self.eor) >= set(self.sources):
                self.finish()
            return True
        if source_id not in self.sor or source_id in self.eor:
            self.reject(source_id, "outside_its_run")
            return False
        if frame.spill in self.closed:
            if frame.kind is FrameKind.EVENTS:
                st.late += frame.n_events
            return True
        if frame.spill not in self.spills and not self._in_window(frame.spill):
            self.reject(source_id, "spill_out_of_window")
            return False
        sp = self._spill(frame.spill, now)
        if frame.kind is FrameKind.SOS:
            sp.start_ns = sp.start_ns or frame.time_ns
            return True
        if frame.kind is FrameKind.EOS:
            sp.eos[source_id] = frame.info
            sp.end_ns = max(sp.end_ns, frame.time_ns)
            if set(sp.eos) >= set(self.sources):
                # a crate's frames come in order: none is still in an earlier spill, even
                # one whose EOS it lost (its endpoint vanished), so those close first
                self.collect(now, close=[s for s in self.spills if s <= frame.spill])
            return True
        return self._add_events(sp, self.index[source_id], st, frame, now)

    def _in_window(self, spill: int) -> bool:
        """A new spill may open if it follows the newest spill seen by at most
        ``spill_window`` (spills are numbered from 1; none is skipped in a healthy run)."""
        newest = max([*self.spills, *self.closed], default=0)
        return newest < spill <= newest + self.spill_window

    def _spill(self, spill: int, now: float) -> _Spill:
        sp = self.spills.get(spill)
        if sp is None:
            sp = self.spills[spill] = _Spill(spill, len(self.sources))
            self._emit_marker("SOS", spill, {})
            # a new spill begins: every source was rightly silent in the pause before it
            # (at the beam's pace, longer than timeout_s: the first source's first frame of
            # spill 2 was emitted alone, the others taken for dead), so each gets timeout_s
            for sid in self.last_seen:
                self.last_seen[sid] = max(self.last_seen[sid], now)
        return sp

    def _add_events(self, sp: _Spill, k: int, st: SourceStats, frame: Frame, now: float) -> bool:
        ev = frame.events["event"].astype(np.int64)
        if not len(ev):
            return True
        bottom, top = int(ev.min()), int(ev.max())
        if bottom < 1 or top > self.max_event_number:
            self.reject(frame.source_id, "absurd_event_number")
            return False
        if not sp.reserve(bottom, top, self.max_span):
            self.reject(frame.source_id, "event_number_jump")
            return False
        bid = self.next_block
        # contiguous copies of the fields (16 bytes an event): the kernel's one signature,
        # whether the frame holds one event or many (see warm_up)
        ooo, gaps, late, dup, taken, fresh = take_fragments(
            ev, k, bid, now, frame.events["trigger"].astype(np.uint8),
            frame.events["trigger_time_ns"].astype(np.uint64), sp.base,
            sp.have, sp.block, sp.row, sp.t_first, sp.trigger, sp.time_ns, sp.src_trigger,
            sp.src_time, sp.done, sp.last_event)
        st.out_of_order += ooo
        st.gaps += gaps
        st.late += late
        st.duplicates += dup
        st.fragments += taken
        sp.n_pending += fresh
        sp.lo = min(sp.lo, bottom)
        sp.hi = max(sp.hi, top + 1)
        if taken:
            self.next_block += 1
            self.blocks[bid] = [frame.samples, taken]
        return True

    # -- output ------------------------------------------------------------------------------
    def collect(self, now: float, close: list[int] | None = None, drain: bool = False) -> None:
        """Emit every event that is ready; ``close`` spills (or all, ``drain``) entirely."""
        close = set(close or ())
        waiting = {spill: sp.pending_events() for spill, sp in self.spills.items()}
        overflow = self.pending - self.max_pending
        if overflow > 0:  # memory bound: the oldest waiting events go out incomplete
            t_all = np.concatenate([sp.t_first[waiting[n] - sp.base]
                                    for n, sp in self.spills.items()])
            cut = np.partition(t_all, overflow - 1)[overflow - 1]
        # a missing source that already sent later events skipped this one; a missing source
        # silent for timeout_s, both since its last frame and since the event's first fragment,
        # is given up (at a low trigger rate every crate is silent for seconds between batches:
        # measured from its last frame alone, the first crate's batch found the others
        # "silent", and every event went out incomplete); a source that is alive but behind, or
        # has not started yet (crates start seconds apart), is waited for, within max_pending
        started = np.array([s in self.sor for s in self.sources])
        last_seen = np.array([self.last_seen.get(s, now) for s in self.sources])
        for spill in sorted(self.spills):
            sp, events = self.spills[spill], waiting[spill]
            ending = drain or spill in close
            if len(events):
                if ending:
                    ready = np.ones(len(events), bool)
                else:
                    rows = events - sp.base
                    missing = ~sp.have[rows]
                    skipped = ~(missing & (sp.last_event[None, :] <= events[:, None])).any(1)
                    silent = started & (now - np.maximum(
                        last_seen[None, :], sp.t_first[rows][:, None]) >= self.timeout_s)
                    given_up = ~(missing & ~silent).any(1)
                    ready = ~missing.any(1) | skipped | given_up
                    if overflow > 0:
                        ready |= sp.t_first[rows] <= cut
                if ready.any():
                    self._emit_events(sp, events[ready])
            if ending:
                self._close(sp)

    def _agreed(self, sp: _Spill, sel: np.ndarray) -> tuple[np.ndarray, ...]:
        """Every crate reads every trigger, so an event's fragments carry one trigger kind and
        time: the most crates' (on a tie, the first fragment's). A fragment that disagrees (a
        crate whose event counter was reset holds another event's data) is left out as
        missing and counted as mismatched. The fragments kept, their blocks (-1: none), and
        the events' trigger kinds and times."""
        have, blocks = sp.have[sel], sp.block[sel]
        t, g = sp.src_time[sel], sp.src_trigger[sel]
        agree = ((t[:, :, None] == t[:, None, :]) & (g[:, :, None] == g[:, None, :])
                 & have[:, None, :]).sum(2) * have
        first = (t == sp.time_ns[sel][:, None]) & (g == sp.trigger[sel][:, None])
        rep = np.argmax(2 * agree + first, axis=1)
        rows = np.arange(len(sel))
        time_ns, trigger = t[rows, rep], g[rows, rep]
        kept = have & (t == time_ns[:, None]) & (g == trigger[:, None])
        dropped = have & ~kept
        if dropped.any():
            blocks = blocks.copy()
            for r, k in zip(*np.nonzero(dropped), strict=True):
                self.stats[self.sources[k]].mismatched += 1
                entry = self.blocks[int(blocks[r, k])]
                entry[1] -= 1
                if entry[1] <= 0:
                    del self.blocks[int(blocks[r, k])]
                blocks[r, k] = -1
        return kept, blocks, trigger, time_ns

    def _emit_events(self, sp: _Spill, numbers: np.ndarray) -> None:
        n_ch, n_s = self.detector.n_channels, self.detector.samples_per_channel
        for lo in range(0, len(numbers), self.batch_events):
            nums = numbers[lo:lo + self.batch_events]
            sel = nums - sp.base
            n = len(nums)
            have, blocks, trigger, time_ns = self._agreed(sp, sel)
            events = np.zeros(n, BUILT_DTYPE)
            events["spill"] = sp.spill
            events["event"] = nums
            events["trigger"] = trigger
            events["trigger_time_ns"] = time_ns
            complete = have.all(1)
            events["complete"] = complete
            events["missing"] = ((~have).astype(np.uint16)
                                 << np.arange(len(self.sources), dtype=np.uint16)).sum(1)
            samples = np.empty((n, n_ch, n_s), np.uint16)
            # a source's fragments come in runs of consecutive rows of one of its frames: one
            # copy per run (a missing fragment, block -1, reads as zeros)
            for k, first, length, bid, row in fragment_runs(blocks, sp.row[sel]).tolist():
                chans = self.slices[k]
                target = (slice(first, first + length), chans) if chans is not None else \
                    np.ix_(np.arange(first, first + length), self.channels[k])
                if bid < 0:
                    samples[target] = 0
                    continue
                entry = self.blocks[bid]
                samples[target] = entry[0][row:row + length]
                entry[1] -= length
                if entry[1] <= 0:
                    del self.blocks[bid]
            sp.complete += int(complete.sum())
            sp.incomplete += int(n - complete.sum())
            sp.done[nums] = True
            header = {"run": self.run, "spill": sp.spill, "n_events": n,
                      "t_first_fragment": float(sp.t_first[sel].min())}
            self.out.append(("events", header, events, samples))
        sp.n_pending -= len(numbers)
        rest = sp.pending_events()
        sp.lo = int(rest[0]) if len(rest) else sp.hi

    def _close(self, sp: _Spill) -> None:
        """End of spill: account for every triggered event, then the EOS marker."""
        info = sp.eos
        counts = [int(i.get("triggered", 0)) for i in info.values()]
        triggered = max(counts + [0])
        seen_top = int(np.nonzero(sp.done)[0].max()) if sp.done.any() else 0
        triggered = max(triggered, seen_top)
        numbers = np.arange(1, triggered + 1)
        sp.grow_done(triggered)
        for k, sid in enumerate(self.sources):  # events skipped at the end of the spill
            if sid in info:  # (a silently faulty crate under-counts: use every crate's)
                self.stats[sid].gaps += max(0, triggered - int(sp.last_event[k]))
        built = sp.complete + sp.incomplete
        built_in_range = int(sp.done[numbers].sum())
        unseen = triggered - built_in_range
        not_sent = [int(info[s].get("not_sent", 0)) for s in self.sources if s in info]
        declared = min(not_sent) if len(not_sent) == len(self.sources) else 0
        dropped = min(unseen, declared)
        # a stop reaches the crates one after the other: the events some read and others
        # did not are the stop's cut, built incomplete (and never classified), said apart
        stopped = any(i.get("stopped") for i in info.values())
        cut = triggered - min(counts) if stopped else 0
        ledger = {"triggered": triggered, "cut_by_stop": cut, "built_complete": sp.complete,
                  "built_incomplete": sp.incomplete,
                  "dropped_by_policy": dropped, "unseen_unexplained": unseen - dropped,
                  "built_beyond_triggered": built - built_in_range,
                  "sources_reporting": sorted(int(s) for s in info)}
        for key in self.run_ledger:
            self.run_ledger[key] += ledger[key]
        self._emit_marker("EOS", sp.spill, {"builder": ledger, "sources": {
            str(s): i for s, i in info.items()}, "start_ns": sp.start_ns, "end_ns": sp.end_ns})
        del self.spills[sp.spill]
        self.closed.add(sp.spill)

    def finish(self) -> None:
        """End of run (every EOR, or a drain): close every spill, then the EOR marker."""
        if not self.run_open:  # ended already (a drain after the last EOR): once is enough
            return
        self.collect(0.0, drain=True)
        if self.run is not None:
            self._emit_marker("EOR", 0, {"builder": dict(self.run_ledger),
                                         "sources": {str(s): i for s, i in self.eor.items()},
                                         "per_source": self.stats_dict()})
        self.run_open = False
        self.commanded = None  # the next run needs the supervisor's word again

    def stats_dict(self) -> dict[str, Any]:
        return {str(s): st.as_dict() for s, st in self.stats.items()}

    def _emit_marker(self, kind: str, spill: int, info: dict[str, Any]) -> None:
        self.out.append((kind, {"run": self.run, "spill": spill, "info": info}, None, None))


def _as_slice(channels: np.ndarray) -> slice | None:
    """A slice when a source's channels are contiguous in the global order (a faster copy)."""
    if len(channels) and np.array_equal(channels, np.arange(channels[0],
                                                            channels[0] + len(channels))):
        return slice(int(channels[0]), int(channels[0]) + len(channels))
    return None


def warm_up(detector: Detector) -> None:
    """Runs the builder's kernels once (JIT compile, or load their cache)."""
    sp = _Spill(1, len(detector.source_ids))
    fragment_runs(sp.block[[0]], sp.row[[0]])
    ev = np.array([1], np.int64)
    take_fragments(ev, 0, 0, 0.0, np.zeros(1, np.uint8), np.zeros(1, np.uint64), sp.base,
                   sp.have, sp.block, sp.row, sp.t_first, sp.trigger, sp.time_ns,
                   sp.src_trigger, sp.src_time, sp.done, sp.last_event)
