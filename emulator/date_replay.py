"""NA64's raw data replayed as our crates' frames (``na64daq replay FILE.dat``): the DATE files
decoded and placed by the channel map, burst by burst, and streamed by the crates' frame
sequence as if our MSADC crates had read them (``docs/raw-format.md``). DATE's bursts are the
spills, their start and end of burst the spills' times. One burst at a time is held in memory;
with ``follow_s`` a file is followed as DATE writes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import numpy as np

from daq.core.detector import Detector
from daq.core.records import spill_runs
from daq.core.wire_format import EVENT_DTYPE
from daq.raw import date_format as F
from daq.raw.channel_map import ChannelMap
from daq.raw.date_decoder import DateReader
from daq.raw.digit_assembly import Assembly, assemble
from emulator.config import RunSection
from emulator.emulator import Batch, SpillPlan, run_sequence
from emulator.frames_file import RunFileError


def is_date_file(path: str | Path) -> bool:
    """Whether ``path`` starts with a DATE event (its magic), whatever its name."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and int.from_bytes(head[4:8], "little") in (F.MAGIC,
                                                                        F.SWAPPED_MAGIC)


def _busy(parts: Iterable, busy: Callable[[], AbstractContextManager]) -> Iterator:
    """``parts``, each one made within ``busy()``."""
    it = iter(parts)
    while True:
        with busy():
            part = next(it, None)
        if part is None:
            return
        yield part


class DateReplay:
    """The frames of DATE files of one run, as :class:`emulator.replay.Replay` gives a
    recorded run's. ``run``: the run number the frames carry (default: DATE's)."""

    def __init__(self, paths: Iterable[str | Path], map_path: str | Path, detector: Detector,
                 run: int | None = None, follow_s: float | None = None,
                 batch_events: int = RunSection().batch_events,
                 busy: Callable[[], AbstractContextManager] = nullcontext,
                 names: dict[str, str] | None = None, trigger_bits: dict[int, int] | None = None):
        self.paths = [Path(p) for p in paths]
        self.map_path, self.detector = map_path, detector
        self.follow_s, self.batch_events = follow_s, batch_events
        # decoding a burst takes seconds without a frame to send: a crate under run control
        # keeps beating meanwhile (``Publisher.beating``), or it is taken for dead
        self.busy = busy
        first = next((p.events for p in DateReader(self.paths[0]) if len(p.events)), None)
        if first is None:
            raise RunFileError(f"{self.paths[0]}: no DATE event")
        self.date_run = int(first["run"][0])
        self.run = self.date_run if run is None else run
        self.cmap = ChannelMap.load(map_path, detector, self.date_run, names or {})
        self.trigger_bits = trigger_bits
        t = first[0]
        self.start_ns = int(t["time_s"]) * 1_000_000_000 + int(t["time_us"]) * 1000
        self.state = Assembly()

    def frames(self, source_ids: Iterable[int] | None = None,
               repeat: int = 1) -> Iterator[tuple[float, int, list]]:
        """``(emit_time_s, source_id, parts)`` as ``Replay.frames``; ``repeat`` > 1 plays
        the files' bursts again as further spills (long benchmarks; not while following)."""
        if repeat > 1 and self.follow_s is not None:
            raise RunFileError(f"{self.paths[-1]}: a followed file is replayed once")
        ids = list(self.detector.source_ids if source_ids is None else source_ids)
        for item in run_sequence(self.run, self.detector, ids, self.start_ns,
                                 self._cycles(ids, repeat)):
            if isinstance(item, tuple):
                yield item

    def _cycles(self, ids: list[int], repeat: int
                ) -> Iterator[tuple[SpillPlan, Iterator[Batch]]]:
        """The bursts ``repeat`` times, each pass after the last in spill numbers and time."""
        shift_spill, shift_ns, last_spill, last_ns = 0, 0, 0, self.start_ns
        for _ in range(repeat):
            for plan, batches in self.spills(ids):
                spill = plan.spill + shift_spill
                plan = SpillPlan(spill, plan.start_ns + shift_ns, plan.end_ns + shift_ns,
                                 plan.triggers, plan.times_ns)
                last_spill, last_ns = max(last_spill, spill), max(last_ns, plan.end_ns)
                yield plan, (_renumbered(b, spill) for b in batches)
            shift_spill, shift_ns = last_spill, last_ns - self.start_ns + 1

    def spills(self, ids: list[int]) -> Iterator[tuple[SpillPlan, Iterator[Batch]]]:
        """(plan, batches) per burst, once its end of burst (or the next burst) is read."""
        events, samples, burst = [], [], None
        for path in self.paths:
            last = path == self.paths[-1]  # only the last file can still be growing
            reader = DateReader(path, follow_s=self.follow_s if last else None)
            for part in _busy(reader, self.busy):
                e, s = assemble(part, self.cmap, self.state, self.trigger_bits)
                for lo, hi in spill_runs(e["spill"]):
                    if burst is not None and e["spill"][lo] != burst:
                        yield self._built(burst, events, samples, ids)
                        events, samples = [], []
                    burst = int(e["spill"][lo])
                    events.append(e[lo:hi])
                    samples.append(s[lo:hi])
                if burst is not None and events and \
                        self.state.burst_ns(self.date_run, burst)[1] is not None:
                    yield self._built(burst, events, samples, ids)
                    events, samples, burst = [], [], None
        if events:
            yield self._built(burst, events, samples, ids)

    def _built(self, *spill) -> tuple[SpillPlan, Iterator[Batch]]:
        with self.busy():
            return self._spill(*spill)

    def _spill(self, burst: int, events: list, samples: list,
               ids: list[int]) -> tuple[SpillPlan, Iterator[Batch]]:
        built = np.concatenate(events)
        data = np.concatenate(samples)
        start, end = self.state.burst_ns(self.date_run, burst)
        start = self.start_ns if start is None else start
        end = start + int(built["trigger_time_ns"].max(initial=0)) if end is None else end
        replayed = np.zeros(len(built), EVENT_DTYPE)
        for name in ("event", "trigger", "trigger_time_ns"):
            replayed[name] = built[name]
        plan = SpillPlan(burst, start, end, replayed["trigger"],
                         replayed["trigger_time_ns"].astype(float))
        by_source = {sid: np.ascontiguousarray(data[:, np.asarray(self.detector.source(sid)
                                                                  .channels)])
                     for sid in ids}

        def batches() -> Iterator[Batch]:
            for index, lo in enumerate(range(0, len(replayed), self.batch_events)):
                hi = lo + self.batch_events
                yield Batch(burst, index, replayed[lo:hi],
                            {sid: s[lo:hi] for sid, s in by_source.items()}, {})

        return plan, batches()


def _renumbered(batch: Batch, spill: int) -> Batch:
    batch.spill = spill
    return batch
