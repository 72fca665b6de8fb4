"""Decoded DATE events made into ours: the digits placed by the channel map into
(events, channels, samples) in our detector's order, with our event table (``BUILT_DTYPE``):
DATE burst -> spill, event in burst -> event, trigger mask -> trigger kind, time since the
start of burst -> ``trigger_time_ns`` (``docs/raw-format.md``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from daq.core.built_batch import BUILT_DTYPE
from daq.core.wire_format import TriggerKind
from daq.raw import date_format as F
from daq.raw.channel_map import ChannelMap
from daq.raw.date_decoder import Decoded

#: DATE trigger-mask bit -> our trigger kind, as the configuration writes it
#: (``run.replay_trigger_bits``, ``--trigger-bits``): NA64's mask is set per beam period,
#: so the mapping is the user's to give
TRIGGER_BITS_TEXT = "0=physics,1=calibration,2=random,3=led"


def parse_trigger_bits(text: str) -> dict[int, int]:
    """``BIT=KIND,...`` (bits 0-31; kinds physics, calibration, random, led) as a table;
    anything else is a ValueError naming the bad part."""
    out: dict[int, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        bit, sep, kind = (x.strip() for x in part.partition("="))
        if not sep or not bit.isdigit() or not 0 <= int(bit) <= 31:
            raise ValueError(f"trigger bits: {part!r} is not BIT=KIND with a bit of 0-31")
        if kind.upper() not in TriggerKind.__members__:
            raise ValueError(f"trigger bits: {kind!r} is not a trigger kind (physics, "
                             "calibration, random, led)")
        if int(bit) in out:
            raise ValueError(f"trigger bits: bit {bit} given twice")
        out[int(bit)] = int(TriggerKind[kind.upper()])
    if not out:
        raise ValueError("trigger bits: none given")
    return out


TRIGGER_BITS = parse_trigger_bits(TRIGGER_BITS_TEXT)


@dataclass
class Assembly:
    """What assembling has seen: digits the map does not know (by key), digits of another
    sample count than the detector's, and the start and end of each burst (s, us) by (run,
    burst)."""

    unknown_digits: Counter = field(default_factory=Counter)
    sample_count_mismatch: int = 0
    burst_start: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    burst_end: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def burst_ns(self, run: int, burst: int) -> tuple[int | None, int | None]:
        """The burst's start and end of burst in ns of DATE's clock (None: not seen)."""
        return tuple(None if t is None else t[0] * 1_000_000_000 + t[1] * 1000
                     for t in (self.burst_start.get((run, burst)),
                               self.burst_end.get((run, burst))))


def trigger_kinds(mask: np.ndarray, types: np.ndarray, bits: dict[int, int]) -> np.ndarray:
    """Per event, our trigger kind: the lowest mask bit that ``bits`` names; without one, a
    calibration event type is calibration and anything else physics."""
    out = np.where(types == F.CALIBRATION, int(TriggerKind.CALIBRATION),
                   int(TriggerKind.PHYSICS)).astype(np.uint8)
    for bit in sorted(bits, reverse=True):  # the lowest bit set wins
        hit = (mask >> np.uint64(bit)) & np.uint64(1) == 1
        out[hit] = bits[bit]
    return out


def assemble(decoded: Decoded, channel_map: ChannelMap, state: Assembly,
             bits: dict[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The physics and calibration events of one decoded window as (events, samples)."""
    det = channel_map.detector
    ev = decoded.events
    for kind, seen in ((F.START_OF_BURST, state.burst_start),
                       (F.END_OF_BURST, state.burst_end)):
        for row in ev[ev["type"] == kind]:
            seen[(int(row["run"]), int(row["burst"]))] = (int(row["time_s"]),
                                                          int(row["time_us"]))
    data = np.flatnonzero((ev["type"] == F.PHYSICS) | (ev["type"] == F.CALIBRATION))
    n_ch, n_s = det.n_channels, det.samples_per_channel
    events = np.zeros(len(data), BUILT_DTYPE)
    samples = np.zeros((len(data), n_ch, n_s), np.uint16)
    sel = ev[data]
    events["spill"] = sel["burst"]
    events["event"] = sel["event_in_burst"]
    events["trigger"] = trigger_kinds(sel["trigger_mask"], sel["type"],
                                      TRIGGER_BITS if bits is None else bits)
    start = np.array([state.burst_start.get((int(r), int(b)), (-1, 0))
                      for r, b in zip(sel["run"], sel["burst"], strict=True)],
                     np.int64).reshape(-1, 2)
    known = start[:, 0] >= 0
    t_us = (sel["time_s"].astype(np.int64) - start[:, 0]) * 1_000_000 \
        + sel["time_us"].astype(np.int64) - start[:, 1]
    events["trigger_time_ns"] = np.where(known & (t_us >= 0), t_us * 1000, 0)
    row_of = np.full(len(ev), -1, np.int64)
    row_of[data] = np.arange(len(data))
    dg = decoded.digits
    dg = dg[row_of[dg["event"]] >= 0]
    index = channel_map.lut[dg["source"], dg["port"], dg["chip"], dg["channel"]]
    for key in dg[index < 0][["source", "port", "chip", "channel"]]:
        state.unknown_digits[tuple(int(x) for x in key)] += 1
    ok = index >= 0
    whole = ok & (dg["n_samples"] == n_s)
    state.sample_count_mismatch += int(np.count_nonzero(ok & ~whole))
    rows = row_of[dg["event"][whole]]
    picks = dg["first_sample"][whole][:, None] + np.arange(n_s)
    samples[rows, index[whole]] = decoded.samples[picks]
    for d, i in zip(dg[ok & ~whole], index[ok & ~whole], strict=True):  # rare: another count
        k = min(int(d["n_samples"]), n_s)
        samples[row_of[d["event"]], i, :k] = decoded.samples[d["first_sample"]:
                                                            d["first_sample"] + k]
    sources = list(det.source_ids)
    present = np.zeros((len(data), len(sources)), bool)
    src_slot = {s: k for k, s in enumerate(sources)}
    slot = np.array([src_slot.get(int(det.channels[i].source), 0) for i in range(n_ch)])
    present[rows, slot[index[whole]]] = True
    missing = (~present * (1 << np.arange(len(sources)))).sum(axis=1)
    events["missing"] = missing
    events["complete"] = (missing == 0) & (sel["flags"] == 0)
    return events, samples
