"""The pedestal stage: a window's own even/odd pedestals, the fallback to the running ones, and
the running pedestals of random triggers."""

import numpy as np
from conftest import compiled_and_python

from daq.reco.pulse.flags import FIT_FAILED, NO_PULSE
from daq.reco.pulse.pedestals import (
    even_odd_pedestal,
    quiet_pedestal_sums,
    running_pedestals,
    window_extremes,
)

HALF = 3  # reco.pedestal.samples = 6
MAX_DEV, MAX_SHIFT = 12.0, 3.0


def window(even: float, odd: float, n: int = 32) -> np.ndarray:
    w = np.empty(n, np.uint16)
    w[0::2], w[1::2] = even, odd
    return w


def test_a_flat_window_gives_its_even_and_odd_levels():
    (pe, po, fell_back), _ = compiled_and_python(
        even_odd_pedestal, window(100, 104), HALF, np.nan, np.nan, MAX_DEV, MAX_SHIFT)
    assert (pe, po, fell_back) == (100.0, 104.0, False)


def test_an_early_pulse_falls_back_to_the_running_pedestals():
    w = window(100, 104)
    w[3] = 160  # a pulse in the pre-signal samples, 56 ADC above its pedestal
    (pe, po, fell_back), _ = compiled_and_python(
        even_odd_pedestal, w, HALF, 99.5, 103.5, MAX_DEV, MAX_SHIFT)
    assert (pe, po, fell_back) == (99.5, 103.5, True)


def test_a_shift_of_the_pedestals_beyond_the_limit_falls_back():
    # 3.5 ADC above the running ones: a small pulse under the pre-signal samples
    (pe, po, fell_back), _ = compiled_and_python(
        even_odd_pedestal, window(104, 104), HALF, 100.5, 100.5, MAX_DEV, MAX_SHIFT)
    assert (pe, po, fell_back) == (100.5, 100.5, True)
    (pe, po, fell_back), _ = compiled_and_python(  # 2.5 ADC: within the limit, its own
        even_odd_pedestal, window(103, 103), HALF, 100.5, 100.5, MAX_DEV, MAX_SHIFT)
    assert (pe, po, fell_back) == (103.0, 103.0, False)


def test_without_running_pedestals_an_early_pulse_keeps_its_own_flagged():
    w = window(100, 104)
    w[2] = 200
    (pe, po, fell_back), _ = compiled_and_python(
        even_odd_pedestal, w, HALF, np.nan, np.nan, MAX_DEV, MAX_SHIFT)
    assert fell_back and pe == (100 + 200 + 100) / 3 and po == 104.0


def test_window_extremes():
    w = window(100, 104)
    w[17] = 3000
    (lo, hi), _ = compiled_and_python(window_extremes, w)
    assert (lo, hi) == (100, 3000)


def test_running_pedestals_move_towards_quiet_random_triggers_only():
    trigger = np.array([3, 3, 1], np.uint8)  # two random triggers (3), one physics
    flags = np.array([[NO_PULSE, NO_PULSE], [NO_PULSE, FIT_FAILED], [NO_PULSE, NO_PULSE]],
                     np.uint8)
    measured = np.array([[[110, 120], [130, 140]], [[110, 120], [999, 999]],
                         [[999, 999], [999, 999]]], np.float32)
    ref = np.array([[100.0, 100.0], [100.0, 100.0]])
    _, (_, _, _, _, _, ref_after) = compiled_and_python(
        running_pedestals, trigger, flags, measured, 3, 0.5, ref)
    # channel 0: two quiet random events of 110/120, weight 0.5 each: 1 - 0.25 of the way
    assert np.allclose(ref_after[0], [100 + 0.75 * 10, 100 + 0.75 * 20])
    # channel 1: one quiet random event (the other failed a fit): half of the way
    assert np.allclose(ref_after[1], [115.0, 120.0])


def test_quiet_pedestal_sums_of_a_spill_do_not_depend_on_its_batches():
    rng = np.random.default_rng(4)
    trigger = rng.choice(np.array([1, 3], np.uint8), 50)
    flags = rng.choice(np.array([NO_PULSE, FIT_FAILED], np.uint8), (50, 3))
    measured = rng.normal(100.0, 3.0, (50, 3, 2)).astype(np.float32)
    sums = []
    for cuts in ([0, 50], [0, 17, 31, 50]):
        n, total = np.zeros(3, np.int64), np.zeros((3, 2))
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            quiet_pedestal_sums(trigger[lo:hi], flags[lo:hi], measured[lo:hi], 3, n, total)
        sums.append((n, total))
    assert np.array_equal(sums[0][0], sums[1][0]) and np.array_equal(sums[0][1], sums[1][1])
    quiet = (trigger == 3)[:, None] & (flags == NO_PULSE)  # counted by hand
    assert np.array_equal(sums[0][0], quiet.sum(0))
    _, (_, _, _, _, n_one, total_one) = compiled_and_python(
        quiet_pedestal_sums, trigger, flags, measured, 3, np.zeros(3, np.int64), np.zeros((3, 2)))
    assert np.array_equal(n_one, sums[0][0]) and np.array_equal(total_one, sums[0][1])
