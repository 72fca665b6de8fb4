"""Replay: re-stream a recorded run's waveforms as the readout sources would, at the original
pace, a scaled pace, or as fast as the consumers take.

Frames are the emulator's own, byte for byte: same batching, same header times.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from daq.detector import Detector
from daq.wire_format import FrameKind, encode_control, encode_events
from emulator.run_file import EmulatedRun, RunFileError


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

    def frames(self, source_ids: Iterable[int] | None = None) -> Iterator[tuple[float, int, list]]:
        """``(emit_time_s, source_id, parts)`` in emission order, as :meth:`Emulator.frames`."""
        r = self.run
        ids = list(r.samples if source_ids is None else source_ids)
        for sid in ids:
            if sid not in r.samples:
                raise RunFileError(f"{r.path}: no data for source {sid}")
        n_s = self.detector.samples_per_channel
        n_ch = {sid: r.samples[sid].shape[1] for sid in ids}
        t0 = r.start_time_ns
        for sid in ids:
            yield 0.0, sid, encode_control(FrameKind.SOR, r.run, 0, sid, n_ch[sid], n_s, t0)
        first = 0
        last_ns = t0
        for rec in r.spills:
            spill, start, end, n = (int(rec["spill"]), int(rec["start_ns"]), int(rec["end_ns"]),
                                    int(rec["n_events"]))
            t_sos = (start - t0) * 1e-9
            for sid in ids:
                yield t_sos, sid, encode_control(FrameKind.SOS, r.run, spill, sid, n_ch[sid],
                                                 n_s, start)
            for lo in range(first, first + n, r.batch_events):
                hi = min(lo + r.batch_events, first + n)
                ev = r.events[lo:hi]
                t_emit = t_sos + float(ev["trigger_time_ns"][-1]) * 1e-9
                for sid in ids:
                    yield t_emit, sid, encode_events(r.run, spill, sid, start, ev,
                                                     r.samples[sid][lo:hi])
            first += n
            for sid in ids:
                yield ((end - t0) * 1e-9, sid,
                       encode_control(FrameKind.EOS, r.run, spill, sid, n_ch[sid], n_s, end,
                                      {"triggered": n, "sent": n, "not_sent": 0}))
            last_ns = end
        total = int(np.sum(r.spills["n_events"]))
        for sid in ids:
            yield ((last_ns - t0) * 1e-9, sid,
                   encode_control(FrameKind.EOR, r.run, 0, sid, n_ch[sid], n_s, last_ns,
                                  {"triggered": total, "sent": total, "not_sent": 0}))
