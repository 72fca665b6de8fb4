"""The stages the channel kernel adds around the others: first estimates with peeling, a
second pulse tried beside a poor single fit, hidden pulses added, the in-time pulse; and the
whole kernel on a batch, compiled and as Python."""

import numpy as np
import pytest
from conftest import compiled_and_python
from pulse_waveforms import PERIOD_NS, pulses, template

from daq.reco.pulse.channel_kernel import (
    ChannelOutputs,
    PulseShape,
    first_estimates,
    in_time_pulse,
    reconstruct_channels,
    try_two_pulses,
)
from daq.reco.pulse.flags import NO_PULSE, PILEUP
from daq.reco.pulse.template import phase_table
from daq.reco.reco_config import RecoConfig
from daq.reco.reconstruction import Reconstruction


def shape_of() -> PulseShape:
    t = template()
    lut, r0, step = phase_table(t.table, t.t0_ns, PERIOD_NS)
    return PulseShape(t.table, t.t0_ns, t.table, t.t0_ns, PERIOD_NS, lut, r0, step,
                      RecoConfig().pulses.peak_ns)


def test_first_estimates_peel_each_pulse_before_reading_the_next():
    y = pulses((1000.0, 8 * PERIOD_NS + 3.0), (300.0, 13 * PERIOD_NS + 6.0))
    pos = np.array([8, 13, 0, 0])
    amp, tt = np.zeros(4), np.zeros(4)
    need_fit, (_, _, _, _, amp, tt, *_) = compiled_and_python(
        first_estimates, y, np.ones(32, np.bool_), pos, 2, amp, tt, np.zeros(32), shape_of(),
        20.0, False)
    assert not need_fit  # 62 ns apart: the table's answer is enough
    assert amp[:2] == pytest.approx([1000.0, 300.0], rel=0.01)
    assert tt[:2] == pytest.approx([103.0, 168.5], abs=0.3)


@pytest.mark.parametrize("separate_ns, saturated, need", [
    (40.0, False, True), (10.0, False, False), (10.0, True, True)])
def test_pulses_closer_than_separate_ns_or_saturated_need_the_fit(separate_ns, saturated, need):
    y = pulses((1000.0, 8 * PERIOD_NS), (600.0, 10 * PERIOD_NS + 8.0))  # 33 ns apart
    need_fit, _ = compiled_and_python(
        first_estimates, y, np.ones(32, np.bool_), np.array([8, 10, 0, 0]), 2, np.zeros(4),
        np.zeros(4), np.zeros(32), shape_of(), separate_ns, saturated)
    assert need_fit == need


def test_a_poor_single_fit_becomes_two_pulses():
    y = pulses((700.0, 100.0), (500.0, 112.0))
    amp, tt, pos = np.array([1100.0, 0, 0, 0]), np.array([106.0, 0, 0, 0]), np.zeros(4, np.int64)
    work = np.zeros((2 * 4 + 4) ** 2 + 9 * 32)
    k, (_, _, amp, tt, pos, *_) = compiled_and_python(
        try_two_pulses, y, np.ones(32, np.bool_), amp, tt, pos, 1e4, shape_of(), 10.0, 8, work)
    assert k == 2
    assert sorted(amp[:2]) == pytest.approx([500.0, 700.0], rel=0.02)
    assert sorted(tt[:2]) == pytest.approx([100.0, 112.0], abs=0.5)
    assert sorted(pos[:2]) == [8, 9]


def test_the_in_time_pulse_is_the_nearest_within_the_window():
    amp, tt = np.array([300.0, 800.0, 50.0]), np.array([60.0, 125.0, 200.0])
    (best, other, near), _ = compiled_and_python(in_time_pulse, amp, tt, 3, 130.0, 10.0)
    assert (best, other, near) == (1, 350.0, 65.0)
    (best, other, near), _ = compiled_and_python(in_time_pulse, amp, tt, 3, 100.0, 10.0)
    assert best == -1 and other == 1150.0 and near == np.inf


def test_the_whole_kernel_compiled_and_as_python(detector):
    rec = Reconstruction(detector)
    n_ch = detector.n_channels
    samples = np.full((3, n_ch, 32), 100, np.uint16)
    samples[0, 40] += pulses((900.0, 125.0)).round().astype(np.uint16)  # in time
    samples[1, 41] += pulses((600.0, 60.0), (700.0, 130.0)).round().astype(np.uint16)
    t_exp = np.full(3, 125.0)
    out = ChannelOutputs(*[np.zeros((3, n_ch), np.float32) for _ in range(4)],
                         np.zeros((3, n_ch), np.uint8), np.zeros((3, n_ch), np.uint8),
                         np.zeros((3, n_ch, 2), np.float32), np.zeros((3, n_ch), np.float32))
    _, args = compiled_and_python(
        reconstruct_channels, samples, np.arange(n_ch), t_exp, np.zeros(3, np.int64),
        rec.source_bit,
        np.full((n_ch, 2), 100.0), np.zeros(n_ch), rec.side_band, rec.shape, rec.settings, out)
    filled = args[-1]
    assert filled.amplitude_adc[0, 40] == pytest.approx(900.0, rel=0.01)
    assert filled.flags[0, 0] & NO_PULSE and filled.n_pulses[0, 0] == 0
    assert filled.n_pulses[1, 41] == 2 and filled.flags[1, 41] & PILEUP
    assert filled.amplitude_adc[1, 41] == pytest.approx(700.0, rel=0.02)
    assert filled.out_of_time_adc[1, 41] == pytest.approx(600.0, rel=0.02)


def test_groups_of_channels_each_with_its_own_template_in_one_call(detector):
    """Two groups, the analytic template and one 20 % slower: the same as a call per group,
    compiled and as Python."""
    from conftest import analytic_template

    from daq.reco.calibration_constants import CalibrationConstants
    from daq.reco.pulse.channel_kernel import reconstruct_groups, stack_shapes

    n_ch = detector.n_channels
    constants = CalibrationConstants.nominal(detector)
    constants.pulse_templates = {c: analytic_template(36.0) for c in range(1, n_ch, 2)}
    rec = Reconstruction(detector, constants=constants)
    samples = np.full((3, n_ch, 32), 100, np.uint16)
    samples[:, 40] += pulses((900.0, 125.0)).round().astype(np.uint16)
    samples[:, 41] += pulses((600.0, 60.0), (700.0, 130.0)).round().astype(np.uint16)
    args = (samples, np.full(3, 125.0), np.zeros(3, np.int64), rec.source_bit,
            np.full((n_ch, 2), 100.0), np.zeros(n_ch), rec.side_band)

    def outputs():
        return ChannelOutputs(*[np.zeros((3, n_ch), np.float32) for _ in range(4)],
                              np.zeros((3, n_ch), np.uint8), np.zeros((3, n_ch), np.uint8),
                              np.zeros((3, n_ch, 2), np.float32), np.zeros((3, n_ch),
                                                                           np.float32))
    compiled, python, apart = outputs(), outputs(), outputs()
    groups = (rec.group_channels, rec.group_first)
    reconstruct_groups(args[0], *groups, *args[1:], rec.shapes, rec.settings, compiled)
    reconstruct_groups.py_func(args[0], *groups, *args[1:], rec.shapes, rec.settings, python)
    assert len(rec.group_first) == n_ch // 2 + 2  # the analytic group, then one per channel
    for g in range(len(rec.group_first) - 1):
        channels = rec.group_channels[rec.group_first[g]:rec.group_first[g + 1]]
        shape = rec.shape if g == 0 else rec._pulse_shape(
            *constants.pulse_templates[int(channels[0])].table())
        reconstruct_channels(args[0], channels, *args[1:], shape, rec.settings, apart)
    for a, b, c in zip(compiled, python, apart, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert stack_shapes([rec.shape]).tables.shape == (1, len(rec.shape.table))
