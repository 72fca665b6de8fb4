"""The search: maxima that rise the threshold above the baseline and the valley before them."""

import numpy as np
from conftest import compiled_and_python
from pulse_waveforms import PERIOD_NS, pulses

from daq.reco.pulse.peaks import find_peaks

THRESHOLD = 10.0


def found(y, max_peaks=4):
    pos = np.zeros(max_peaks, np.int64)
    n, (_, _, pos, _) = compiled_and_python(find_peaks, y, THRESHOLD, pos, max_peaks)
    return n, list(pos[:min(n, max_peaks)])


def test_two_separate_pulses_are_found_at_their_highest_samples():
    y = pulses((500.0, 10 * PERIOD_NS), (200.0, 20 * PERIOD_NS))
    assert found(y) == (2, [10, 20])


def test_noise_below_the_threshold_is_no_pulse():
    y = np.random.default_rng(1).normal(0.0, 1.5, 32)
    assert found(y)[0] == 0


def test_a_ripple_on_a_tail_is_not_a_pulse():
    y = pulses((1000.0, 8 * PERIOD_NS))
    y[14] += 6.0  # less than the threshold above the valley before it
    assert found(y) == (1, [8])


def test_more_pulses_than_room_are_counted_and_the_first_kept():
    y = pulses(*[(300.0, k * PERIOD_NS) for k in (4, 10, 16, 22, 28)])
    assert found(y, max_peaks=2) == (5, [4, 10])
