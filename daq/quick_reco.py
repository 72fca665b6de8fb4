"""The online path's fast reconstruction until the full one (pulses, pileup, SRD tagging:
issue 4) lands: per channel, the even/odd pedestal from the first samples and the highest
pedestal-subtracted sample, converted with nominal gains; per event the subdetector sums.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from daq.built_batch import RECO_DTYPE
from daq.detector import Detector
from emulator.config import GainsSection

#: Samples before the pulse used for the pedestal (COMPASS uses 0-4).
PEDESTAL_SAMPLES = 4


@njit(cache=True, nogil=True)
def channel_amplitudes(samples: np.ndarray, out: np.ndarray) -> None:
    """``out[event, channel]`` = highest sample minus its (even or odd) pedestal, in ADC."""
    n_ev, n_ch, n_s = samples.shape
    for e in range(n_ev):
        for c in range(n_ch):
            ped_even = 0.0
            ped_odd = 0.0
            for i in range(0, PEDESTAL_SAMPLES, 2):
                ped_even += samples[e, c, i]
                ped_odd += samples[e, c, i + 1]
            ped_even /= PEDESTAL_SAMPLES // 2
            ped_odd /= PEDESTAL_SAMPLES // 2
            best = 0.0
            for i in range(PEDESTAL_SAMPLES, n_s):
                a = samples[e, c, i] - (ped_even if i % 2 == 0 else ped_odd)
                if a > best:
                    best = a
            out[e, c] = best


class QuickReco:
    """Holds the per-channel gains and the channel groups; ``__call__`` works on a batch."""

    def __init__(self, detector: Detector, gains: GainsSection):
        nominal = {"ECAL0": gains.adc_per_gev_ecal0, "ECAL1": gains.adc_per_gev_ecal1,
                   "HCAL": gains.adc_per_gev_hcal, "SRD": gains.adc_per_gev_srd}
        self.gev_per_adc = np.array([
            1.0 / nominal.get(f"ECAL{c.module}" if c.detector == "ECAL" else c.detector,
                              gains.adc_per_gev_counter) for c in detector.channels],
            dtype=np.float32)
        self.ps, self.main = detector.ecal_preshower, detector.ecal_main
        self.hcal = [detector.hcal_module(m) for m in range(4)]
        self.veto, self.srd = detector.veto, detector.srd

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        amp = np.empty(samples.shape[:2], np.float32)
        channel_amplitudes(samples, amp)
        e = amp * self.gev_per_adc
        reco = np.zeros(len(samples), RECO_DTYPE)
        reco["e_preshower_gev"] = e[:, self.ps].sum(1)
        reco["e_ecal_gev"] = reco["e_preshower_gev"] + e[:, self.main].sum(1)
        for m, chans in enumerate(self.hcal):
            reco["e_hcal_gev"][:, m] = e[:, chans].sum(1)
        reco["e_veto_gev"] = e[:, self.veto].sum(1)
        reco["e_srd_gev"] = e[:, self.srd].sum(1)
        return reco
