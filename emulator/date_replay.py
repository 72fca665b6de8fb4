"""NA64's raw data as a recorded run to replay (``na64daq replay --map``): the DATE files
decoded and placed by the channel map, then streamed by the crates' replay as if our MSADC
crates had read them (``docs/raw-format.md``). DATE's bursts are the spills, their start and
end of burst the spills' times; the run is held in memory, as a replayed run file is."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daq.core.detector import Detector
from daq.core.wire_format import EVENT_DTYPE
from daq.raw import date_format as F
from daq.raw.channel_map import ChannelMap
from daq.raw.date_decoder import DateReader
from daq.raw.digit_assembly import Assembly, assemble
from emulator.config import RunSection
from emulator.frames_file import SPILL_DTYPE, EmulatedRun, RunFileError


def is_date_file(path: str | Path) -> bool:
    """Whether ``path`` starts with a DATE event (its magic), whatever its name."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return len(head) == 8 and int.from_bytes(head[4:8], "little") in (F.MAGIC,
                                                                        F.SWAPPED_MAGIC)


def read_date_run(paths: list[str | Path], map_path: str | Path,
                  detector: Detector) -> EmulatedRun:
    """The DATE files of one run (in order) as an :class:`EmulatedRun`."""
    state, cmap = Assembly(), None
    events, samples, bursts = [], [], {}
    run = None
    for path in paths:
        for part in DateReader(path):
            ev = part.events
            if not len(ev):
                continue
            if cmap is None:
                run = int(ev["run"][0])
                cmap = ChannelMap.load(map_path, detector, run)
            for row in ev[(ev["type"] == F.START_OF_BURST) | (ev["type"] == F.END_OF_BURST)]:
                t_ns = int(row["time_s"]) * 1_000_000_000 + int(row["time_us"]) * 1000
                bursts.setdefault(int(row["burst"]), {})[int(row["type"])] = t_ns
            e, s = assemble(part, cmap, state)
            events.append(e)
            samples.append(s)
    if run is None or not events or not sum(len(e) for e in events):
        raise RunFileError(f"{paths[0]}: no physics or calibration event to replay")
    built = np.concatenate(events)
    all_samples = np.concatenate(samples)
    numbers, counts = np.unique(built["spill"], return_counts=True)
    spills = np.zeros(len(numbers), SPILL_DTYPE)
    spills["spill"], spills["n_events"] = numbers, counts
    for k, number in enumerate(numbers.tolist()):
        times = bursts.get(number, {})
        in_spill = built["trigger_time_ns"][built["spill"] == number]
        start = times.get(F.START_OF_BURST, 0)
        spills["start_ns"][k] = start
        spills["end_ns"][k] = times.get(F.END_OF_BURST, start + int(in_spill.max(initial=0)))
    order = np.argsort(built["spill"], kind="stable")  # spill by spill, as the replay plays
    built, all_samples = built[order], all_samples[order]
    replayed = np.zeros(len(built), EVENT_DTYPE)
    for name in ("event", "trigger", "trigger_time_ns"):
        replayed[name] = built[name]
    by_source = {sid: np.ascontiguousarray(all_samples[:, np.asarray(
        detector.source(sid).channels)]) for sid in detector.source_ids}
    return EmulatedRun(Path(paths[0]), run, RunSection().batch_events,
                       int(spills["start_ns"][0]), spills, replayed,
                       built["spill"].astype(np.uint32), by_source, {}, {})
