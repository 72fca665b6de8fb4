"""The MSADC pulse shape, shared by the emulator (to draw pulses) and the reconstruction (to fit
them), so that both always agree on what a pulse looks like.

Shape: ``f(t) = s^n exp(n (1 - s))`` with ``s = (t + peak_ns) / peak_ns``: zero before the start
at ``t = -peak_ns``, a peak of 1 at ``t = 0`` (a pulse's time is the time of its maximum). With
the defaults (peak 30 ns after the start, order 4) the pulse rises over 2-3 samples and is over
after about 100 ns.
"""

from __future__ import annotations

import numpy as np

#: Template table step; fine enough that linear interpolation errs by < 1e-4 of the peak.
STEP_NS = 0.25
#: The table ends where the pulse has fallen below this fraction of its peak (0.004 ADC counts
#: of a full-scale pulse), so that kernels do not add zeros.
TAIL_CUT = 1e-6
#: A smeared template (``PulseTemplate.smeared``) ends where it is below this of its peak.
SMEARED_CUT = 1e-2


class PulseTemplate:
    """A tabulated pulse shape with peak 1 at t = 0 (t in ns relative to the peak)."""

    def __init__(self, peak_ns: float = 30.0, order: int = 4):
        self.peak_ns = float(peak_ns)
        self.order = int(order)
        self.t0_ns = -self.peak_ns  # first table entry: the start of the pulse
        n = int(round(50 * self.peak_ns / STEP_NS)) + 1
        t = self.t0_ns + STEP_NS * np.arange(n)
        table = shape(t, self.peak_ns, self.order)
        beyond = np.nonzero((table < TAIL_CUT) & (t > 0))[0]
        self.table = table[: beyond[0] + 1] if len(beyond) else table

    def smeared(self, sigma_ns: float) -> tuple[np.ndarray, float]:
        """This template averaged over a Gaussian time spread (:func:`smeared`)."""
        return smeared(self.table, self.t0_ns, sigma_ns)

    def __call__(self, t_ns: np.ndarray | float) -> np.ndarray:
        """Template value at ``t_ns`` relative to the peak."""
        return shape(np.asarray(t_ns, dtype=np.float64), self.peak_ns, self.order)


def smeared(table: np.ndarray, t0_ns: float, sigma_ns: float) -> tuple[np.ndarray, float]:
    """A template (on the ``STEP_NS`` grid, first entry at ``t0_ns`` from the peak) averaged
    over a Gaussian spread of its time (sigma in ns): what a pulse whose time is that
    uncertain looks like on average, where it is above ``SMEARED_CUT`` of its peak (beyond,
    samples add work, not information). Returns (table, first entry's time in ns from the
    peak) on the same step."""
    if sigma_ns <= 0.0:
        return table, t0_ns
    pad = int(np.ceil(4.0 * sigma_ns / STEP_NS))
    x = STEP_NS * np.arange(-pad, pad + 1)
    kernel = np.exp(-0.5 * (x / sigma_ns) ** 2)
    out = np.convolve(table, kernel / kernel.sum())
    keep = np.nonzero(out >= SMEARED_CUT * out.max())[0]
    return out[keep[0]:keep[-1] + 1], t0_ns + (keep[0] - pad) * STEP_NS


def shape(t_ns: np.ndarray, peak_ns: float, order: int) -> np.ndarray:
    """Analytic pulse shape, peak 1 at ``t_ns = 0``; zero before the start at ``-peak_ns``."""
    s = (t_ns + peak_ns) / peak_ns
    out = np.zeros_like(t_ns, dtype=np.float64)
    pos = s > 0
    out[pos] = s[pos] ** order * np.exp(order * (1.0 - s[pos]))
    return out
