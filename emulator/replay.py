"""Replay: re-stream a recorded run's waveforms as the readout sources would, at the original
pace, a scaled pace, or as fast as the consumers take.

Frames are the emulator's own, byte for byte: same batching, same header times.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from daq.core.detector import Detector
from emulator.emulator import Batch, SpillPlan, run_sequence
from emulator.frames_file import EmulatedRun, RunFileError


class Replay:
    """Frames of a recorded run, from memory."""

    def __init__(self, run: EmulatedRun, detector: Detector):
        for sid, samples in run.samples.items():
            try:
                src = detector.source(sid)
            except KeyError:
                raise RunFileError(f"{run.path}: source {sid} is not in the detector map") from None
            if samples.shape[1:] != (len(src.channels), detector.samples_per_channel):
                raise RunFileError(
                    f"{run.path}: source {sid} has {samples.shape[1]} channels x "
                    f"{samples.shape[2]} samples, the detector map {len(src.channels)} x "
                    f"{detector.samples_per_channel}")
        self.run = run
        self.detector = detector
        self.n_events = len(run.events)

    def frames(self, source_ids: Iterable[int] | None = None,
               repeat: int = 1) -> Iterator[tuple[float, int, list]]:
        """``(emit_time_s, source_id, parts)`` in emission order, as :meth:`Emulator.frames`;
        ``repeat`` > 1 plays the recorded spills again as further spills (long tests)."""
        r = self.run
        ids = list(r.samples if source_ids is None else source_ids)
        for sid in ids:
            if sid not in r.samples:
                raise RunFileError(f"{r.path}: no data for source {sid}")
        spills = (x for k in range(repeat) for x in self._spills(ids, k))
        for item in run_sequence(r.run, self.detector, ids, r.start_time_ns, spills):
            if isinstance(item, tuple):
                yield item

    def _spills(self, ids: list[int],
                cycle: int = 0) -> Iterator[tuple[SpillPlan, Iterator[Batch]]]:
        r = self.run
        first = 0
        n_spills = len(r.spills)
        run_ns = int(r.spills["end_ns"][-1]) - r.start_time_ns if n_spills else 0
        for rec in r.spills:
            n = int(rec["n_events"])
            events = r.events[first:first + n]
            shift = cycle * run_ns
            plan = SpillPlan(int(rec["spill"]) + cycle * n_spills, int(rec["start_ns"]) + shift,
                             int(rec["end_ns"]) + shift, events["trigger"],
                             events["trigger_time_ns"].astype(float))
            yield plan, self._batches(plan, first, ids)
            first += n

    def _batches(self, plan: SpillPlan, first: int, ids: list[int]) -> Iterator[Batch]:
        r = self.run
        n = len(plan.triggers)
        for index, lo in enumerate(range(first, first + n, r.batch_events)):
            hi = min(lo + r.batch_events, first + n)
            yield Batch(plan.spill, index, r.events[lo:hi],
                        {sid: r.samples[sid][lo:hi] for sid in ids}, {})
