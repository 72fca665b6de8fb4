"""Detector maps: ECAL preshower and main (6x6), HCAL (4 x 3x3), and the other channels
(veto, SRD, counters), coloured by occupancy, mean energy, mean time or pedestal, or each
divided by the reference run's (a diverging scale centred on 1). Cells are labelled by column
and row; the channels an alarm names are outlined in red. Hovering a cell names it; clicking
it opens its waveform."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

from daq.core.detector import Detector
from monitor.panels import COLOUR_MAP, FONT_PT, Panel, clock, label, plot
from monitor.quantities import CHANNEL_QUANTITIES, channel_means
from monitor.snapshot import Snapshot

RATIO_COLOUR_MAP = "CET-D1"  # blue - white - red, centred on the middle of its levels


class CellMap(pg.PlotWidget):
    """One grid of cells ([y, x] -> channel, -1 empty), with hover and click."""

    def __init__(self, title: str, grid: np.ndarray, names: list[str], on_click,
                 values_in_cells: bool = True, axis_titles: bool = True,
                 value_format: str = ".2g"):
        """``axis_titles``: 'x (column)' and 'y (row)' beside the ticks (small maps: ticks
        only); ``value_format``: how a value is written in its cell."""
        super().__init__()
        self.setTitle(title, size=f"{FONT_PT}pt")
        self.grid = grid
        self.names = names
        self.on_click = on_click
        self.values = np.full(len(names), np.nan)
        self.value_format = value_format
        self.quantity = ("", "")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(COLOUR_MAP))
        no_value = QtWidgets.QGraphicsRectItem(0, 0, grid.shape[1], grid.shape[0])
        no_value.setBrush(pg.mkBrush(QtGui.QBrush(QtGui.QColor("#9E9E9E"),
                                                  QtCore.Qt.BDiagPattern)))
        no_value.setPen(pg.mkPen(None))
        no_value.setZValue(-10)  # seen through the cells without a value (transparent)
        self.addItem(no_value)
        self.addItem(self.image)
        self.setAspectLocked(True)
        item = self.getPlotItem()
        for side, n, text in (("bottom", grid.shape[1], "x (column)"),
                              ("left", grid.shape[0], "y (row)")):
            axis = item.getAxis(side)
            axis.setTicks([[(k + 0.5, str(k)) for k in range(n)], []])
            if axis_titles:
                axis.setLabel(text, **{"font-size": f"{FONT_PT - 1}pt"})
            axis.setStyle(tickLength=0)
        self.marks: list[QtWidgets.QGraphicsRectItem] = []
        self.setMouseEnabled(False, False)
        self.setMenuEnabled(False)
        self.scene().sigMouseMoved.connect(self._hover)
        self.scene().sigMouseClicked.connect(self._click)
        self.texts = []
        for (y, x), c in np.ndenumerate(grid if values_in_cells else np.zeros((0, 0))):
            t = pg.TextItem("", color="w", anchor=(0.5, 0.5))
            t.setPos(x + 0.5, y + 0.5)
            self.addItem(t)
            self.texts.append((t, c))
        self.setToolTip(title)

    def mark(self, channels: set[int]) -> None:
        """Red outlines on the cells of ``channels`` (what an alarm names)."""
        for m in self.marks:
            self.removeItem(m)
        self.marks = []
        for (y, x), c in np.ndenumerate(self.grid):
            if c in channels:
                r = QtWidgets.QGraphicsRectItem(x + 0.04, y + 0.04, 0.92, 0.92)
                r.setPen(pg.mkPen("#E00000", width=4))
                r.setZValue(20)
                self.addItem(r)
                self.marks.append(r)

    def set_colour_map(self, name: str) -> None:
        self.image.setColorMap(pg.colormap.get(name))

    def show(self, values: np.ndarray, quantity: tuple[str, str], levels) -> None:
        self.values = values
        self.quantity = quantity
        cells = np.where(self.grid >= 0, values[np.maximum(self.grid, 0)], np.nan)
        self.image.setImage(cells, autoLevels=False, levels=levels)  # no value: white
        for t, c in self.texts:
            t.setText("" if c < 0 or not np.isfinite(values[c]) else
                      format(values[c], self.value_format))

    def cell_at(self, scene_pos) -> int | None:
        p = self.getPlotItem().vb.mapSceneToView(scene_pos)
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        if 0 <= y < self.grid.shape[0] and 0 <= x < self.grid.shape[1] and self.grid[y, x] >= 0:
            return int(self.grid[y, x])
        return None

    def _hover(self, pos) -> None:
        c = self.cell_at(pos)
        if c is not None:
            name, unit = self.quantity
            self.setToolTip(f"{self.names[c]}: {name} {self.values[c]:.4g} {unit}")

    def _click(self, event) -> None:
        c = self.cell_at(event.scenePos())
        if c is not None:
            self.on_click(c)


class DetectorMapsPanel(Panel):
    title = "Detector maps"
    open_waveform = QtCore.pyqtSignal(int)  # a clicked cell's channel

    def __init__(self, detector: Detector, reference=None):
        """``reference``: the window's reference run (``panels.reference.ReferenceSource``):
        each quantity can be shown divided by the reference run's."""
        super().__init__()
        names = [c.name for c in detector.channels]
        self.choice = QtWidgets.QComboBox()
        for key, (text, unit) in CHANNEL_QUANTITIES.items():
            self.choice.addItem(f"{text} [{unit}]", key)
        self.reference = reference
        self.ratio = QtWidgets.QCheckBox("divided by the reference run's")
        self.ratio.setEnabled(reference is not None)
        self.ratio.toggled.connect(self._changed)
        self.maps = [CellMap(f"ECAL {section}", detector.grid("ECAL", m), names, self._clicked,
                             values_in_cells=False)  # 6x6: the colour bar, and hover
                     for m, section in ((0, "preshower"), (1, "main"))]
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(COLOUR_MAP),
                                   interactive=False, width=10, orientation="horizontal")
        self.bar.setImageItem([m.image for m in self.maps], insert_in=self.maps[1].getPlotItem())
        self.maps += [CellMap(f"HCAL module {m + 1}", detector.grid("HCAL", m), names,
                              self._clicked) for m in range(4)]
        others = np.concatenate([detector.veto, detector.srd, detector.beam_counters,
                                 detector.muon_counters])
        self.others = others
        self.other_plot = plot("Veto, SRD, beam and muon counters", ("channel", ""), ("", ""))
        self.bars = pg.BarGraphItem(x=np.arange(len(others)), height=np.zeros(len(others)),
                                    width=0.8, brush="#0072B2")
        self.other_plot.addItem(self.bars)
        ticks = [(k, names[c]) for k, c in enumerate(others)]
        axis = self.other_plot.getAxis("bottom")
        axis.setTicks([ticks[::3], ticks[1::3] + ticks[2::3]])  # every third name: legible
        self.range_label = label()
        self.alarm_label = label("", bold=True)
        self.alarm_label.setStyleSheet("color: #C00000;")
        top = QtWidgets.QHBoxLayout()
        top.addWidget(label("Show:"))
        top.addWidget(self.choice)
        top.addWidget(self.ratio)
        top.addWidget(self.range_label, 1)
        grid = QtWidgets.QGridLayout()
        for k, m in enumerate(self.maps):
            grid.addWidget(m, k // 4, k % 4)
        grid.addWidget(self.other_plot, 1, 2, 1, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.alarm_label)
        layout.addLayout(grid, 1)
        layout.addWidget(label("Hover a cell for its name and value; click it for its "
                               "waveform.", size_pt=FONT_PT - 1))

    def _changed(self) -> None:
        self.changes += 1

    def prepare(self, snap: Snapshot) -> None:
        if self.ratio.isChecked() and self.reference is not None:
            self.reference.want(snap.header.get("run"), wait=True)

    def _clicked(self, channel: int) -> None:
        self.open_waveform.emit(channel)

    def draw(self, snap: Snapshot) -> None:
        key = self.choice.currentData()
        values = channel_means(snap)[key]
        text, unit = CHANNEL_QUANTITIES[key]
        against = ""
        ratio = False
        if self.ratio.isChecked() and self.reference is not None:
            ref = self.reference
            ref.want(snap.header.get("run"))
            if ref.snapshot is None:
                against = f"; reference: {'loading...' if ref.busy else ref.error or 'none'}"
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    values = values / channel_means(ref.snapshot)[key]
                values = np.where(np.isfinite(values), values, np.nan)  # 0/0, x/0: no value
                ratio = True
                text, unit = f"{text} / the reference's", "ratio"
                c = ref.choice
                against = (f"; reference: run {c.run if c.run is not None else c.path}"
                           + (f" (differs: {'; '.join(c.differences)})" if c.differences
                              else ""))
        finite = values[np.isfinite(values)]
        if ratio:  # diverging, centred on 1: above and below the reference look different
            half = max(float(np.abs(finite - 1).max()) if len(finite) else 0.0, 0.05)
            levels = (1 - half, 1 + half)
        else:
            levels = (float(finite.min()), float(finite.max()) + 1e-9) if len(finite) else (0, 1)
        reset = snap.header.get("reset_unix_s")
        self.range_label.setText(f"colour scale {levels[0]:.3g} .. {levels[1]:.3g} {unit}"
                                 + (f"; since Reset {clock(reset)}" if reset else "")
                                 + f"{against}")
        alarmed = self._alarmed(snap)
        self.alarm_label.setText("Alarmed (outlined in red): " + "; ".join(
            f"{check}: {', '.join(names)}" for check, names in alarmed.items())
            if alarmed else "")
        marked = {snap.header["channels"].index(n) for names in alarmed.values()
                  for n in names if n in (snap.header.get("channels") or [])}
        colour_map = RATIO_COLOUR_MAP if ratio else COLOUR_MAP
        for m in self.maps:
            m.set_colour_map(colour_map)
            m.show(values, (text, unit), levels)
            m.mark(marked)
        self.bar.setColorMap(pg.colormap.get(colour_map))
        self.bar.setLevels(levels)
        shown = np.isfinite(values[self.others])  # no value, no bar (never a 0)
        self.bars.setOpts(x=np.arange(len(self.others))[shown],
                          height=values[self.others][shown])
        self.other_plot.setLabel("left", f"{text} [{unit}]")

    @staticmethod
    def _alarmed(snap: Snapshot) -> dict[str, list[str]]:
        """The channels the Detector-maps alarms name (dead, hot), by check."""
        out = {}
        for a in (snap.header.get("alarms") or {}).get("alarms") or []:
            if a.get("panel") == "Detector maps" and a.get("state") not in ("ok", "too few"):
                names = [k for k in a.get("items") or {} if k != "all"]
                if names:
                    out[a["name"]] = names
        return out
