"""Physics rates: dimuons per spill and per 1e9 EOT against the expected band, the SRD tag
fraction with its accidental estimate, and the class fractions per spill."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from monitor.panels import Panel, curve, plot, set_data
from monitor.quantities import expected_dimuons_per_1e9_eot, spill_series
from monitor.snapshot import Snapshot

FRACTIONS = ("other", "dimuon (I)", "E_ECAL+E_HCAL = E_beam (II)", "pileup (III)")


class PhysicsRatesPanel(Panel):
    title = "Physics rates"

    def __init__(self):
        super().__init__()
        self.dimuons = plot("Dimuons per spill (muon-tagged physics triggers)", ("spill", ""),
                            ("dimuons", ""))
        self.dimuon_curve = curve(self.dimuons, None, 0)
        self.per_eot = plot("Dimuons per 1e9 EOT, prescale undone (band: expected, 2 sigma)",
                            ("spill", ""),
                            ("dimuons / 1e9 EOT", ""), legend=True)
        self.per_eot_curve = curve(self.per_eot, "measured", 0)
        self.band_lo = self.per_eot.plot([], [], pen=pg.mkPen("#009E73", width=1))
        self.band_hi = self.per_eot.plot([], [], pen=pg.mkPen("#009E73", width=1))
        self.band = pg.FillBetweenItem(self.band_lo, self.band_hi, brush=(0, 158, 115, 60))
        self.per_eot.addItem(self.band)
        self.srd = plot("SRD tag on physics triggers", ("spill", ""), ("fraction", ""),
                        legend=True)
        self.srd_curve = curve(self.srd, "tagged", 0)
        self.srd_side = curve(self.srd, "accidentals (side band, scaled to the window)", 3)
        self.classes = plot("Class fractions of complete events (box blinded)",
                            ("spill", ""), ("fraction", ""), legend=True)
        self.class_curves = [curve(self.classes, name, k) for k, name in enumerate(FRACTIONS)]
        self.incomplete = curve(self.classes, "incomplete (counted apart, per taken)", 6)
        grid = QtWidgets.QGridLayout(self)
        for k, w in enumerate((self.dimuons, self.per_eot, self.srd, self.classes)):
            grid.addWidget(w, k // 2, k % 2)

    def draw(self, snap: Snapshot) -> None:
        s = spill_series(snap)
        set_data(self.dimuon_curve, s["spill"], s["dimuons"])
        set_data(self.per_eot_curve, s["spill"], s["dimuons_per_1e9_eot"])
        band = expected_dimuons_per_1e9_eot(snap, s["eot"])
        if band is not None:
            set_data(self.band_lo, s["spill"], band[0])
            set_data(self.band_hi, s["spill"], band[1])
        set_data(self.srd_curve, s["spill"], s["srd_fraction"])
        set_data(self.srd_side, s["spill"], s["srd_accidental_fraction"])
        for name, c in zip(FRACTIONS, self.class_curves, strict=True):
            set_data(c, s["spill"], s[f"fraction {name}"])
        with np.errstate(invalid="ignore", divide="ignore"):
            set_data(self.incomplete, s["spill"], s["incomplete"] / s["taken"])
