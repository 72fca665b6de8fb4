"""ECAL gains from a calibration run: electrons of known energy aimed at each cell in turn
(``docs/conditions.md``).

1. Per cell, the peak of its amplitude in the showers centred on it (an asymmetric Gaussian
   fit), divided by the energy a centred shower leaves there (central share x beam energy x
   the section's share of the shower), gives its gain: this intercalibrates each section.
2. The preshower/main split is measured, not assumed: the two section weights that make the
   energy sum narrowest (linear least squares over showers that leak nothing).
3. One factor puts the peak of the sum at the beam energy, with the showers centred on the
   cell the physics beam is aimed at: the energy scale is exact where the data are taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from calib.calib_config import EcalSection
from calib.cell_gain import CellGain, gains
from calib.peak_fit import PeakFit, fit_peak
from daq.core.detector import Detector

#: Showers in the +-this window around the beam energy (with the old gains) are electrons;
#: the split's fit then keeps those within the narrower window of the new gains.
ELECTRON_WINDOW, SUM_WINDOW = 0.3, 0.15
#: Showers centred this close to the calorimeter's edge leak: they stay out of the split's fit.
OUTER_RING_CELLS = 1


@dataclass
class EcalCalibration:
    cells: list[CellGain]
    preshower_weight: float  # the split's fit: section weights on the cells' peak gains
    main_weight: float
    scale: float  # the overall factor that put the sum's peak at the beam energy
    preshower_share: float  # measured mean share of the energy in the preshower
    sum_fit: PeakFit  # the sum with the new gains, showers centred on the scale cell
    events: int  # electrons used
    notes: list[str] = field(default_factory=list)

    @property
    def gains(self) -> dict[str, float]:
        return gains(self.cells)


def calibrate_ecal(amplitude_adc: np.ndarray, detector: Detector, gain_old: np.ndarray,
                   cfg: EcalSection, progress: Callable[[int], None] | None = None
                   ) -> EcalCalibration:
    """``amplitude_adc``: (events, channels) in the map's order, NaN where unusable, of the
    calibration triggers; ``gain_old``: ADC/GeV per channel, those the run was taken with."""
    grids = [detector.grid("ECAL", s) for s in (0, 1)]  # [y, x] -> channel
    ny, nx = grids[1].shape
    ps, main = (amplitude_adc[:, g.ravel()] for g in grids)  # (events, cells)
    e_old = ps / gain_old[grids[0].ravel()] + main / gain_old[grids[1].ravel()]
    total = np.nansum(e_old, 1)
    electron = np.abs(total / cfg.beam_energy_gev - 1.0) < ELECTRON_WINDOW
    hottest = np.nanargmax(np.where(np.isfinite(main), main / gain_old[grids[1].ravel()],
                                    -np.inf), 1) if len(main) else np.zeros(0, int)
    fractions = (cfg.preshower_fraction, 1.0 - cfg.preshower_fraction)
    cells: list[CellGain] = []
    for section, amp in enumerate((ps, main)):
        expected_gev = cfg.central_share * cfg.beam_energy_gev * fractions[section]
        name = ("preshower", "main")[section]
        for k in range(nx * ny):
            fit = fit_peak(amp[electron & (hottest == k), k], cfg.min_events)
            ch = int(grids[section].ravel()[k])
            cell = CellGain(detector.channels[ch].name, name, k % nx, k // nx,
                            float(gain_old[ch]), fit)
            if fit.failed is None:
                cell.gain_new = fit.peak / expected_gev
            cells.append(cell)
            if progress:
                progress(1)
    n = nx * ny
    gain = np.array([c.gain_new if c.gain_new is not None else c.gain_old for c in cells])
    e_ps, e_main = (np.nansum(a / g, 1) for a, g in ((ps, gain[:n]), (main, gain[n:])))
    hy, hx = np.divmod(hottest, nx)
    m = OUTER_RING_CELLS
    contained = (electron & (hx >= m) & (hx < nx - m) & (hy >= m) & (hy < ny - m)
                 & np.isfinite(ps).all(1) & np.isfinite(main).all(1))
    near = contained & (np.abs((e_ps + e_main) / cfg.beam_energy_gev - 1.0) < SUM_WINDOW)
    notes = []
    w_ps = w_main = 1.0
    if near.sum() < cfg.min_events:
        notes.append(f"only {int(near.sum())} contained electrons: the split is not fitted")
    else:
        (w_ps, w_main), *_ = np.linalg.lstsq(np.stack([e_ps[near], e_main[near]], 1),
                                             np.full(int(near.sum()), cfg.beam_energy_gev),
                                             rcond=None)
    on_axis = electron & (hx == cfg.scale_x) & (hy == cfg.scale_y)
    weighted = w_ps * e_ps[on_axis] + w_main * e_main[on_axis]
    first = fit_peak(weighted, cfg.min_events)
    scale = 1.0
    if first.failed:
        notes.append(f"the sum's peak on cell ({cfg.scale_x}, {cfg.scale_y}): {first.failed}; "
                     "no overall scale")
    else:
        scale = cfg.beam_energy_gev / first.peak
    sum_fit = fit_peak(scale * weighted, cfg.min_events)
    for c in cells:
        if c.gain_new is not None:
            weight = w_ps if c.section == "preshower" else w_main
            c.gain_new = float(c.gain_new / (scale * weight))
    share = (float(np.mean(w_ps * e_ps[near] / (w_ps * e_ps[near] + w_main * e_main[near])))
             if near.any() else np.nan)
    return EcalCalibration(cells, float(w_ps), float(w_main), float(scale), share, sum_fit,
                           int(electron.sum()), notes)

