"""NA64's raw data: the DATE decoder on one core against reading the same file with
``numpy.fromfile`` (the ceiling), and the decoder with the digits placed into our events
(``docs/raw-format.md``). The file is an emulated run written as DATE 3.14."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from daq.app.bench.stages import emulator_for
from daq.core.detector import Detector
from daq.raw.channel_map import EMULATED_MAP, ChannelMap
from daq.raw.date_decoder import DateReader
from daq.raw.digit_assembly import Assembly, assemble
from emulator.date_export import write_date

#: NA64's in-spill data rate assumed: 5 kHz of triggers during the spill (4x the 1.15 kHz
#: that our emulator's trigger makes of 5e6 e-/spill, which follows detector.md's beam and
#: trigger), times a DATE event of our 126 channels x 32 samples (measured on the file)
ASSUMED_TRIGGER_HZ = 5000.0


def measure(directory: Path, n_events: int = 40_000, repeat: int = 3) -> list[dict[str, Any]]:
    path = directory / "cdr01001-000001.dat"
    written = write_date(emulator_for(n_events), path, [1])
    size = path.stat().st_size
    detector = Detector.load()
    cmap = ChannelMap.load(EMULATED_MAP, detector)
    for _ in DateReader(path):  # compile or load the kernel
        pass
    best = {"read": np.inf, "decode": np.inf, "assemble": np.inf}
    for _ in range(repeat):
        t0 = time.perf_counter()
        np.fromfile(path, dtype="<u4").sum()  # touched, as the decoder touches every word
        best["read"] = min(best["read"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        n = sum(len(p.events) for p in DateReader(path))
        best["decode"] = min(best["decode"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        state = Assembly()
        m = sum(len(assemble(p, cmap, state)[0]) for p in DateReader(path))
        best["assemble"] = min(best["assemble"], time.perf_counter() - t0)
    event_bytes = size / max(n, 1)
    target = 5 * ASSUMED_TRIGGER_HZ * event_bytes / 1e6
    rows = []
    for name, key, events in (("date_read_ceiling", "read", n), ("date_decoder", "decode", n),
                              ("date_to_events", "assemble", m)):
        mb_s = size / 1e6 / best[key]
        rows.append({"name": name, "events_per_s": events / best[key], "mb_per_s": mb_s,
                     "file_mb": size / 1e6, "events": written})
    for r in rows[1:]:
        r["fraction_of_read_ceiling"] = r["mb_per_s"] / rows[0]["mb_per_s"]
        r["times_na64_in_spill_rate"] = r["mb_per_s"] / (target / 5)
        r["note"] = (f"NA64 in-spill rate assumed {ASSUMED_TRIGGER_HZ:g} Hz x "
                     f"{event_bytes / 1e3:.2f} kB = {target / 5:.0f} MB/s; target 5x")
    return rows
