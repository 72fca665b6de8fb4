"""The reconstruction of a batch: channel pulses (``pulse/channel_kernel.py``), calibration,
the drift correction, sums, shower shape, SRD tag, both pileup rules and the event class.

:class:`Reconstruction` holds the configuration, the constants and what it learns from the
data as it goes (running pedestals from random triggers, the intra-spill gain drift from
calibration-trigger electrons); call it on each batch, in order. What it learnt and used for a
batch is its :class:`LearntState`, which the run file records per batch, so that the batch's
reconstruction can be computed again bit for bit (``docs/reconstruction.md``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numba import njit

from daq.core import records as er
from daq.core.detector import Detector
from daq.core.pulse_shape import PulseTemplate, smeared
from daq.core.wire_format import TriggerKind
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.event_class import candidate_selection, classify
from daq.reco.event_sums import CHANNEL_TO_EVENT_FLAGS, EVENT_SUMS_FIELDS, event_sums
from daq.reco.pulse.channel_kernel import (
    ChannelOutputs,
    ChannelSettings,
    PulseShape,
    reconstruct_groups,
    stack_shapes,
)
from daq.reco.pulse.pedestals import move_pedestals, quiet_pedestal_sums, running_pedestals
from daq.reco.pulse.template import phase_table
from daq.reco.reco_config import RecoConfig
from daq.reco.shower_shape import shower_shape

#: The ECAL's lateral profile for an electron: per axis, a Laplace distribution with this scale
#: in cell units (it puts the configured 0.684 of a centred shower in the central cell).
LAPLACE_SCALE_CELLS = -1.0 / (2.0 * math.log(1.0 - math.sqrt(0.684)))
#: Expected preshower fraction of an electron shower and its relative spread.
PRESHOWER_FRACTION, PRESHOWER_SPREAD = 0.05, 0.3


@dataclass
class LearntState:
    """What a batch was reconstructed with beyond the configuration and the constants."""

    pedestal_adc: np.ndarray  # (channels, 2) float64: the running pedestals, even and odd
    drift_sums: np.ndarray  # (6,) float64: the gain-drift fit's weighted sums (n, t, t^2, ...)

    def record(self) -> dict[str, list]:
        """As the worker sends it with the batch and ``layout.state_row`` reads it (JSON
        numbers: Python writes floats that read back bit for bit)."""
        return {"pedestal_adc": self.pedestal_adc.tolist(),
                "drift_sums": self.drift_sums.tolist()}


@dataclass
class ChannelResult:
    """Per event and channel (all ``(events, channels)``)."""

    amplitude_adc: np.ndarray  # the in-time pulse, 0 without one
    time_ns: np.ndarray  # its peak, from the window start; NaN without one
    out_of_time_adc: np.ndarray  # the other pulses, summed
    nearest_ns: np.ndarray  # from the in-time pulse to the nearest other one (inf: none)
    n_pulses: np.ndarray
    flags: np.ndarray  # daq.reco.pulse.flags bits
    pedestal_adc: np.ndarray  # (events, channels, 2): even, odd
    side_band_adc: np.ndarray  # SRD channels: the pulse in the accidentals' side band, else 0
    energy_gev: np.ndarray | None = None  # the in-time pulse, calibrated (the whole chain)

    def table(self) -> np.ndarray:
        """What travels to the run file: ``(events, channels)`` of ``CHANNEL_DTYPE``."""
        out = np.empty(self.amplitude_adc.shape, er.CHANNEL_DTYPE)
        out["amplitude_adc"] = self.amplitude_adc
        out["time_ns"] = self.time_ns
        out["n_pulses"] = self.n_pulses
        out["flags"] = self.flags
        return out


class Reconstruction:
    def __init__(self, detector: Detector, config: RecoConfig | None = None,
                 constants: CalibrationConstants | None = None):
        self.detector = detector
        self.cfg = config or RecoConfig()
        self.constants = constants or CalibrationConstants.nominal(detector)
        p = self.cfg.pulses
        self.template = PulseTemplate(p.peak_ns, p.order)
        self.period_ns = detector.sample_period_ns
        self.shape = self._pulse_shape(self.template.table, self.template.t0_ns)
        learnt = self.constants.pulse_templates
        nominal = [c for c in range(detector.n_channels) if c not in learnt]
        #: (channels, their pulses' shape): the analytic template's, then each learnt one's,
        #: stacked for the kernel: group g is channels[first[g]:first[g + 1]]
        groups = ([(nominal, self.shape)] if nominal else []) + [
            ([c], self._pulse_shape(*learnt[c].table())) for c in sorted(learnt)]
        self.shapes = stack_shapes([shape for _, shape in groups])
        self.group_channels = np.array([c for chs, _ in groups for c in chs], np.int64)
        self.group_first = np.cumsum([0] + [len(chs) for chs, _ in groups]).astype(np.int64)
        c, s = self.cfg, self.cfg.srd
        half = 0.5 * (s.sideband_hi_ns - s.sideband_lo_ns)
        self.settings = ChannelSettings(
            float(detector.adc_max), int(c.pedestal.samples // 2),
            float(c.pedestal.max_deviation_adc), float(c.pedestal.max_shift_adc),
            float(p.threshold_adc), int(p.max_pulses), int(p.fit_iterations),
            float(p.chi2_per_sample_max), float(p.noise_adc),
            float(p.in_time_window_ns
                  + (0.5 * self.period_ns if p.trigger_phase == "unknown" else 0.0)),
            float(p.separate_ns), float(s.sideband_lo_ns + half), float(half))
        self.ped_ref = np.array(self.constants.pedestal_adc, dtype=np.float64)
        sources = list(detector.source_ids)
        self.source_bit = np.array([sources.index(detector.source_of(c.name))
                                    for c in detector.channels], np.int64)
        self.ps, self.main = detector.ecal_preshower, detector.ecal_main
        self.ecal = detector.ecal
        self.hcal = np.stack([detector.hcal_module(m) for m in range(4)])
        self.hcal_all = self.hcal.ravel()
        self.grid = detector.grid("ECAL", 1)  # [y, x] -> channel
        veto = detector.veto
        modules = sorted({detector.channels[i].module for i in veto})
        self.veto_pairs = np.array([[i for i in veto if detector.channels[i].module == m]
                                    for m in modules])
        self.srd = detector.srd
        self.side_band = np.zeros(detector.n_channels, np.bool_)
        self.side_band[self.srd] = True
        self.calorimeter = np.concatenate([self.ecal, self.hcal_all])
        self.muon = detector.muon_counters
        self.beam = detector.beam_counters
        self.drift = np.zeros(6)  # weighted sums n, t, t^2, r, t r, r^2 of electrons' E/E_beam
        self.spill = None
        self.last_state: LearntState | None = None

    def _pulse_shape(self, table: np.ndarray, t0_ns: float) -> PulseShape:
        """A template as the kernels use it: with its phase table and its smeared copy for
        forced amplitudes."""
        lut, lut_r0, lut_step = phase_table(table, t0_ns, self.period_ns)
        forced_table, forced_t0_ns = smeared(table, t0_ns,
                                             self.cfg.pulses.forced_time_spread_ns)
        # float(): one compiled signature whatever the configuration's number types
        return PulseShape(table, float(t0_ns), forced_table, float(forced_t0_ns),
                          float(self.period_ns), lut, float(lut_r0), float(lut_step),
                          float(-t0_ns))

    def warm_up(self) -> float:
        """Runs the kernels on blank batches of one and of two events (JIT compile, or load the
        cache): the event table's columns are contiguous for one event only, another type for
        the kernels. Returns the time it took, the first event's latency. The learnt state is
        left untouched."""
        t0 = time.perf_counter()
        d = self.detector
        state = (self.ped_ref.copy(), self.drift.copy(), self.spill)
        for n in (1, 2):
            events = np.zeros(n, [("trigger", "u1"), ("trigger_time_ns", "<u8"),
                                  ("spill", "<u4")])
            self(np.full((n, d.n_channels, d.samples_per_channel), 100, np.uint16), events)
        self.ped_ref, self.drift, self.spill = state
        self.last_state = None
        return time.perf_counter() - t0

    def expected_time_ns(self, events: np.ndarray) -> np.ndarray:
        """Per event, where an in-time pulse peaks (ns from the window start): the nominal
        offset plus the trigger's phase to the sampling clock."""
        if self.cfg.pulses.trigger_phase == "unknown":  # the middle of the possible phases
            return np.full(len(events), self.cfg.pulses.trigger_offset_ns + 0.5 * self.period_ns)
        return (self.cfg.pulses.trigger_offset_ns
                + events["trigger_time_ns"].astype(np.float64) % self.period_ns)

    @property
    def gev_per_adc(self) -> np.ndarray:
        """Per channel, the calibration in force: gain x this spill's reference correction."""
        return self.constants.gev_per_adc_in_force()

    # -- channels ------------------------------------------------------------------------------
    def channels(self, samples: np.ndarray, events: np.ndarray) -> ChannelResult:
        """Pulses of every channel, and for the SRD the pulse in the side band."""
        # one kernel signature for every caller: the worker's samples are read-only ZeroMQ
        # buffers, a file's are not; another signature is a compilation (no copy)
        samples = samples.view()
        samples.flags.writeable = False
        n_ev, n_ch = samples.shape[:2]
        missing = (events["missing"].astype(np.int64) if "missing" in events.dtype.names
                   else np.zeros(n_ev, np.int64))
        out = [np.empty((n_ev, n_ch), np.float32) for _ in range(4)]
        n_pulses = np.empty((n_ev, n_ch), np.uint8)
        flags = np.empty((n_ev, n_ch), np.uint8)
        ped = np.empty((n_ev, n_ch, 2), np.float32)
        side = np.empty((n_ev, n_ch), np.float32)
        t_expected_ns = self.expected_time_ns(events)
        outputs = ChannelOutputs(*out, n_pulses, flags, ped, side)
        reconstruct_groups(samples, self.group_channels, self.group_first, t_expected_ns,
                           missing, self.source_bit, self.ped_ref,
                           self.constants.time_offset_ns, self.side_band, self.shapes,
                           self.settings, outputs)
        return ChannelResult(out[0], out[1], out[2], out[3], n_pulses, flags, ped, side)

    # -- events --------------------------------------------------------------------------------
    def __call__(self, samples: np.ndarray, events: np.ndarray,
                 state: LearntState | None = None) -> tuple[np.ndarray, ChannelResult]:
        """Reconstruct a batch: ``samples`` (events, channels, samples) uint16 and its event
        table (``trigger``, ``trigger_time_ns``, ``spill``, optionally ``missing``). With
        ``state`` (a recorded batch's), the batch is reconstructed with it instead of what
        was learnt so far. The state used is ``last_state`` afterwards."""
        if samples.ndim != 3 or samples.shape[1:] != (self.detector.n_channels,
                                                      self.detector.samples_per_channel):
            raise ValueError(f"samples of shape {samples.shape} do not fit the detector map")
        if state is not None:
            self.ped_ref[:] = state.pedestal_adc
            self.drift[:] = state.drift_sums
        elif np.isnan(self.ped_ref).any():
            self._learn_pedestals(samples)
        self.last_state = LearntState(self.ped_ref.copy(), self.drift.copy())
        reco, ch = self._reconstruct(samples, events)
        trigger = _column(events, "trigger")
        running_pedestals(trigger, ch.flags, ch.pedestal_adc, int(TriggerKind.RANDOM),
                          self.cfg.pedestal.running_weight, self.ped_ref)
        self._learn_drift(events, trigger, reco)
        return reco, ch

    def _reconstruct(self, samples: np.ndarray, events: np.ndarray
                     ) -> tuple[np.ndarray, ChannelResult]:
        """A batch with the pedestals and drift sums as they are (learning nothing)."""
        ch = self.channels(samples, events)
        reco = np.zeros(len(events), er.RECO_DTYPE)
        drift = self._drift_factor(events)
        reco["gain_drift_correction"] = drift
        self._sums(ch, events, drift, reco)
        self._shower_shape(ch.energy_gev, reco)
        self._classify(reco, _column(events, "trigger"))
        return reco, ch

    def relearn(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]
                ) -> Iterator[tuple[np.ndarray, np.ndarray, ChannelResult, LearntState]]:
        """Reconstruct a run's (samples, events) batches, in event order, learning per spill:
        every event of a spill is reconstructed with what the spills before it taught (the
        running pedestals, the gain-drift sums faded by one spill each), and the spill's own
        random triggers and electrons are learnt at its end. The result does not depend on
        how the events were batched. Yields (events, reco, channels, state) per batch, cut at
        the spills' boundaries. Pedestals the constants lack are learnt first (``learn``)."""
        n_ch = self.detector.n_channels
        n_quiet, total = np.zeros(n_ch, np.int64), np.zeros((n_ch, 2))
        sums = np.zeros(6)
        spill, state = None, None
        for samples, events in batches:
            for lo, hi in er.spill_runs(events["spill"]):
                if events["spill"][lo] != spill:
                    if spill is not None:
                        self._learn_spill(n_quiet, total, sums)
                    spill = events["spill"][lo]
                    n_quiet[:], total[:], sums[:] = 0, 0.0, 0.0
                    state = LearntState(self.ped_ref.copy(), self.drift.copy())
                part = events[lo:hi]
                reco, ch = self._reconstruct(samples[lo:hi], part)
                trigger = _column(part, "trigger")
                quiet_pedestal_sums(trigger, ch.flags, ch.pedestal_adc,
                                    int(TriggerKind.RANDOM), n_quiet, total)
                self._electron_sums(part, trigger, reco, sums)
                yield part, reco, ch, state
        if spill is not None:
            self._learn_spill(n_quiet, total, sums)

    def learn_pedestals(self, samples: np.ndarray) -> None:
        """The pedestals the constants lack, from these events (the median of each
        channel's own): before ``relearn``, from the run's first events."""
        if np.isnan(self.ped_ref).any():
            self._learn_pedestals(samples)

    def _learn_spill(self, n_quiet: np.ndarray, total: np.ndarray, sums: np.ndarray) -> None:
        move_pedestals(n_quiet, total, self.cfg.pedestal.running_weight, self.ped_ref)
        self.drift *= 1.0 - 1.0 / self.cfg.calibration.drift_memory_spills
        self.drift += sums

    def _sums(self, ch: ChannelResult, events: np.ndarray, drift: np.ndarray,
              reco: np.ndarray) -> None:
        """Cell energies into ``ch.energy_gev``; sums, veto, SRD, muon tag and the event flags
        of both pileup rules into ``reco`` (``daq/reco/event_sums.py``)."""
        c, pu, s = self.cfg.classes, self.cfg.pileup, self.cfg.srd
        ch.energy_gev = np.empty(ch.amplitude_adc.shape, np.float32)
        event_sums(ch.amplitude_adc, ch.out_of_time_adc, ch.time_ns, ch.nearest_ns, ch.n_pulses,
                   ch.flags, ch.side_band_adc, self.gev_per_adc, drift,
                   self.expected_time_ns(events), self.constants.time_offset_ns,
                   CHANNEL_TO_EVENT_FLAGS, self.ps, self.main, self.hcal, self.calorimeter,
                   self.veto_pairs, self.srd, self.muon, self.beam, s.window_ns,
                   s.module_min_gev, s.module_max_gev, s.modules_required, c.mip_min_gev,
                   c.mip_max_gev, c.muon_counter_min_adc, pu.cell_min_gev, pu.unresolved_ns,
                   pu.counter_mip_gev, pu.counter_max_mips,
                   c.beam_energy_gev + c.region2_tolerance_gev, pu.na64_window_ns,
                   pu.na64_ecal_out_of_time_max_gev, pu.na64_hcal_out_of_time_max_gev,
                   ch.energy_gev, *(reco[name] for name in EVENT_SUMS_FIELDS))

    def candidates(self, reco: np.ndarray) -> np.ndarray:
        """Per event, whether it passes the signal-candidate selection (``candidate``)."""
        k = self.cfg.candidate
        pileup = er.EV_PILEUP_OURS if self.cfg.pileup.method == "ours" else er.EV_PILEUP_NA64
        out = np.empty(len(reco), np.bool_)
        candidate_selection(reco["e_srd_gev"], reco["e_veto_gev"], reco["ecal_shape_chi2"],
                            reco["flags"], pileup, k.srd_module_min_gev, k.srd_module_max_gev,
                            k.veto_max_gev, k.shape_chi2_max, out)
        return out

    def _classify(self, reco: np.ndarray, trigger: np.ndarray) -> None:
        c = self.cfg.classes
        pileup = er.EV_PILEUP_OURS if self.cfg.pileup.method == "ours" else er.EV_PILEUP_NA64
        classify(trigger, reco["e_ecal_gev"], reco["e_hcal_gev"],
                 reco["muon_tag"], reco["flags"], pileup, c.beam_energy_gev,
                 c.region2_tolerance_gev, c.signal_ecal_max_gev, c.signal_hcal_max_gev,
                 self.candidates(reco), c.blinded, reco["event_class"])

    # -- shower shape --------------------------------------------------------------------------
    def _shower_shape(self, e: np.ndarray, reco: np.ndarray) -> None:
        """Energy-weighted centre of the main section (cells) and a shape chi2 against the
        electron profile (``daq/reco/shower_shape.py``)."""
        n = len(e)
        x, y, chi2 = np.empty(n), np.empty(n), np.empty(n)
        shower_shape(e, self.grid, reco["e_preshower_gev"].astype(np.float64),
                     reco["e_ecal_gev"].astype(np.float64), LAPLACE_SCALE_CELLS,
                     PRESHOWER_FRACTION, PRESHOWER_SPREAD, x, y, chi2)
        reco["ecal_x_cells"], reco["ecal_y_cells"], reco["ecal_shape_chi2"] = x, y, chi2

    # -- what is learnt from the data ----------------------------------------------------------
    def _learn_pedestals(self, samples: np.ndarray) -> None:
        """First batch without constants: per channel the median pedestal of the batch."""
        n = self.cfg.pedestal.samples // 2 * 2
        pre = samples[:, :, :n].astype(np.float64)
        ped = np.stack([np.median(pre[:, :, 0::2].mean(2), 0),
                        np.median(pre[:, :, 1::2].mean(2), 0)], 1)
        unknown = np.isnan(self.ped_ref)
        self.ped_ref[unknown] = ped[unknown]

    def _drift_factor(self, events: np.ndarray) -> np.ndarray:
        """Per event, the factor that undoes the intra-spill gain drift (1 until measured)."""
        n, st, stt, sr, str_, srr = self.drift
        c = self.cfg.calibration
        none = np.ones(len(events))
        if not c.drift_correction or n < c.drift_min_events:
            return none
        sxx = stt - st * st / n  # the straight-line fit of E/E_beam against t
        if sxx <= 0:
            return none
        slope = (str_ - st * sr / n) / sxx
        intercept = (sr - slope * st) / n
        var = max(srr - sr * sr / n - slope * slope * sxx, 0.0) / max(n - 2, 1)
        if intercept <= 0 or abs(slope) < 3.0 * math.sqrt(var / sxx):  # not significant
            return none
        t_s = events["trigger_time_ns"].astype(np.float64) * 1e-9
        return 1.0 / (1.0 + (slope / intercept) * t_s)

    def _learn_drift(self, events: np.ndarray, trigger: np.ndarray, reco: np.ndarray
                     ) -> None:
        """Calibration-trigger electrons (E_ECAL near the beam energy, nothing in the HCAL)
        measure E_ECAL / E_beam against the time in the spill; older spills fade out."""
        spill = int(events["spill"][0]) if "spill" in events.dtype.names and len(events) else 0
        if spill != self.spill:
            self.spill = spill
            self.drift *= 1.0 - 1.0 / self.cfg.calibration.drift_memory_spills
        self._electron_sums(events, trigger, reco, self.drift)

    def _electron_sums(self, events: np.ndarray, trigger: np.ndarray, reco: np.ndarray,
                       sums: np.ndarray) -> None:
        _electron_drift_sums(trigger, _column(events, "trigger_time_ns"), reco["e_ecal_gev"],
                             reco["gain_drift_correction"], reco["e_hcal_gev"],
                             reco["event_class"], self.cfg.classes.beam_energy_gev,
                             int(TriggerKind.CALIBRATION), er.PILEUP, sums)


def _column(events: np.ndarray, name: str) -> np.ndarray:
    """A field of the event table as an array of its own: C-contiguous and writable whether
    the table is a read-only ZeroMQ buffer or not, of one event or many (one kernel signature,
    compiled at warm-up)."""
    return events[name].copy()


@njit(cache=True, nogil=True)
def _electron_drift_sums(trigger, trigger_time_ns, e_ecal_gev, drift_correction, e_hcal_gev,
                         event_class, beam_energy_gev, calibration_trigger, pileup_class, sums):
    """Adds the calibration-trigger electrons of a batch (E_ECAL before the drift correction
    within 30 % of the beam energy, the HCAL below 5 % of it, not pileup) to the weighted
    sums n, t, t^2, r, t r, r^2 of r = E/E_beam against the time t (s) in the spill."""
    for ev in range(trigger.shape[0]):
        if trigger[ev] != calibration_trigger or event_class[ev] == pileup_class:
            continue
        raw = e_ecal_gev[ev] / drift_correction[ev]
        e_hcal = e_hcal_gev[ev, 0]
        for m in range(1, e_hcal_gev.shape[1]):
            e_hcal += e_hcal_gev[ev, m]
        r = raw / beam_energy_gev
        if not (abs(r - 1.0) < 0.3 and e_hcal < 0.05 * beam_energy_gev):
            continue
        t = trigger_time_ns[ev] * 1e-9
        sums[0] += 1.0
        sums[1] += t
        sums[2] += t * t
        sums[3] += r
        sums[4] += t * r
        sums[5] += r * r
