"""The constants the reconstruction needs per channel; nominal ones from the gains
configuration now, from the conditions database once it exists."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from daq.detector import Detector
from emulator.config import GainsSection


@dataclass
class CalibrationConstants:
    gev_per_adc: np.ndarray  # per channel, GeV per ADC count of pulse amplitude
    time_offset_ns: np.ndarray  # per channel, in-time peak relative to the nominal one
    pedestal_adc: np.ndarray  # per channel (even, odd); NaN: learnt from the data
    reference_correction: np.ndarray  # per channel, this spill's LED/reference factor
    tag: str = "nominal"

    @classmethod
    def nominal(cls, detector: Detector, gains: GainsSection | None = None
                ) -> CalibrationConstants:
        """The design gains of each detector type: what a run starts from before any
        calibration."""
        g = gains or GainsSection()
        by_type = {"ECAL0": g.adc_per_gev_ecal0, "ECAL1": g.adc_per_gev_ecal1,
                   "HCAL": g.adc_per_gev_hcal, "SRD": g.adc_per_gev_srd}
        adc_per_gev = np.array([
            by_type.get(f"ECAL{c.module}" if c.detector == "ECAL" else c.detector,
                        g.adc_per_gev_counter) for c in detector.channels])
        n = detector.n_channels
        return cls(1.0 / adc_per_gev, np.zeros(n), np.full((n, 2), np.nan), np.ones(n))
