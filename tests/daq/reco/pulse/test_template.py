"""The template table, where a pulse is non-zero, and the phase table's amplitude and time of a
clean pulse."""

import numpy as np
import pytest
from conftest import compiled_and_python
from pulse_waveforms import PERIOD_NS, pulses, template

from daq.core.pulse_shape import TAIL_CUT
from daq.reco.pulse.template import (
    lut_estimate,
    phase_table,
    table_at,
    template_at,
    template_support,
)


def test_the_template_peaks_at_one_at_zero_and_is_zero_before_its_start():
    t = template()
    (f, slope), _ = compiled_and_python(template_at, t.table, t.t0_ns, 0.0)
    assert f == pytest.approx(1.0, abs=1e-4) and abs(slope) < 1e-3
    (f, slope), _ = compiled_and_python(template_at, t.table, t.t0_ns, t.t0_ns - 1.0)
    assert (f, slope) == (0.0, 0.0)
    (f, _), _ = compiled_and_python(table_at, t.table, -0.5)
    assert f == 0.0


def test_the_support_covers_the_non_zero_samples_only():
    t = template()
    (lo, hi), _ = compiled_and_python(template_support, t.table, t.t0_ns, 100.0, PERIOD_NS, 32)
    y = pulses((1.0, 100.0))
    nonzero = np.flatnonzero(y > TAIL_CUT)  # the table ends where the tail is below this
    assert lo <= nonzero[0] and nonzero[-1] < hi <= 32
    assert lo >= int((100.0 + t.t0_ns) // PERIOD_NS)  # nothing before the pulse starts


@pytest.mark.parametrize("phase_ns", [0.0, 3.1, 6.25, 11.0])
def test_a_clean_pulse_at_any_phase_is_read_from_the_phase_table(phase_ns):
    t = template()
    lut, r0, step = phase_table(t.table, t.t0_ns, PERIOD_NS)
    peak = 10 * PERIOD_NS + phase_ns
    y = pulses((800.0, peak))
    p = int(np.argmax(y))
    (amp, time_ns), _ = compiled_and_python(lut_estimate, y, p, lut, r0, step, PERIOD_NS,
                                            t.table, t.t0_ns)
    assert amp == pytest.approx(800.0, rel=1e-3) and time_ns == pytest.approx(peak, abs=0.05)
