"""A per-spill quantity drawn with what its alarm check compared it with: the check's
baseline (or expected value) and its limits, as the check recorded them (``docs/monitor.md``,
Alarms). Physics rates and Calibration health draw theirs so."""

from __future__ import annotations

import numpy as np

from monitor.panels import Strip, baseline_line, limit_lines, plot, set_data, spill_axis, y_range
from monitor.quantities import check_baseline, check_series
from monitor.snapshot import Snapshot


class CheckedPlot:
    """A per-spill quantity with its check's baseline (or expected value) and limits."""

    def __init__(self, title: str, y: tuple[str, str], name: str | None, check: str,
                 baseline_key: str, limit_keys: tuple[str, ...], k: int = 0):
        """``name``: the series' name in a legend below (None: the title says it)."""
        self.check, self.baseline_key, self.limit_keys = check, baseline_key, limit_keys
        self.title = title
        self.w = plot(title, ("spill", ""), y, legend=name is not None)
        self.strip = Strip(self.w, name, k)
        self.baseline = baseline_line(self.w)
        self.limits = limit_lines(self.w)

    def draw(self, snap: Snapshot, s: dict, values: np.ndarray, min_span: float,
             also: tuple = ()) -> None:
        """``also``: other series drawn in the plot, kept in its range."""
        c = check_series(snap, self.check)
        spill = s["spill"]
        self.strip.set(spill, values, s["live"])
        base = c.get(self.baseline_key, np.full(len(spill), np.nan))
        set_data(self.baseline, spill, base)
        limits = [c.get(k, np.full(len(spill), np.nan)) for k in self.limit_keys]
        for line, lim in zip(self.limits, [*limits, np.full(len(spill), np.nan)][:2],
                             strict=True):
            set_data(line, spill, lim)
        against = check_baseline(snap, self.check)
        self.w.setTitle(self.title + (f": vs the {against}" if against else
                                      ": not tested yet"), size="12pt")
        y_range(self.w, values, base, *limits, *also, min_span=min_span)
        spill_axis(self.w, spill)
