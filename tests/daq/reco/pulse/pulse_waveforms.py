"""What the pulse stages' tests share (imported by them): the default template, and
waveforms made of it."""

import numpy as np

from daq.core.pulse_shape import PulseTemplate, shape
from daq.reco.reco_config import RecoConfig

PERIOD_NS = 12.5  # the shipped map's sampling period
N_SAMPLES = 32


def template() -> PulseTemplate:
    p = RecoConfig().pulses
    return PulseTemplate(p.peak_ns, p.order)


def pulses(*amp_time: tuple[float, float], n: int = N_SAMPLES) -> np.ndarray:
    """Pedestal-subtracted samples of pulses (amplitude ADC, peak time ns), drawn from the
    analytic shape (not the table the stages interpolate)."""
    p = RecoConfig().pulses
    t = np.arange(n) * PERIOD_NS
    y = np.zeros(n)
    for a, t0 in amp_time:
        y += a * shape(t - t0, p.peak_ns, p.order)
    return y
