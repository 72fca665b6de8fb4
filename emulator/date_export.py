"""An emulated run written as NA64's raw data (DATE events of MSADC blocks,
``docs/raw-format.md``): one decoder then serves emulated and real data. The crates' channels
are placed as the shipped map says (``daq/raw/na64daq-emulated.xml``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from daq.core.wire_format import TriggerKind
from daq.raw import date_format as F
from daq.raw import date_writer as W
from emulator.emulator import Batch, Emulator

#: DATE trigger-mask bit of each of our trigger kinds (the configuration's default mapping)
MASK_BIT = {int(TriggerKind.PHYSICS): 0, int(TriggerKind.CALIBRATION): 1,
            int(TriggerKind.RANDOM): 2, int(TriggerKind.LED): 3}


def source_words(batch: Batch, emulator: Emulator, sid: int, old: bool = False) -> np.ndarray:
    """(events, words): each event's S-Link block of crate ``sid`` in an equipment (``old``:
    the old header's 3-word equipment)."""
    det = emulator.detector
    chans = [det.channels[i] for i in det.source(sid).channels]
    samples = batch.samples[sid]
    events = batch.events["event"].astype(np.uint32)
    n_ev = len(events)
    blocks = []
    boards = sorted({c.port for c in chans})
    for board in boards:
        cols = [k for k, c in enumerate(chans) if c.port == board]
        body = W.channels_words(np.array([chans[k].channel for k in cols]), samples[:, cols])
        head = W.adc_header(events, board // 4, board % 4, 1 + body.shape[1])
        blocks += [head[:, None], body]
    payload = np.concatenate(blocks, axis=1)
    size = 3 + payload.shape[1]
    slink = np.empty((n_ev, 3), np.uint32)
    slink[:, 0] = size | ((sid & 0x3FF) << 16)
    slink[:, 1] = (events & 0xFFFFF) | ((batch.spill & 0x7FF) << 20)
    slink[:, 2] = (0x08 << 8) | (3 << 24)
    if old:
        eq = np.zeros((n_ev, 3), np.uint32)
        eq[:, 1] = (sid & 0xFFFF) << 16
        eq[:, 2] = 4 * size
    else:
        eq = np.zeros((n_ev, F.EQUIPMENT_WORDS), np.uint32)
        eq[:, 0] = 4 * (F.EQUIPMENT_WORDS + size)
        eq[:, 2] = sid
        eq[:, 6] = 4
    return np.concatenate([eq, slink, payload], axis=1)


def write_date(emulator: Emulator, path: str | Path, spills: list[int],
               header: int = F.V314) -> int:
    """``spills`` of the emulator's run as a DATE file: per spill a start of burst, the
    physics and calibration events (random triggers are physics events with mask bit 2), an
    end of burst. Returns the events written (bursts' markers excluded)."""
    run = emulator.cfg.run.number
    n = 0
    with W.DateFileWriter(path) as out:
        for spill in spills:
            plan = emulator.spill_plan(spill)
            start_ns = int(plan.start_ns)  # the emulated wall clock
            s0, us0 = divmod(start_ns // 1000, 1_000_000)
            out.write(W.date_event(header, F.START_OF_BURST, run, spill, 0, 0,
                                   np.zeros(0, np.uint32), 0, s0, us0))
            last = 0
            for batch in emulator.batches(plan):
                rows = np.concatenate([source_words(batch, emulator, sid, header == F.OLD)
                                       for sid in emulator.detector.source_ids], axis=1)
                for k, ev in enumerate(batch.events):
                    kind = int(ev["trigger"])
                    t_us = (start_ns + int(ev["trigger_time_ns"])) // 1000
                    s, us = divmod(t_us, 1_000_000)
                    n += 1
                    last = int(ev["event"])
                    out.write(W.date_event(
                        header, F.CALIBRATION if kind == TriggerKind.CALIBRATION else F.PHYSICS,
                        run, spill, n, last, rows[k], 1 << MASK_BIT.get(kind, 0), s, us))
            s1, us1 = divmod(int(plan.end_ns) // 1000, 1_000_000)
            out.write(W.date_event(header, F.END_OF_BURST, run, spill, n, last + 1,
                                   np.zeros(0, np.uint32), 0, s1, us1))
    return n
