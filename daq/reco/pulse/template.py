"""The pulse template sampled on a fine grid: its value and slope at any time, where it is
non-zero, and the phase table that turns a peak's two neighbours into amplitude and time."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from daq.core.pulse_shape import STEP_NS


@njit(cache=True, nogil=True, inline="always")
def table_at(table, x):
    """Template value and slope (per ns) at table position ``x`` (steps from the first entry;
    linear interpolation, zero outside): for loops that step through the table at a known
    stride."""
    if x < 0.0 or x >= table.shape[0] - 1:
        return 0.0, 0.0
    j = int(x)
    f = x - j
    a = table[j]
    b = table[j + 1]
    return a + f * (b - a), (b - a) / STEP_NS


@njit(cache=True, nogil=True, inline="always")
def template_at(table, t0_ns, dt_ns):
    """Template value and slope (per ns) at ``dt_ns`` from the peak (linear interpolation)."""
    return table_at(table, (dt_ns - t0_ns) / STEP_NS)


@njit(cache=True, nogil=True, inline="always")
def template_support(table, t0_ns, t_ns, period_ns, n_s):
    """The samples ``lo..hi-1`` where a pulse peaking at ``t_ns`` can be non-zero
    (``template_at``): loops over them skip only exact zeros."""
    lo = int(math.floor((t_ns + t0_ns) / period_ns))
    hi = int(math.ceil((t_ns + t0_ns + (table.shape[0] - 1) * STEP_NS) / period_ns)) + 1
    return min(max(lo, 0), n_s), min(max(hi, 0), n_s)


def phase_table(table: np.ndarray, t0_ns: float, period_ns: float, size: int = 1024
                ) -> tuple[np.ndarray, float, float]:
    """Lookup table from r = (y[p+1] - y[p-1]) / y[p] around a pulse's highest sample p to the
    peak's offset from that sample (ns): the template fit's answer for a clean pulse, without
    iterations. Returns (offsets on a uniform grid of r, r of the first entry, r step)."""
    psi = np.linspace(0.0, period_ns, 4001)[:-1]
    i = np.arange(-4, 9)
    dt = i[None, :] * period_ns - psi[:, None]  # (phases, samples around the peak)
    v = np.interp((dt - t0_ns) / STEP_NS, np.arange(len(table)), table, left=0.0, right=0.0)
    top = np.argmax(v, axis=1)
    rows = np.arange(len(psi))
    r = (v[rows, top + 1] - v[rows, top - 1]) / v[rows, top]
    d = psi - i[top] * period_ns
    order = np.argsort(r)
    r, d = r[order], d[order]
    grid = np.linspace(r[0], r[-1], size)
    return np.interp(grid, r, d), float(grid[0]), float(grid[1] - grid[0])


@njit(cache=True, nogil=True, inline="always")
def lut_estimate(y, p, lut, r0, r_step, period_ns, table, t0_ns):
    """Amplitude and peak time of a clean pulse whose highest sample is ``p`` (0 < p < n-1)."""
    r = (y[p + 1] - y[p - 1]) / y[p]
    x = (r - r0) / r_step
    n = lut.shape[0]
    if x <= 0.0:
        d = lut[0]
    elif x >= n - 1:
        d = lut[n - 1]
    else:
        j = int(x)
        d = lut[j] + (x - j) * (lut[j + 1] - lut[j])
    t = p * period_ns + d
    s_ty = 0.0
    s_tt = 0.0
    for i in range(max(0, p - 1), min(y.shape[0], p + 3)):
        f, _ = template_at(table, t0_ns, i * period_ns - t)
        s_ty += f * y[i]
        s_tt += f * f
    return (s_ty / s_tt if s_tt > 0.0 else y[p]), t
