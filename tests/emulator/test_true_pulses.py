"""The pulses the emulator draws when they are not the reconstruction's template."""

import numpy as np

from daq.core.config_schema import load
from daq.core.pulse_shape import STEP_NS, PulseTemplate
from emulator.config import EmulatorConfig
from emulator.emulator import true_pulses


def _digitizer(**values):
    return load(EmulatorConfig, None, {f"digitizer.{k}": v for k, v in values.items()}).digitizer


def test_by_default_every_channel_draws_the_template_itself():
    template = PulseTemplate(30.0, 4)
    tables, t0 = true_pulses(_digitizer(), template, 5, np.random.default_rng(1))
    assert t0 == template.t0_ns and tables.shape == (5, len(template.table))
    assert (tables == template.table).all()


def test_slower_pulses_rise_over_a_longer_time_with_their_peak_kept_at_zero():
    tables, t0 = true_pulses(_digitizer(true_pulse_scale=1.2), PulseTemplate(30.0, 4), 3,
                             np.random.default_rng(1))
    t = t0 + STEP_NS * np.arange(tables.shape[1])
    rise = 36.0  # 1.2 x 30 ns
    s = (t + rise) / rise
    expected = np.where(s > 0, np.clip(s, 0, None) ** 4 * np.exp(4 * (1 - s)), 0.0)
    assert np.allclose(tables, expected[None, :], atol=1e-12)
    assert abs(t[np.argmax(tables[0])]) < STEP_NS and t0 <= -rise


def test_a_spread_and_a_slow_component_differ_by_channel_and_lengthen_the_tail():
    template = PulseTemplate(30.0, 4)
    tables, t0 = true_pulses(_digitizer(true_pulse_spread=0.1, slow_fraction=0.2),
                             template, 40, np.random.default_rng(2))
    t = t0 + STEP_NS * np.arange(tables.shape[1])
    assert np.allclose(tables.max(axis=1), 1.0)
    widths = [(row > 0.5).sum() for row in tables]
    assert len(set(widths)) > 10  # the channels' shapes are not one
    late = t > 150.0  # the template is at 1e-3 of its peak by 100 ns; the slow part is not
    assert tables[:, late].max(axis=1).min() > 0.02 > template(np.array([150.0]))[0]
