"""Overview: the (E_ECAL, E_HCAL) plane with the regions of [001] Fig. 2, the DAQ's counts per
spill, and the run's state."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

from daq.reco.reco_config import ClassesSection
from monitor.histograms import PLANE_GEV
from monitor.panels import COLOUR_MAP, Panel, Strip, clock, note, plot, spill_axis, style
from monitor.quantities import spill_series
from monitor.snapshot import Snapshot

BELOW_GEV = 7.0  # room under E_HCAL = 0 for the signal box's label, beside its outline

STRIP = (("triggered", "triggered"), ("written", "written"), ("rejected", "rejected"),
         ("dropped_by_policy", "dropped"), ("taken", "monitor sample"))


def energy_plane_plot(title: str) -> tuple[pg.GraphicsLayoutWidget, pg.PlotItem,
                                            pg.ImageItem]:
    """The plane as an image with its colour bar, log colour scale, regions drawn and
    labelled."""
    layout = pg.GraphicsLayoutWidget()
    w = layout.addPlot(0, 0)
    style(w, title, ("E_ECAL", "GeV"), ("E_HCAL (modules 1+2)", "GeV"))
    img = pg.ImageItem(axisOrder="col-major")
    w.addItem(img)
    bar = pg.ColorBarItem(values=(0, 3), colorMap=pg.colormap.get(COLOUR_MAP),
                          interactive=False, orientation="horizontal", width=14,
                          label="log10(1 + events)")
    bar.setImageItem(img)
    layout.addItem(bar, 1, 0)  # below the plane: a vertical bar's ticks were clipped
    pen = pg.mkPen("#D55E00", width=2, style=QtCore.Qt.DashLine)
    w.region2 = [w.plot([], [], pen=pen) for _ in range(2)]  # region II band
    box = QtWidgets.QGraphicsRectItem()
    box.setPen(pg.mkPen("#CC79A7", width=3))
    box.setBrush(pg.mkBrush(150, 150, 150, 255))  # masked: shown only while blinded
    box.setZValue(10)
    w.addItem(box)
    w.signal_box = box
    box_label = pg.TextItem("", color="#A0306E", anchor=(0.5, 0.5))  # under its own box
    w.addItem(box_label)
    w.signal_box_label = box_label
    muons = QtWidgets.QGraphicsRectItem()
    muons.setPen(pg.mkPen("#56B4E9", width=2, style=QtCore.Qt.DotLine))
    w.addItem(muons)
    w.muon_band = muons
    w.region_labels = []
    for text in ("I: dimuons", "II: E_ECAL+E_HCAL\n= E_beam", "III: pileup (above II)"):
        t = pg.TextItem(text, color="#000000", anchor=(0, 0.5))
        f = QtGui.QFont()
        f.setPointSize(10)
        f.setBold(True)
        t.setFont(f)
        w.addItem(t)
        w.region_labels.append(t)
    w.regions_of = None  # the cuts the regions are drawn for
    lo, hi, _ = PLANE_GEV
    w.setXRange(lo, hi, padding=0)
    w.setYRange(lo - BELOW_GEV, hi, padding=0)
    return layout, w, img


def place_regions(w: pg.PlotItem, c: ClassesSection) -> None:
    """The regions and the signal box where the run's class cuts put them."""
    if w.regions_of == c:
        return
    w.regions_of = c
    e = c.beam_energy_gev
    for line, off in zip(w.region2, (-c.region2_tolerance_gev, c.region2_tolerance_gev),
                         strict=True):
        line.setData([0, e + off], [e + off, 0])
    w.signal_box.setRect(0, 0, c.signal_ecal_max_gev, c.signal_hcal_max_gev)
    w.signal_box_label.setPos(c.signal_ecal_max_gev / 2, -BELOW_GEV / 2)
    w.muon_band.setRect(0, 2 * c.mip_min_gev, e, 2 * (c.mip_max_gev - c.mip_min_gev))
    for t, x, y in zip(w.region_labels, (e + c.region2_tolerance_gev + 1, 0.88 * e, e),
                       (c.mip_min_gev + c.mip_max_gev, 0.52 * e, e), strict=True):
        t.setPos(x, y)


def show_plane(w: pg.PlotItem, img: pg.ImageItem, counts: np.ndarray, blinded: bool,
               classes: ClassesSection) -> None:
    """log10(1 + counts) with the run's regions; the box masked while blinded."""
    place_regions(w, classes)
    image = np.where(counts > 0, np.log10(1.0 + counts), np.nan)  # empty bins: white
    top = float(np.nanmax(image)) if np.isfinite(image).any() else 1.0
    img.setImage(image, autoLevels=False, levels=(0.0, max(1.0, top)))
    lo, hi, _ = PLANE_GEV
    img.setRect(QtCore.QRectF(lo, lo, hi - lo, hi - lo))  # after the image: bins -> GeV
    w.signal_box.setBrush(pg.mkBrush(150, 150, 150, 255) if blinded else pg.mkBrush(None))
    w.signal_box_label.setText("signal box (blinded)" if blinded else "signal box (UNBLINDED)")


class OverviewPanel(Panel):
    title = "Overview"
    #: a click on the plane: its bin (E_ECAL, E_HCAL), to list the events the tap kept there
    bin_clicked = QtCore.pyqtSignal(int, int)

    def __init__(self):
        super().__init__()
        self.plane_title = "E_ECAL vs E_HCAL, beam triggers (log colour: log10(1 + events))"
        self.plane, self.plane_plot, self.image = energy_plane_plot(self.plane_title)
        self.plane.scene().sigMouseClicked.connect(self._clicked)
        self.strip = plot("Per spill: the ledger and the monitor's sample",
                          ("spill", ""), ("events", ""), legend=True)
        self.curves = {key: Strip(self.strip, name, k) for k, (key, name) in enumerate(STRIP)}
        self.eot = plot("Electrons on target per spill (random triggers)",
                        ("spill", ""), ("EOT", "million e-"))
        self.eot_strip = Strip(self.eot, None, 2)
        grid = QtWidgets.QGridLayout(self)
        grid.addWidget(self.plane, 0, 0, 3, 1)
        grid.addWidget(self.strip, 0, 1)
        grid.addWidget(self.eot, 1, 1)
        grid.addWidget(note("Per spill: closed spills joined; a hollow marker: the open spill, "
                            "so far."), 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)

    @property
    def eot_curve(self):
        return self.eot_strip.closed

    def _clicked(self, event) -> None:
        from monitor.event_view import plane_bin

        if not self.plane_plot.sceneBoundingRect().contains(event.scenePos()):
            return
        p = self.plane_plot.vb.mapSceneToView(event.scenePos())
        b = plane_bin(p.x(), p.y())
        if b is not None:
            self.bin_clicked.emit(*b)

    def draw(self, snap: Snapshot) -> None:
        h = snap.header
        reset = h.get("reset_unix_s")
        self.plane_plot.setTitle(self.plane_title + (f", since Reset {clock(reset)}" if reset
                                                     else ""), size="12pt")
        show_plane(self.plane_plot, self.image, snap.hist("energy_plane"),
                   bool(h.get("blinded")), snap.reco_config.classes)
        s = spill_series(snap)
        for key, strip in self.curves.items():
            strip.set(s["spill"], s[key], s["live"])
        self.eot_strip.set(s["spill"], s["eot"] / 1e6, s["live"])
        for w in (self.strip, self.eot):
            spill_axis(w, s["spill"])
