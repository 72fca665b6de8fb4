"""HCAL gains from a muon run (``docs/conditions.md``).

A muon crosses the four HCAL modules in the same cell and leaves a MIP in each. Each cell is
calibrated on muons tagged by the other three modules only (tag and probe), so that the
selection never looks at the amplitude being measured: the peak of that amplitude over the
most probable MIP energy is the cell's gain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from calib.calib_config import HcalSection
from calib.cell_gain import CellGain, gains
from calib.peak_fit import fit_peak
from daq.core.detector import Detector


@dataclass
class HcalCalibration:
    cells: list[CellGain]
    muons: int  # events with a muon tagged in every module
    notes: list[str] = field(default_factory=list)

    @property
    def gains(self) -> dict[str, float]:
        return gains(self.cells)


def calibrate_hcal(amplitude_adc: np.ndarray, detector: Detector, gain_old: np.ndarray,
                   cfg: HcalSection, progress: Callable[[int], None] | None = None
                   ) -> HcalCalibration:
    """``amplitude_adc``: (events, channels) in the map's order, NaN where unusable, of the
    muon run's calibration triggers; ``gain_old``: ADC/GeV per channel, those of the run."""
    modules = sorted({c.module for c in detector.channels if c.detector == "HCAL"})
    grids = np.stack([detector.grid("HCAL", m) for m in modules])
    n_mod, ny, nx = grids.shape
    channels = grids.reshape(n_mod, ny * nx)
    amp = amplitude_adc[:, channels]  # (events, module, cell)
    energy = np.where(np.isfinite(amp), amp / gain_old[channels], -np.inf)
    hottest = np.argmax(energy, 2) if len(amp) else np.zeros((0, n_mod), int)
    e_hot = np.take_along_axis(energy, hottest[..., None], 2)[..., 0]
    rest = energy.copy()
    np.put_along_axis(rest, hottest[..., None], -np.inf, 2)
    peak = cfg.mip_peak_gev
    quiet = rest.max(2) < cfg.quiet_fraction * peak
    tags = (e_hot >= cfg.mip_min_fraction * peak) & (e_hot <= cfg.mip_max_fraction * peak) & quiet
    cells: list[CellGain] = []
    for m in range(n_mod):
        others = [o for o in range(n_mod) if o != m]
        for k in range(ny * nx):
            # a straight muon through cell k of every other module; this module quiet elsewhere
            probe = (tags[:, others] & (hottest[:, others] == k)).all(1)
            elsewhere = np.delete(energy[:, m], k, 1).max(1) < cfg.quiet_fraction * peak
            values = amp[probe & elsewhere, m, k]
            fit = fit_peak(values[np.isfinite(values)], cfg.min_events)
            ch = int(channels[m, k])
            cell = CellGain(detector.channels[ch].name, f"module {m}", k % nx, k // nx,
                            float(gain_old[ch]), fit)
            if fit.failed is None:
                cell.gain_new = float(fit.peak / peak)
            cells.append(cell)
            if progress:
                progress(1)
    muons = int((tags & (hottest == hottest[:, :1])).all(1).sum()) if len(amp) else 0
    notes = [] if muons else ["no muon crosses the HCAL in this run: is it a muon run?"]
    return HcalCalibration(cells, muons, notes)
