"""The template fit, its linear algebra, and where a pulse the search missed would sit."""

import numpy as np
import pytest
from conftest import compiled_and_python
from pulse_waveforms import PERIOD_NS, pulses, template

from daq.reco.pulse.least_squares import _residual_chi2, fit_pulses, missing_pulse, solve_in_place
from daq.reco.reco_config import RecoConfig

PEAK_NS = RecoConfig().pulses.peak_ns


def work_for(k: int, n: int = 32) -> np.ndarray:
    return np.zeros((2 * k + 4) ** 2 + (2 * k + 1) * n)


def test_cholesky_solves_a_known_system_and_refuses_a_singular_one():
    a = np.array([[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]])
    x = np.array([1.0, -2.0, 0.5])
    ok, (_, solved) = compiled_and_python(solve_in_place, a.copy(), a @ x)
    assert ok and np.allclose(solved, x)
    ok, _ = compiled_and_python(solve_in_place, np.ones((2, 2)), np.ones(2))
    assert not ok


def test_two_overlapping_pulses_are_fitted_from_rough_guesses():
    t = template()
    y = pulses((900.0, 10 * PERIOD_NS + 2.0), (400.0, 12 * PERIOD_NS + 5.0))
    amp, tt = np.array([800.0, 300.0, 0, 0]), np.array([10 * PERIOD_NS, 12 * PERIOD_NS, 0, 0])
    (chi2, used), (_, _, _, amp, tt, *_) = compiled_and_python(
        fit_pulses, y, np.ones(32, np.bool_), 2, amp, tt, PERIOD_NS, t.table, t.t0_ns, PEAK_NS,
        8, work_for(2))
    assert 0 <= chi2 < 1.0 and used > 4
    assert amp[:2] == pytest.approx([900.0, 400.0], rel=2e-3)
    assert tt[:2] == pytest.approx([127.0, 155.0], abs=0.05)


def test_saturated_samples_are_left_out_and_the_amplitude_comes_from_the_edges():
    t = template()
    y = pulses((5000.0, 10 * PERIOD_NS + 3.0))
    use = y < 3900.0  # the ADC's full scale, less its pedestal
    amp, tt = np.array([3900.0, 0, 0, 0]), np.array([10 * PERIOD_NS, 0, 0, 0])
    (chi2, _), (_, _, _, amp, tt, *_) = compiled_and_python(
        fit_pulses, np.minimum(y, 3900.0), use, 1, amp, tt, PERIOD_NS, t.table, t.t0_ns,
        PEAK_NS, 24, work_for(1))
    assert chi2 >= 0 and amp[0] == pytest.approx(5000.0, rel=5e-3)


def test_the_residual_chi2_of_the_true_pulses_is_zero_and_grows_with_a_wrong_amplitude():
    t = template()
    y = pulses((600.0, 120.0))
    use = np.ones(32, np.bool_)
    (chi2, used), _ = compiled_and_python(_residual_chi2, y, use, 1, np.array([600.0]),
                                          np.array([120.0]), 0, 32, PERIOD_NS, t.table, t.t0_ns)
    assert used == 32 and chi2 < 1e-2
    (worse, _), _ = compiled_and_python(_residual_chi2, y, use, 1, np.array([550.0]),
                                        np.array([120.0]), 0, 32, PERIOD_NS, t.table, t.t0_ns)
    assert worse > 100.0


def test_a_pulse_the_fit_does_not_hold_is_found_in_the_residual():
    t = template()
    y = pulses((800.0, 100.0), (300.0, 200.0))
    (a_new, t_new), _ = compiled_and_python(
        missing_pulse, y, np.ones(32, np.bool_), 1, np.array([800.0, 0.0]),
        np.array([100.0, 0.0]), PERIOD_NS, t.table, t.t0_ns, np.zeros(32))
    assert a_new == pytest.approx(300.0, rel=0.05) and abs(t_new - 200.0) <= PERIOD_NS / 2
