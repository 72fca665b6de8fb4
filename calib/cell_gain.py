"""One cell's gain from a calibration run's peak fit: what ``calib ecal`` and ``calib hcal``
propose, print, write and draw alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calib.peak_fit import PeakFit


@dataclass
class CellGain:
    channel: str
    section: str  # "preshower", "main", "module 2", ...
    x: int
    y: int
    gain_old: float  # ADC/GeV
    fit: PeakFit
    gain_new: float | None = None  # None: refused (see fit.failed)

    def as_dict(self) -> dict:
        d = {"cell": self.channel, "section": self.section, "x": self.x, "y": self.y,
             "peak_adc": finite_or_none(self.fit.peak),
             "peak_error_adc": finite_or_none(self.fit.peak_error), "events": self.fit.n,
             "gain_old": self.gain_old}
        if self.gain_new is None:
            d["refused"] = self.fit.failed
        else:
            d["gain_new"] = self.gain_new
        return d


def gains(cells: list[CellGain]) -> dict[str, float]:
    """The proposed gains, refused cells left out."""
    return {c.channel: c.gain_new for c in cells if c.gain_new is not None}


def finite_or_none(x: float) -> float | None:
    return None if not np.isfinite(x) else float(x)
