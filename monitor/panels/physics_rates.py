"""Physics rates, each with what its alarm check compares it with (``docs/monitor.md``: the
same baseline, uncertainty and limits): beam triggers per spill (rate drop), dimuons per 1e9
EOT (dimuon yield), the SRD tag on calibration electrons (SRD efficiency) and the side band
on physics triggers (SRD accidentals), with the dimuons per spill and the class fractions."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from monitor.panels import (
    Panel,
    Strip,
    baseline_line,
    limit_lines,
    note,
    plot,
    set_data,
    spill_axis,
    y_range,
)
from monitor.quantities import check_baseline, check_series, spill_series
from monitor.snapshot import Snapshot

FRACTIONS = ("other", "dimuon (I)", "E_ECAL+E_HCAL = E_beam (II)", "pileup (III)")


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


class PhysicsRatesPanel(Panel):
    title = "Physics rates"

    def __init__(self):
        super().__init__()
        self.beam = CheckedPlot("Beam triggers (physics + calibration) per spill",
                                ("triggers", ""), None, "rate drop", "baseline", ("limit",))
        self.per_eot = CheckedPlot("Dimuons per 1e9 EOT, prescale undone",
                                   ("dimuons / 1e9 EOT", ""), None, "dimuon yield",
                                   "expected", ("limit_low", "limit_high"))
        self.per_eot.band = pg.FillBetweenItem(*self.per_eot.limits, brush=(0, 158, 115, 40))
        self.per_eot.w.addItem(self.per_eot.band)
        self.srd = CheckedPlot("SRD-tagged fraction", ("fraction", ""),
                               "calibration electrons (the check's)", "SRD efficiency",
                               "baseline", ("limit",))
        self.srd_physics = Strip(self.srd.w, "physics triggers", 2)
        self.sideband = CheckedPlot("SRD side-band tags (accidentals)",
                                    ("per physics trigger", ""), None, "SRD accidentals",
                                    "baseline", ("limit",), k=3)
        self.dimuons = plot("Dimuons per spill (muon-tagged physics triggers)", ("spill", ""),
                            ("dimuons", ""))
        self.dimuon_strip = Strip(self.dimuons, None, 0)
        self.classes = plot("Class fractions of complete events (box blinded)",
                            ("spill", ""), ("fraction", ""), legend=True)
        self.class_strips = [Strip(self.classes, name, k) for k, name in enumerate(FRACTIONS)]
        self.incomplete = Strip(self.classes, "incomplete (per event taken)", 6)
        grid = QtWidgets.QGridLayout(self)
        for k, w in enumerate((self.beam.w, self.per_eot.w, self.srd.w, self.sideband.w,
                               self.dimuons, self.classes)):
            grid.addWidget(w, k // 2, k % 2)
        grid.addWidget(note(), 3, 0, 1, 2)
        for row in range(3):
            grid.setRowStretch(row, 1)

    @property
    def dimuon_curve(self):
        return self.dimuon_strip.closed

    def draw(self, snap: Snapshot) -> None:
        s = spill_series(snap)
        spill, live = s["spill"], s["live"]
        self.beam.draw(snap, s, s["beam"], min_span=0.2 * max(np.nanmax(s["beam"], initial=0),
                                                              10))
        self.per_eot.draw(snap, s, s["dimuons_per_1e9_eot"], min_span=10.0)
        self.srd.draw(snap, s, s["srd_efficiency"], min_span=0.1, also=(s["srd_fraction"],))
        self.srd_physics.set(spill, s["srd_fraction"], live)
        self.sideband.draw(snap, s, s["sideband_fraction"], min_span=0.01)
        self.dimuon_strip.set(spill, s["dimuons"], live)
        spill_axis(self.dimuons, spill)
        for name, strip in zip(FRACTIONS, self.class_strips, strict=True):
            strip.set(spill, s[f"fraction {name}"], live)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.incomplete.set(spill, s["incomplete"] / s["taken"], live)
        spill_axis(self.classes, spill)
