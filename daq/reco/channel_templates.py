"""Pulse templates measured per channel from data (``calib templates``, ``docs/reconstruction.md``):
real PMT pulses are not the analytic shape of ``daq/core/pulse_shape.py``, and each channel's
differ a little. A learnt template is kept in the conditions database with its runs of validity
and in each run file's constants, and the reconstruction fits its channel's pulses with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from daq.core.pulse_shape import STEP_NS

#: a learnt template is kept on this grid (data resolve no finer; a 1 ns grid keeps a run
#: file's constants small) and resampled onto ``STEP_NS`` for the kernels
STORE_STEP_NS = 1.0
#: at most this many values (1 µs at STORE_STEP_NS): a bound whatever a database or file says
MAX_VALUES = 1000
#: a learnt template's values lie within [-LOW, 1] (its peak is 1; noise leaves small
#: negative values before and after the pulse)
LOW = 0.1


class TemplateError(ValueError):
    """A stored template that is not one (its message names what is wrong)."""


@dataclass(frozen=True)
class ChannelTemplate:
    """A channel's pulse shape: ``values`` on a ``step_ns`` grid whose first value is at
    ``t0_ns`` from the peak (peak 1 at t = 0, zero before the first value and after the last),
    learnt from ``pulses`` clean pulses."""

    t0_ns: float
    step_ns: float
    values: np.ndarray
    pulses: int

    def __post_init__(self) -> None:
        v = np.array(self.values, dtype=np.float64).ravel()
        object.__setattr__(self, "values", v)
        if not 4 <= len(v) <= MAX_VALUES:
            raise TemplateError(f"pulse template of {len(v)} values (4 to {MAX_VALUES})")
        if not np.isfinite(v).all() or v.min() < -LOW or v.max() > 1.0:
            raise TemplateError(f"pulse template values outside [{-LOW}, 1]")
        if not (np.isfinite(self.step_ns) and STEP_NS <= self.step_ns <= 5.0):
            raise TemplateError(f"pulse template step {self.step_ns} ns (0.25 to 5)")
        peak = -self.t0_ns / self.step_ns
        if not (np.isfinite(peak) and 1 <= peak < len(v) - 1 and peak == round(peak)):
            raise TemplateError(f"pulse template start {self.t0_ns} ns: the peak must be a "
                                "value of the grid, after the first")
        if v[int(round(peak))] != 1.0:
            raise TemplateError("pulse template: its value at the peak (t = 0) is not 1")
        if int(self.pulses) < 0:
            raise TemplateError(f"pulse template learnt from {self.pulses} pulses")

    def table(self) -> tuple[np.ndarray, float]:
        """The template on the kernels' ``STEP_NS`` grid: (table, first entry's time from the
        peak), negative noise clipped to 0."""
        n = int(round((len(self.values) - 1) * self.step_ns / STEP_NS)) + 1
        t = self.t0_ns + STEP_NS * np.arange(n)
        grid = self.t0_ns + self.step_ns * np.arange(len(self.values))
        return np.maximum(np.interp(t, grid, self.values), 0.0), float(self.t0_ns)

    @property
    def fwhm_ns(self) -> float:
        """Full width at half maximum (ns): what the conditions database shows per channel."""
        return fwhm_ns(self.t0_ns + self.step_ns * np.arange(len(self.values)), self.values)

    def to_dict(self) -> dict[str, Any]:
        return {"t0_ns": self.t0_ns, "step_ns": self.step_ns, "values": self.values.tolist(),
                "pulses": int(self.pulses)}

    @classmethod
    def from_dict(cls, d: Any) -> ChannelTemplate:
        """The inverse of :meth:`to_dict`; anything else is a :class:`TemplateError`."""
        try:
            return cls(float(d["t0_ns"]), float(d["step_ns"]),
                       np.array(d["values"][:MAX_VALUES + 1], dtype=np.float64),
                       int(d["pulses"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, TemplateError):
                raise
            raise TemplateError(f"pulse template: {exc.__class__.__name__}: {exc}") from None


def fwhm_ns(t_ns: np.ndarray, values: np.ndarray) -> float:
    """Full width at half maximum of a pulse of peak 1 tabulated at ``t_ns`` (linear
    interpolation on both edges)."""
    above = np.flatnonzero(values >= 0.5)
    lo, hi = above[0], above[-1]
    left = t_ns[lo] if lo == 0 else np.interp(0.5, values[lo - 1:lo + 1], t_ns[lo - 1:lo + 1])
    right = t_ns[hi] if hi == len(values) - 1 else np.interp(
        0.5, values[hi:hi + 2][::-1], t_ns[hi:hi + 2][::-1])
    return float(right - left)
