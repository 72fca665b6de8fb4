"""The peak of a calibration spectrum: located with its statistical precision, undisturbed
by a one-sided tail, and refused with a reason when there is none."""

import numpy as np
import pytest

from calib.peak_fit import fit_peak


def test_a_gaussian_peak_is_found_within_its_error():
    rng = np.random.default_rng(3)
    fits = [fit_peak(rng.normal(2500.0, 100.0, 2000)) for _ in range(20)]
    peaks = np.array([f.peak for f in fits])
    # the sample mean's precision is 100/sqrt(2000) = 2.2 ADC; mean shift gets close to it
    assert abs(peaks.mean() - 2500.0) < 3 * peaks.std() / np.sqrt(len(peaks))
    assert peaks.std() < 4.0
    assert np.median([f.peak_error for f in fits]) == pytest.approx(peaks.std(), rel=0.5)
    assert np.median([f.sigma_lo for f in fits]) == pytest.approx(100.0, rel=0.15)
    assert np.median([f.sigma_hi for f in fits]) == pytest.approx(100.0, rel=0.15)


def test_a_low_tail_does_not_pull_the_peak():
    rng = np.random.default_rng(4)
    core = rng.normal(1000.0, 40.0, 5000)
    tail = rng.uniform(300.0, 1000.0, 2500)  # showers that leaked, a third of the spectrum
    fit = fit_peak(np.concatenate([core, tail, [np.nan] * 10]))
    assert fit.failed is None and fit.peak == pytest.approx(1000.0, abs=4.0)
    assert np.concatenate([core, tail]).mean() < 900  # a mean would be far off
    assert fit.n == 7500  # NaNs are not values


@pytest.mark.parametrize("values, reason", [
    (np.full(10, 5.0), "fewer than 50"),
    (np.full(500, np.nan), "0 values"),
])
def test_no_peak_is_refused_with_a_reason(values, reason):
    fit = fit_peak(values)
    assert np.isnan(fit.peak) and reason in fit.failed
