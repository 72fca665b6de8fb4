"""The ECAL shower's centre and shape: compiled against pure Python, and against the truth."""

import numpy as np

from daq.reco.reconstruction import LAPLACE_SCALE_CELLS, PRESHOWER_FRACTION, PRESHOWER_SPREAD
from daq.reco.shower_shape import shower_shape
from emulator.config import ELECTRON, HADRON


def _shape(kernel, e, grid, reco):
    n = len(e)
    out = np.empty(n), np.empty(n), np.empty(n)
    kernel(e, grid, reco["e_preshower_gev"].astype(np.float64),
           reco["e_ecal_gev"].astype(np.float64), LAPLACE_SCALE_CELLS, PRESHOWER_FRACTION,
           PRESHOWER_SPREAD, *out)
    return out


def test_compiled_and_python_agree_and_empty_showers_are_nan(reconstructed, detector):
    reco, ch, _, _ = reconstructed
    grid = detector.grid("ECAL", 1)
    e = np.ascontiguousarray(ch["energy_gev"][:300])
    e[0] = 0.0  # no energy: no centre, no shape
    compiled = _shape(shower_shape, e, grid, reco[:300])
    python = _shape(shower_shape.py_func, e, grid, reco[:300])
    for a, b in zip(compiled, python, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
        assert np.isnan(a[0]) and np.isfinite(a[1:]).mean() > 0.9


def test_electron_showers_are_centred_on_the_aimed_cell_and_fit_the_profile(reconstructed,
                                                                              rich_emulator):
    reco, _, truth, _ = reconstructed
    b = rich_emulator.cfg.beam
    clean = (truth["n_pileup_window"] == 0) & (truth["trigger"] == 2)
    el = clean & (truth["class"] == ELECTRON)
    had = clean & (truth["class"] == HADRON) & (reco["e_ecal_gev"] > 5.0)
    assert el.sum() > 1000 and had.sum() > 10
    # the spot (5 mm) is an eighth of a cell: the mean centre sits on the cell's centre
    assert abs(np.mean(reco["ecal_x_cells"][el]) - b.aim_x) < 0.05
    assert abs(np.mean(reco["ecal_y_cells"][el]) - b.aim_y) < 0.05
    chi2 = reco["ecal_shape_chi2"]
    # electrons fit the profile (median 0.25 measured); hadrons' ECAL deposits do not
    assert np.percentile(chi2[el], 90) < 1.0 < np.median(chi2[had])
