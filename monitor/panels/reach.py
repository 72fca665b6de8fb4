"""Reach: the exposure so far, the selection efficiency measured on calibration electrons, and
the projected 90 % C.L. reach in epsilon across A' masses from [004] Table IV; the EOT still
needed for a chosen epsilon. Labelled as a projection: it assumes no candidate and uses
nothing of the blinded box (``monitor/reach.py``)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from monitor import reach
from monitor.panels import COLOURS, Panel, fill_table, label, plot
from monitor.snapshot import Snapshot

PROJECTION = ("PROJECTION, not a result: the 90 % C.L. reach this exposure would give if no "
              "candidate were found (the signal box is blinded; nothing of it is used)")


class ReachPanel(Panel):
    title = "Reach"

    def __init__(self):
        super().__init__()
        banner = label(PROJECTION, bold=True, size_pt=12)
        banner.setWordWrap(True)
        banner.setStyleSheet("color: #7A4A00; background: #FFF1D6; padding: 6px;")
        self.exposure = label(size_pt=12)
        self.efficiency = label()
        self.target = QtWidgets.QDoubleSpinBox()
        self.target.setDecimals(3)
        self.target.setRange(0.01, 100.0)
        self.target.setValue(0.5)
        self.target.setSuffix(" x 1e-4")
        self.target.valueChanged.connect(self._changed)
        self.plot = plot("90 % C.L. reach in epsilon (projection)", ("A' mass", "MeV"),
                         ("epsilon", ""), legend=True)
        self.plot.setLogMode(x=True, y=True)
        self.plot.getAxis("bottom").setTicks(  # Table IV's masses, not 10^k and its minors
            [[(float(np.log10(m)), f"{m:g}") for m in reach.MASSES_MEV]])
        self.published = self.plot.plot([], [], name="[004] 4.3e10 EOT, efficiency 0.50",
                                        pen=pg.mkPen("#777777", width=2,
                                                     style=QtCore.Qt.DashLine),
                                        symbol="s", symbolSize=6, symbolBrush="#777777")
        self.projected = self.plot.plot([], [], name="projection for this run's exposure",
                                        pen=pg.mkPen(COLOURS[0], width=3), symbol="o",
                                        symbolSize=7, symbolBrush=COLOURS[0])
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["A' mass [MeV]", "published epsilon",
                                              "projected epsilon",
                                              "EOT still needed for the chosen epsilon"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        target_row = QtWidgets.QHBoxLayout()
        target_row.addWidget(label("Epsilon to reach:"))
        target_row.addWidget(self.target)
        target_row.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(banner)
        layout.addWidget(self.exposure)
        layout.addWidget(self.efficiency)
        layout.addWidget(self.plot, 3)
        layout.addLayout(target_row)
        layout.addWidget(self.table, 2)

    def _changed(self) -> None:
        self.changes += 1

    def draw(self, snap: Snapshot) -> None:
        exposure = snap.header.get("exposure") or {}
        eot = float(exposure.get("eot") or 0.0)
        eff = reach.efficiency(snap)
        total = eff.get("total", 0.0)
        self.exposure.setText(f"Electrons on target this run: {eot:.3g} +- "
                              f"{float(exposure.get('eot_error') or 0.0):.2g} (published: "
                              f"{reach.PUBLISHED_EOT:.2g})")
        if "total" in eff:
            self.efficiency.setText(
                f"Efficiency on {eff['electrons']:.0f} calibration electrons: selection "
                f"{eff['selection']:.3f} x veto {eff['veto']:.3f} x HCAL {eff['hcal']:.3f} = "
                f"{total:.3f} +- {eff['total_error']:.3f} (published 0.50: the incoming "
                "electron's 0.58 is not measured here)")
        else:
            self.efficiency.setText("Efficiency: no calibration electrons yet")
        self.published.setData(reach.MASSES_MEV, reach.EPSILON_LIMIT)
        projected = reach.projected_limit(eot, total)
        ok = np.isfinite(projected)
        self.projected.setData(reach.MASSES_MEV[ok], projected[ok])
        needed = reach.eot_needed(self.target.value() * 1e-4, total, eot)
        fill_table(self.table, [[f"{m:g}", f"{e:.3g}", f"{p:.3g}" if np.isfinite(p) else "-",
                                 f"{n:.3g}" if np.isfinite(n) else "-"]
                                for m, e, p, n in zip(reach.MASSES_MEV, reach.EPSILON_LIMIT,
                                                      projected, needed, strict=True)])
