"""Amplitudes at a known time where no pulse rose above threshold, and the pulse nearest a
time."""

import numpy as np
import pytest
from conftest import compiled_and_python
from pulse_waveforms import PERIOD_NS, pulses, template

from daq.reco.pulse.forced import forced_at, forced_weights, nearest_pulse, weighted_amplitude


def test_the_forced_amplitude_of_a_noiseless_pulse_is_its_amplitude():
    t = template()
    t_ns = 8 * PERIOD_NS + 4.0
    w = (100.0 + pulses((7.0, t_ns))).astype(np.float64)  # below a 10 ADC threshold
    weights = np.zeros(32)
    (first, n), (_, _, _, _, _, weights) = compiled_and_python(
        forced_weights, t_ns, 32, PERIOD_NS, t.table, t.t0_ns, weights)
    amp, _ = compiled_and_python(weighted_amplitude, w, 100.0, 100.0, first, n, weights)
    assert amp == pytest.approx(7.0, rel=1e-3)
    again, _ = compiled_and_python(forced_at, w, 100.0, 100.0, t_ns, PERIOD_NS, t.table,
                                   t.t0_ns, np.zeros(32))
    assert again == amp


def test_pure_noise_averages_to_zero():
    t = template()
    rng = np.random.default_rng(7)
    amps = [compiled_and_python(forced_at, 100.0 + rng.normal(0, 1.5, 32), 100.0, 100.0,
                                100.0, PERIOD_NS, t.table, t.t0_ns, np.zeros(32))[0]
            for _ in range(200)]
    assert abs(np.mean(amps)) < 4 * np.std(amps) / np.sqrt(len(amps))


def test_the_nearest_pulse_within_the_window_or_none():
    tt = np.array([50.0, 120.0, 130.0, 0.0])
    assert compiled_and_python(nearest_pulse, tt, 3, 126.0, 10.0)[0] == 2
    assert compiled_and_python(nearest_pulse, tt, 3, 90.0, 10.0)[0] == -1
    assert compiled_and_python(nearest_pulse, tt, 1, 126.0, 100.0)[0] == 0  # only k counted
