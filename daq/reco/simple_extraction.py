"""The reconstruction stub: the highest sample above a pedestal per channel (above the pulse
threshold), and the ECAL and HCAL sums from it. No fit, no pileup handling, no SRD, no classes
(every event is "other"). It cannot tell a signal-box candidate from pileup (a pileup pulse
anywhere in the window adds to its sums: boxed events measured up to 179 GeV), so with
blinding on (``classes.blinded``) it blinds every physics trigger.

What it is for: measuring the DAQ's data path without the reconstruction's cost
(``workers.reconstruction = "stub"``, ``bench/daq_throughput.py --stub``), the way the issue's
50,000 events/s figure is stated. It makes the same tables as :class:`Reconstruction`, so the
writer, the monitor and the ledger cannot tell the difference except by their values.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from daq.core import records as er
from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reco_config import RecoConfig
from daq.reco.reconstruction import ChannelResult

PEDESTAL_SAMPLES = 4  # the first samples of the window, before any in-time pulse


@njit(cache=True, nogil=True)
def peak_above_pedestal(samples, period_ns, threshold_adc, amplitude_adc, time_ns):
    """Per event and channel: the highest sample minus the mean of the first samples, and where
    it is (ns from the window start); below ``threshold_adc`` it is noise: 0 and NaN."""
    n_ev, n_ch, n_s = samples.shape
    for e in range(n_ev):
        for c in range(n_ch):
            w = samples[e, c]
            ped = 0.0
            for i in range(PEDESTAL_SAMPLES):
                ped += w[i]
            ped /= PEDESTAL_SAMPLES
            top, at = w[0], 0
            for i in range(1, n_s):
                if w[i] > top:
                    top, at = w[i], i
            amp = top - ped
            pulse = amp >= threshold_adc
            amplitude_adc[e, c] = amp if pulse else 0.0
            time_ns[e, c] = at * period_ns if pulse else np.nan


class SimpleExtraction:
    """Same call as :class:`Reconstruction`: ``(samples, events) -> (reco, channels)``."""

    def __init__(self, detector: Detector, config: RecoConfig | None = None,
                 constants: CalibrationConstants | None = None):
        self.detector = detector
        self.cfg = config or RecoConfig()
        self.threshold_adc = self.cfg.pulses.threshold_adc
        constants = constants or CalibrationConstants.nominal(detector)
        self.gev_per_adc = constants.gev_per_adc_in_force()
        self.ecal = detector.ecal
        self.hcal = [detector.hcal_module(m) for m in range(4)]

    def warm_up(self) -> float:
        d = self.detector
        events = np.zeros(1, [("trigger", "u1"), ("trigger_time_ns", "<u8"), ("spill", "<u4")])
        self(np.zeros((1, d.n_channels, d.samples_per_channel), np.uint16), events)
        return 0.0

    def __call__(self, samples: np.ndarray, events: np.ndarray
                 ) -> tuple[np.ndarray, ChannelResult]:
        n_ev, n_ch = samples.shape[:2]
        samples = samples.view()
        samples.flags.writeable = False  # one kernel signature, file or ZeroMQ buffer
        amp = np.empty((n_ev, n_ch), np.float32)
        t = np.empty((n_ev, n_ch), np.float32)
        peak_above_pedestal(samples, self.detector.sample_period_ns, self.threshold_adc, amp, t)
        energy = amp * self.gev_per_adc
        reco = np.zeros(n_ev, er.RECO_DTYPE)
        reco["e_ecal_gev"] = energy[:, self.ecal].sum(1)
        for m, cells in enumerate(self.hcal):
            reco["e_hcal_gev"][:, m] = energy[:, cells].sum(1)
        reco["gain_drift_correction"] = 1.0
        if "missing" in events.dtype.names:
            reco["flags"] = np.where(events["missing"] > 0, er.EV_MISSING, 0)
        if self.cfg.classes.blinded:
            reco["flags"][events["trigger"] == TriggerKind.PHYSICS] |= er.EV_BLINDED
        zeros = np.zeros((n_ev, n_ch), np.float32)
        ch = ChannelResult(amp, t, zeros, np.full((n_ev, n_ch), np.inf, np.float32),
                           (amp > 0).astype(np.uint8), np.zeros((n_ev, n_ch), np.uint8),
                           np.zeros((n_ev, n_ch, 2), np.float32), zeros, energy)
        return reco, ch
