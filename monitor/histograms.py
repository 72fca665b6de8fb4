"""The monitor's histogram set and its filling kernels (``docs/monitor.md``): one fixed set,
filled per batch in numba, the same for the live tap and the file feed. No Qt here: the DAQ's
tap imports this module."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from daq.detector import Detector
from daq.reco import event_record as er
from daq.reco.reco_config import ClassesSection
from daq.wire_format import TriggerKind

PHYSICS, CALIBRATION = int(TriggerKind.PHYSICS), int(TriggerKind.CALIBRATION)
RANDOM, LED = int(TriggerKind.RANDOM), int(TriggerKind.LED)
TRIGGER_NAMES = ("physics", "calibration", "random", "LED")
CLASS_BINS = (*er.CLASS_NAMES, "incomplete")
INCOMPLETE = len(er.CLASS_NAMES)
TAG_BINS = ("physics complete", "SRD tagged", "side band tagged", "muon tagged")
PEDESTAL_SAMPLES = 6  # the reconstruction's pedestal.samples (pre-signal samples)

PLANE_GEV = (0.0, 150.0, 150)
CALIBRATION_GEV = (0.0, 150.0, 300)
DRIFT_S = (0.0, 10.0, 20)


@dataclass(frozen=True)
class Axis:
    label: str
    unit: str  # "" for categories and channel numbers
    low: float
    high: float
    bins: int
    categories: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"label": self.label, "unit": self.unit, "low": self.low, "high": self.high,
                "bins": self.bins, "categories": list(self.categories)}


def _categories(label: str, names: tuple[str, ...]) -> Axis:
    return Axis(label, "", 0, len(names), len(names), names)


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    axes: tuple[Axis, ...]
    description: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.bins for a in self.axes)


def histogram_specs(n_channels: int) -> tuple[HistogramSpec, ...]:
    """The set, in the order of ``docs/monitor.md``'s table."""
    ch = Axis("channel", "", 0, n_channels, n_channels)
    return (
        HistogramSpec("energy_plane", (Axis("E_ECAL", "GeV", *PLANE_GEV),
                                       Axis("E_HCAL (modules 1+2)", "GeV", *PLANE_GEV)),
                      "complete beam triggers, except blinded ones"),
        HistogramSpec("calibration_energy",
                      (Axis("E_ECAL + E_HCAL", "GeV", *CALIBRATION_GEV),),
                      "complete calibration triggers (the electron peak)"),
        HistogramSpec("calibration_drift",
                      (Axis("time in spill", "s", *DRIFT_S),
                       _categories("sum", ("events", "E/E_beam corrected",
                                           "E/E_beam uncorrected"))),
                      "complete calibration triggers: the gain drift along the spill"),
        HistogramSpec("classes", (_categories("class", CLASS_BINS),),
                      "every event by its class; the box bin stays 0 while blinded"),
        HistogramSpec("triggers", (_categories("trigger", TRIGGER_NAMES),), "every event"),
        HistogramSpec("physics_tags", (_categories("tag", TAG_BINS),),
                      "complete physics triggers and their SRD, SRD side-band and muon tags"),
        HistogramSpec("channel_events", (ch,), "events in which the channel's source delivered"),
        HistogramSpec("channel_hits", (ch,), "events with an in-time pulse"),
        HistogramSpec("channel_energy_sum", (Axis("channel", "GeV", 0, n_channels, n_channels),),
                      "in-time pulse energies (nominal GeV/ADC), summed over hits"),
        HistogramSpec("channel_time_sum", (Axis("channel", "ns", 0, n_channels, n_channels),),
                      "in-time pulse times, summed over hits"),
        HistogramSpec("channel_pedestal",
                      (ch, _categories("sum", ("waveforms", "sum of mean ADC"))),
                      "first samples of the sampled waveforms"),
        HistogramSpec("channel_led", (ch, _categories("sum", ("events", "sum ADC"))),
                      "in-time amplitudes of LED triggers"),
    )


class HistogramSet:
    """One scope's histograms (float64 arrays: counts and sums alike), by name."""

    def __init__(self, specs: tuple[HistogramSpec, ...]):
        self.specs = specs
        self.arrays = {s.name: np.zeros(s.shape) for s in specs}

    def reset(self) -> None:
        for a in self.arrays.values():
            a[:] = 0.0

    def add(self, other: HistogramSet) -> None:
        for name, a in self.arrays.items():
            a += other.arrays[name]

    def copy(self) -> HistogramSet:
        out = HistogramSet(self.specs)
        out.add(self)
        return out

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]


@njit(cache=True, nogil=True)
def fill_events(trigger, complete, trigger_time_ns, e_ecal_gev, e_hcal_gev, event_class,
                srd_tag, srd_sideband_tag, muon_tag, drift_correction, beam_energy_gev,
                box_ecal_gev, box_hcal_gev, blinded, plane, calibration_energy,
                calibration_drift, classes, triggers, tags):
    """One pass over a batch's events into the event-level histograms. Uniform binnings:
    PLANE_GEV, CALIBRATION_GEV, DRIFT_S. ``blinded``: events in the signal box's bins are
    left out of the plane (the worker already left out the box's candidates)."""
    n_plane = plane.shape[0]
    plane_scale = n_plane / (PLANE_GEV[1] - PLANE_GEV[0])
    n_cal = calibration_energy.shape[0]
    cal_scale = n_cal / (CALIBRATION_GEV[1] - CALIBRATION_GEV[0])
    n_drift = calibration_drift.shape[0]
    drift_scale = n_drift / (DRIFT_S[1] - DRIFT_S[0])
    for ev in range(trigger.shape[0]):
        t = trigger[ev]
        if 1 <= t <= 4:
            triggers[t - 1] += 1.0
        if not complete[ev]:
            classes[INCOMPLETE] += 1.0
            continue
        cls = event_class[ev]
        if cls < INCOMPLETE and not (blinded and cls == er.SIGNAL_BOX):
            classes[cls] += 1.0
        if t != PHYSICS and t != CALIBRATION:
            continue
        e_ecal = e_ecal_gev[ev]
        e_hcal = e_hcal_gev[ev, 0] + e_hcal_gev[ev, 1]
        e_all = e_ecal
        for m in range(e_hcal_gev.shape[1]):
            e_all += e_hcal_gev[ev, m]
        if t == PHYSICS:
            tags[0] += 1.0
            tags[1] += srd_tag[ev]
            tags[2] += srd_sideband_tag[ev]
            tags[3] += muon_tag[ev]
        in_box = e_ecal < box_ecal_gev and e_hcal < box_hcal_gev
        if not (blinded and in_box):
            i = np.floor((e_ecal - PLANE_GEV[0]) * plane_scale)
            j = np.floor((e_hcal - PLANE_GEV[0]) * plane_scale)
            if 0 <= i < n_plane and 0 <= j < n_plane:  # NaN fails both
                plane[int(i), int(j)] += 1.0
        if t == CALIBRATION:
            k = np.floor((e_all - CALIBRATION_GEV[0]) * cal_scale)
            if 0 <= k < n_cal:
                calibration_energy[int(k)] += 1.0
            d = np.floor((trigger_time_ns[ev] * 1e-9 - DRIFT_S[0]) * drift_scale)
            ratio = e_all / beam_energy_gev
            corr = drift_correction[ev]
            if 0 <= d < n_drift and ratio == ratio and corr > 0:
                calibration_drift[int(d), 0] += 1.0
                calibration_drift[int(d), 1] += ratio
                calibration_drift[int(d), 2] += ratio / corr


@njit(cache=True, nogil=True)
def fill_channels(trigger, missing, channel_source_bit, amplitude_adc, time_ns, gev_per_adc,
                  events, hits, energy_sum, time_sum, led):
    """One pass over a batch's channel tables into the per-channel sums."""
    for ev in range(trigger.shape[0]):
        is_led = trigger[ev] == LED
        for c in range(amplitude_adc.shape[1]):
            if (missing[ev] >> channel_source_bit[c]) & 1:
                continue
            events[c] += 1.0
            a = amplitude_adc[ev, c]
            t = time_ns[ev, c]
            if a == a and t == t:  # an in-time pulse (NaN time without one)
                hits[c] += 1.0
                energy_sum[c] += a * gev_per_adc[c]
                time_sum[c] += t
                if is_led:
                    led[c, 0] += 1.0
                    led[c, 1] += a


def blind(events: np.ndarray, reco: np.ndarray, channels: np.ndarray | None,
          blinded: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The rows the monitor may see: without the signal box's events while ``blinded``.
    Also returns the kept rows' indices (to match sampled waveforms)."""
    if not blinded:
        return events, reco, channels, np.arange(len(events))
    keep = np.flatnonzero(reco["event_class"] != er.SIGNAL_BOX)
    if len(keep) == len(events):
        return events, reco, channels, keep
    return events[keep], reco[keep], (channels[keep] if channels is not None else None), keep


class HistogramFiller:
    """Fills a :class:`HistogramSet` from batches; holds what the kernels need to know of the
    detector and the configuration."""

    def __init__(self, detector: Detector, gev_per_adc: np.ndarray, beam_energy_gev: float,
                 box_ecal_gev: float, box_hcal_gev: float, blinded: bool):
        self.detector = detector
        self.specs = histogram_specs(detector.n_channels)
        self.gev_per_adc = np.asarray(gev_per_adc, np.float64)
        self.beam_energy_gev = float(beam_energy_gev)
        self.box = (float(box_ecal_gev), float(box_hcal_gev))
        self.blinded = bool(blinded)
        sources = list(detector.source_ids)
        self.source_bit = np.array([sources.index(c.source) for c in detector.channels],
                                   np.int64)

    @classmethod
    def for_classes(cls, detector: Detector, gev_per_adc: np.ndarray,
                    classes: ClassesSection) -> HistogramFiller:
        """The filler of the reconstruction's class cuts and blinding (``classes``)."""
        return cls(detector, gev_per_adc, classes.beam_energy_gev, classes.signal_ecal_max_gev,
                   classes.signal_hcal_max_gev, classes.blinded)

    def warm_up(self) -> None:
        """Compile (or load from the cache) both kernels for batches of one event and of
        more (their columns are contiguous for one event only, another type for numba)."""
        from daq.built_batch import BUILT_DTYPE

        for n in (1, 2):
            channels = np.zeros((n, self.detector.n_channels), er.CHANNEL_DTYPE)
            self.fill(self.new_set(), np.zeros(n, BUILT_DTYPE), np.zeros(n, er.RECO_DTYPE),
                      channels)

    def new_set(self) -> HistogramSet:
        return HistogramSet(self.specs)

    def fill(self, h: HistogramSet, events: np.ndarray, reco: np.ndarray,
             channels: np.ndarray | None, waveforms: np.ndarray | None = None) -> None:
        """Adds one batch (already blinded: :func:`blind`). ``waveforms``: sampled events'
        samples (k, channels, samples), for the pedestals."""
        a = h.arrays
        fill_events(events["trigger"], events["complete"], events["trigger_time_ns"],
                    reco["e_ecal_gev"], reco["e_hcal_gev"], reco["event_class"],
                    reco["srd_tag"], reco["srd_sideband_tag"], reco["muon_tag"],
                    reco["gain_drift_correction"],
                    self.beam_energy_gev, self.box[0], self.box[1], self.blinded,
                    a["energy_plane"], a["calibration_energy"], a["calibration_drift"],
                    a["classes"], a["triggers"], a["physics_tags"])
        if channels is not None:
            fill_channels(events["trigger"], events["missing"], self.source_bit,
                          channels["amplitude_adc"], channels["time_ns"], self.gev_per_adc,
                          a["channel_events"], a["channel_hits"], a["channel_energy_sum"],
                          a["channel_time_sum"], a["channel_led"])
        if waveforms is not None and len(waveforms):
            pre = waveforms[:, :, :PEDESTAL_SAMPLES].astype(np.float64)
            delivered = pre.max(2) > 0  # a missing source's channels are all 0
            a["channel_pedestal"][:, 0] += delivered.sum(0)
            a["channel_pedestal"][:, 1] += (pre.mean(2) * delivered).sum(0)
