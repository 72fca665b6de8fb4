"""The monitor's histogram set and its filling kernels (``docs/monitor.md``): one fixed set,
filled per batch in numba, the same for the live tap and the file feed. No Qt here: the DAQ's
tap imports this module."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from daq.core import records as er
from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.reco.reco_config import RecoConfig

PHYSICS, CALIBRATION = int(TriggerKind.PHYSICS), int(TriggerKind.CALIBRATION)
RANDOM, LED = int(TriggerKind.RANDOM), int(TriggerKind.LED)
TRIGGER_NAMES = ("physics", "calibration", "random", "LED")
CLASS_BINS = (*er.CLASS_NAMES, "incomplete")
INCOMPLETE = len(er.CLASS_NAMES)
TAG_BINS = ("physics complete", "SRD tagged", "side band tagged", "muon tagged")
#: calibration-trigger electrons and the selection's parts on them (``docs/monitor.md``)
ELECTRON_BINS = ("electrons", "SRD tagged", "selection without veto", "veto below threshold",
                 "HCAL below the box")
ELECTRON_WINDOW = 0.15  # |E/E_beam - 1| below this: a calibration electron
PEAK_WINDOW = (0.8, 1.2)  # E/E_beam (corrected) of the drift histogram's electrons
QUIET_ADC = 10.0  # pre-signal even (and odd) samples within this: a pedestal without a tail
EVENT_SAMPLE_PER_BIN = 4  # event identifiers kept per bin of the energy plane
EVENT_SAMPLE_PER_CLASS = 32

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
                                           "E/E_beam uncorrected", "squares corrected"))),
                      "complete calibration triggers in the electron peak: the gain drift "
                      "along the spill"),
        HistogramSpec("calibration_tags", (_categories("electrons", ELECTRON_BINS),),
                      "calibration-trigger electrons: SRD tag and the selection's parts"),
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
                      (ch, _categories("sum", ("waveforms", "sum of mean ADC",
                                               "sum of squares"))),
                      "first samples of the sampled waveforms quiet there"),
        HistogramSpec("channel_led", (ch, _categories("sum", ("events", "sum ADC",
                                                              "sum of squares"))),
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
                srd_tag, srd_sideband_tag, muon_tag, drift_correction, e_srd_gev, e_veto_gev,
                shape_chi2, flags, cuts, pileup_flag, beam_energy_gev, box_ecal_gev,
                box_hcal_gev, blinded, plane, calibration_energy, calibration_drift,
                calibration_tags, classes, triggers, tags):
    """One pass over a batch's events into the event-level histograms. Uniform binnings:
    PLANE_GEV, CALIBRATION_GEV, DRIFT_S. ``blinded``: events in the signal box's bins are
    left out of the plane (the worker already left out the box's candidates). ``cuts``: the
    candidate selection's SRD module min, max (GeV), veto max (GeV), shape chi2 max."""
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
            if (0 <= d < n_drift and corr > 0 and PEAK_WINDOW[0] < ratio < PEAK_WINDOW[1]):
                calibration_drift[int(d), 0] += 1.0
                calibration_drift[int(d), 1] += ratio
                calibration_drift[int(d), 2] += ratio / corr
                calibration_drift[int(d), 3] += ratio * ratio
            if abs(ratio - 1.0) < ELECTRON_WINDOW and not (flags[ev] & pileup_flag):
                _electron_tags(ev, srd_tag, e_srd_gev, e_veto_gev, shape_chi2, cuts,
                               e_hcal_gev, box_hcal_gev, calibration_tags)


@njit(cache=True, nogil=True)
def _electron_tags(ev, srd_tag, e_srd_gev, e_veto_gev, shape_chi2, cuts, e_hcal_gev,
                   box_hcal_gev, out):
    """A calibration electron's SRD tag and the candidate selection's parts (ELECTRON_BINS)."""
    out[0] += 1.0
    out[1] += srd_tag[ev]
    ok = shape_chi2[ev] < cuts[3]  # NaN fails
    for m in range(e_srd_gev.shape[1]):
        ok = ok and cuts[0] <= e_srd_gev[ev, m] <= cuts[1]
    out[2] += ok
    quiet = True
    for k in range(e_veto_gev.shape[1]):
        quiet = quiet and e_veto_gev[ev, k] < cuts[2]
    out[3] += quiet
    e_hcal = 0.0
    for m in range(e_hcal_gev.shape[1]):
        e_hcal += e_hcal_gev[ev, m]
    out[4] += e_hcal < box_hcal_gev


@njit(cache=True, nogil=True)
def sample_events(spill, event, trigger, complete, e_ecal_gev, e_hcal_gev, event_class,
                  box_ecal_gev, box_hcal_gev, blinded, plane_seen, plane_ids, class_seen,
                  class_ids):
    """The latest identifiers (spill, event) per energy-plane bin of beam triggers and per
    class, in ring buffers (``*_seen`` counts what went by): what a click on a bin lists."""
    n_plane = plane_seen.shape[0]
    scale = n_plane / (PLANE_GEV[1] - PLANE_GEV[0])
    k_bin, k_cls = plane_ids.shape[2], class_ids.shape[1]
    for ev in range(trigger.shape[0]):
        if not complete[ev]:
            continue
        c = event_class[ev]
        if c < class_seen.shape[0]:
            slot = int(class_seen[c]) % k_cls
            class_ids[c, slot, 0] = spill[ev]
            class_ids[c, slot, 1] = event[ev]
            class_seen[c] += 1
        if trigger[ev] != PHYSICS and trigger[ev] != CALIBRATION:
            continue
        e_ecal = e_ecal_gev[ev]
        e_hcal = e_hcal_gev[ev, 0] + e_hcal_gev[ev, 1]
        if blinded and e_ecal < box_ecal_gev and e_hcal < box_hcal_gev:
            continue
        i = np.floor((e_ecal - PLANE_GEV[0]) * scale)
        j = np.floor((e_hcal - PLANE_GEV[0]) * scale)
        if 0 <= i < n_plane and 0 <= j < n_plane:
            slot = int(plane_seen[int(i), int(j)]) % k_bin
            plane_ids[int(i), int(j), slot, 0] = spill[ev]
            plane_ids[int(i), int(j), slot, 1] = event[ev]
            plane_seen[int(i), int(j)] += 1


@njit(cache=True, nogil=True)
def fill_channels(trigger, missing, channel_source_bit, amplitude_adc, time_ns, n_pulses,
                  gev_per_adc, events, hits, energy_sum, time_sum, led):
    """One pass over a batch's channel tables into the per-channel sums. LED sums take
    pulses alone in their window (a beam particle on top would bias the mean)."""
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
                if is_led and n_pulses[ev, c] == 1:
                    led[c, 0] += 1.0
                    led[c, 1] += a
                    led[c, 2] += a * a


class HistogramFiller:
    """Fills a :class:`HistogramSet` from batches; holds what the kernels need to know of the
    detector and the configuration."""

    def __init__(self, detector: Detector, gev_per_adc: np.ndarray, reco: RecoConfig):
        """``reco``: the run's reconstruction configuration, whose class cuts, blinding,
        candidate selection, pileup rule and pedestal samples the histograms follow."""
        self.detector = detector
        self.reco = reco
        c = reco.candidate
        self.cuts = np.array([c.srd_module_min_gev, c.srd_module_max_gev, c.veto_max_gev,
                              c.shape_chi2_max])
        self.pileup_flag = er.EV_PILEUP_OURS if reco.pileup.method == "ours" else \
            er.EV_PILEUP_NA64
        self.specs = histogram_specs(detector.n_channels)
        self.gev_per_adc = np.asarray(gev_per_adc, np.float64)
        k = reco.classes
        self.beam_energy_gev = float(k.beam_energy_gev)
        self.box = (float(k.signal_ecal_max_gev), float(k.signal_hcal_max_gev))
        self.blinded = bool(k.blinded)
        self.pedestal_samples = reco.pedestal.samples
        sources = list(detector.source_ids)
        self.source_bit = np.array([sources.index(c.source) for c in detector.channels],
                                   np.int64)

    def warm_up(self) -> None:
        """Compile (or load from the cache) both kernels for batches of one event and of
        more (their columns are contiguous for one event only, another type for numba)."""
        from daq.core.built_batch import BUILT_DTYPE

        for n in (1, 2):
            channels = np.zeros((n, self.detector.n_channels), er.CHANNEL_DTYPE)
            events, reco = np.zeros(n, BUILT_DTYPE), np.zeros(n, er.RECO_DTYPE)
            self.fill(self.new_set(), events, reco, channels)
            self.sample(EventSample(), events, reco)

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
                    reco["gain_drift_correction"], reco["e_srd_gev"], reco["e_veto_gev"],
                    reco["ecal_shape_chi2"], reco["flags"], self.cuts, self.pileup_flag,
                    self.beam_energy_gev, self.box[0], self.box[1], self.blinded,
                    a["energy_plane"], a["calibration_energy"], a["calibration_drift"],
                    a["calibration_tags"], a["classes"], a["triggers"], a["physics_tags"])
        if channels is not None:
            fill_channels(events["trigger"], events["missing"], self.source_bit,
                          channels["amplitude_adc"], channels["time_ns"],
                          channels["n_pulses"], self.gev_per_adc,
                          a["channel_events"], a["channel_hits"], a["channel_energy_sum"],
                          a["channel_time_sum"], a["channel_led"])
        if waveforms is not None and len(waveforms):
            pre = waveforms[:, :, :self.pedestal_samples].astype(np.float64)
            delivered = pre.max(2) > 0  # a missing source's channels are all 0
            for half in (pre[:, :, 0::2], pre[:, :, 1::2]):  # no pileup tail in either
                delivered &= half.max(2) - half.min(2) <= QUIET_ADC
            mean = pre.mean(2) * delivered
            a["channel_pedestal"][:, 0] += delivered.sum(0)
            a["channel_pedestal"][:, 1] += mean.sum(0)
            a["channel_pedestal"][:, 2] += (mean * mean).sum(0)

    def sample(self, ids: EventSample, events: np.ndarray, reco: np.ndarray) -> None:
        """Adds a batch's (already blinded) events to the run's event sample."""
        sample_events(events["spill"], events["event"], events["trigger"], events["complete"],
                      reco["e_ecal_gev"], reco["e_hcal_gev"], reco["event_class"], self.box[0],
                      self.box[1], self.blinded, ids.plane_seen, ids.plane_ids,
                      ids.class_seen, ids.class_ids)


class EventSample:
    """The run's latest event identifiers per plane bin and per class (``sample_events``)."""

    def __init__(self) -> None:
        n = PLANE_GEV[2]
        self.plane_seen = np.zeros((n, n))
        self.plane_ids = np.zeros((n, n, EVENT_SAMPLE_PER_BIN, 2), np.int64)
        self.class_seen = np.zeros(len(er.CLASS_NAMES))
        self.class_ids = np.zeros((len(er.CLASS_NAMES), EVENT_SAMPLE_PER_CLASS, 2), np.int64)

    def arrays(self) -> list[tuple[str, np.ndarray]]:
        """The snapshot's ``plane_events`` (E_ECAL bin, E_HCAL bin, spill, event) and
        ``class_events`` (class, spill, event) rows, int32."""
        n_bins = self.plane_seen.shape[1]
        owner, ids = _kept(self.plane_seen.ravel(), self.plane_ids.reshape(
            -1, *self.plane_ids.shape[2:]))
        plane = np.column_stack([owner // n_bins, owner % n_bins, ids])
        owner, ids = _kept(self.class_seen, self.class_ids)
        return [("plane_events", plane.astype("<i4").reshape(-1, 4)),
                ("class_events", np.column_stack([owner, ids]).astype("<i4").reshape(-1, 3))]


def _kept(seen: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per filled ring slot: its ring's index and the identifiers in it."""
    n = np.minimum(seen, ids.shape[1]).astype(np.int64)
    owner = np.repeat(np.arange(len(n)), n)
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(n) - n, n)
    return owner, ids[owner, slot]
