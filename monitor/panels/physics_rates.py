"""Physics rates, each with what its alarm check compares it with (``docs/monitor.md``: the
same baseline, uncertainty and limits): beam triggers per spill (rate drop), dimuons per 1e9
EOT (dimuon yield), the SRD tag on calibration electrons (SRD efficiency) and the side band
on physics triggers (SRD accidentals), with the dimuons per spill and the class fractions."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from monitor.panels import Panel, Strip, note, plot, spill_axis
from monitor.panels.checked_plot import CheckedPlot
from monitor.quantities import spill_series
from monitor.snapshot import Snapshot

FRACTIONS = ("other", "dimuon (I)", "E_ECAL+E_HCAL = E_beam (II)", "pileup (III)")


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
