"""Reference: any one-dimensional histogram of the set (and the energy plane's projections),
with the same histogram of a reference run scaled to the same integral, their ratio, the
chi2 and Kolmogorov-Smirnov tests, and every difference in the runs' conditions. The
reference is chosen automatically (``monitor/reference.py``) or by the crew."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from monitor import reference as ref
from monitor.histograms import histogram_specs
from monitor.panels import COLOURS, Panel, in_background, label, plot
from monitor.snapshot import Snapshot

PROJECTIONS = {"energy_plane:E_ECAL": ("E_ECAL", "GeV", 0.0, 150.0),
               "energy_plane:E_HCAL": ("E_HCAL (modules 1+2)", "GeV", 0.0, 150.0)}


def _choices(n_channels: int) -> dict[str, tuple[str, str, float, float]]:
    """Histogram name -> (x label, unit, low, high) of what this panel can overlay."""
    out = dict(PROJECTIONS)
    for s in histogram_specs(n_channels):
        if s.name != "energy_plane":
            a = s.axes[0]
            out[s.name] = (a.label, a.unit, a.low, a.high)
    return out


class ReferenceSource:
    """Finds and loads a run's reference in a thread (a run file takes seconds to fill)."""

    def __init__(self, detector, chosen: str | None = None):
        self.detector = detector
        self.chosen = chosen  # None: automatic
        self.snapshot: Snapshot | None = None
        self.choice: ref.ReferenceChoice | None = None
        self.error = ""
        self.for_run: int | None = None
        self.busy = False

    def want(self, run: int | None, wait: bool = False) -> None:
        if self.busy or (run == self.for_run and (self.snapshot or self.error)):
            return
        self.for_run, self.busy = run, True
        in_background(lambda: self._load(run), wait)

    def _load(self, run: int | None) -> None:
        from daq.core.config_schema import ConfigError
        from daq.core.run_database import RunDatabase, RunDatabaseError

        try:
            self.error, self.snapshot = "", None
            if self.chosen and not self.chosen.isdigit():
                self.choice = ref.ReferenceChoice(None, self.chosen, "chosen (a file)")
            else:
                db = RunDatabase()
                try:
                    self.choice = ref.choose(db, self.detector, run or 0, self.chosen)
                finally:
                    db.close()
            if self.choice.path is None:
                self.error = self.choice.how
            else:
                self.snapshot = ref.load(self.choice.path)
        except (ConfigError, RunDatabaseError, OSError, ValueError) as exc:
            self.error = str(exc)
        finally:
            self.busy = False

    def reset(self, chosen: str | None) -> None:
        self.chosen, self.for_run, self.snapshot, self.error = chosen, None, None, ""


class ReferencePanel(Panel):
    title = "Reference"

    def __init__(self, detector, source: ReferenceSource | None = None):
        super().__init__()
        self.source = source or ReferenceSource(detector)
        self.choices = _choices(detector.n_channels)
        self.which = QtWidgets.QComboBox()
        for name in self.choices:  # in words; the histogram's name is the item's data
            self.which.addItem(name.replace("energy_plane:", "energy plane, projected on ")
                               .replace("_", " "), name)
        self.which.setCurrentIndex(self.which.findData("calibration_energy"))
        self.scope = QtWidgets.QComboBox()
        self.scope.addItems(["run", "window", "spill"])
        self.chosen = QtWidgets.QLineEdit()
        self.chosen.setPlaceholderText("automatic (or a run number, or a file)")
        use = QtWidgets.QPushButton("Use this reference")
        use.clicked.connect(self._choose)
        for w in (self.which, self.scope):
            w.currentIndexChanged.connect(self._changed)
        bar = QtWidgets.QHBoxLayout()
        for w in (label("Histogram:"), self.which, label("Scope:"), self.scope,
                  label("Reference:"), self.chosen, use):
            bar.addWidget(w)
        self.about = label()
        self.about.setWordWrap(True)
        self.mismatch = label()
        self.mismatch.setWordWrap(True)
        self.mismatch.setStyleSheet("color: #B00000;")
        self.tests = label(bold=True)
        self.overlay = plot("this run and the reference (scaled to the same integral)",
                            ("x", ""), ("entries", ""), legend=True)
        self.data_curve = self.overlay.plot([], [], name="this run", stepMode="center",
                                            pen=pg.mkPen(COLOURS[0], width=2))
        self.ref_curve = self.overlay.plot([], [], name="reference (scaled)", stepMode="center",
                                           pen=pg.mkPen(COLOURS[1], width=2,
                                                        style=QtCore.Qt.DashLine))
        self.ratio = plot("ratio this run / reference", ("x", ""), ("ratio", ""))
        self.ratio_points = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0),
                                            pen=pg.mkPen(COLOURS[2]))
        self.ratio.addItem(self.ratio_points)
        self.ratio_curve = self.ratio.plot([], [], pen=None, symbol="o", symbolSize=5,
                                           symbolBrush=COLOURS[2], symbolPen=None)
        self.ratio.addLine(y=1.0, pen=pg.mkPen("#777777", style=QtCore.Qt.DotLine))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.about)
        layout.addWidget(self.mismatch)
        layout.addWidget(self.tests)
        layout.addWidget(self.overlay, 3)
        layout.addWidget(self.ratio, 2)

    def _changed(self) -> None:
        self.changes += 1

    def _choose(self) -> None:
        text = self.chosen.text().strip()
        self.source.reset(text or None)
        self.changes += 1

    def prepare(self, snap: Snapshot) -> None:
        self.source.want(snap.header.get("run"), wait=True)

    def draw(self, snap: Snapshot) -> None:
        s = self.source
        s.want(snap.header.get("run"))
        name = self.which.currentData()
        xlabel, unit, lo, hi = self.choices[name]
        for w in (self.overlay, self.ratio):  # the histogram's own range (a link of the two
            # views froze their x range at pyqtgraph's default)
            w.getPlotItem().setLabel("bottom", f"{xlabel} [{unit}]" if unit else xlabel)
            w.setXRange(lo, hi, padding=0.01)
        h = ref.one_dimensional(snap, name, self.scope.currentText())
        edges = np.linspace(lo, hi, len(h) + 1)
        self.data_curve.setData(edges, h)
        c = s.choice
        if s.snapshot is None:
            passed = ("; passed over: " + "; ".join(c.skipped[:4])) if c is not None and \
                c.skipped else ""
            self.about.setText("Reference: " + ("loading..." if s.busy else s.error or "none")
                               + passed)
            self.mismatch.setText("")
            self.tests.setText("")
            for item in (self.ref_curve, self.ratio_curve):
                item.setData([], [])
            self.ratio_points.setData(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0))
            return
        r_hist = ref.one_dimensional(s.snapshot, name, "run")
        r, ratio, err = ref.scaled(h, r_hist)
        self.ref_curve.setData(edges, r)
        centres = 0.5 * (edges[1:] + edges[:-1])
        ok = np.isfinite(ratio)
        self.ratio_curve.setData(centres[ok], ratio[ok])
        self.ratio_points.setData(x=centres[ok], y=ratio[ok], height=2 * err[ok])
        skipped = (" Passed over: " + "; ".join(c.skipped[:4])
                   + (f"; and {len(c.skipped) - 4} more" if len(c.skipped) > 4 else "") + "."
                   if c.skipped else "")
        which = c.why or f"run {c.run if c.run is not None else '-'} ({c.how})"
        self.about.setText(f"Reference: {which} ({c.path}); its run scope against this run's "
                           f"{self.scope.currentText()} scope.{skipped}")
        self.mismatch.setText("Conditions differ: " + "; ".join(c.differences)
                              if c.differences else "")
        chi2, ks = ref.chi2_test(h, r_hist), ref.ks_test(h, r_hist)
        self.tests.setText(
            (f"chi2 / ndf = {chi2['chi2']:.1f} / {chi2['ndf']} (p = {chi2['p']:.3g})"
             if chi2["result"] == "ok" else f"chi2: too few entries (under {ref.MIN_ENTRIES})")
            + "    " +
            (f"Kolmogorov-Smirnov distance {ks['distance']:.3f} (p = {ks['p']:.3g})"
             if ks["result"] == "ok" else "KS: too few entries"))
