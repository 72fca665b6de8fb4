"""Detector maps: ECAL preshower and main (6x6), HCAL (4 x 3x3), and the other channels
(veto, SRD, counters), coloured by occupancy, mean energy, mean time or pedestal. Hovering a
cell names it; clicking it opens its waveform."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtWidgets

from daq.detector import Detector
from monitor.panels import COLOUR_MAP, FONT_PT, Panel, label, plot
from monitor.quantities import CHANNEL_QUANTITIES, channel_means
from monitor.snapshot import Snapshot


class CellMap(pg.PlotWidget):
    """One grid of cells ([y, x] -> channel, -1 empty), with hover and click."""

    def __init__(self, title: str, grid: np.ndarray, names: list[str], on_click,
                 values_in_cells: bool = True):
        super().__init__()
        self.setTitle(title, size=f"{FONT_PT}pt")
        self.grid = grid
        self.names = names
        self.on_click = on_click
        self.values = np.full(len(names), np.nan)
        self.quantity = ("", "")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(COLOUR_MAP))
        self.addItem(self.image)
        self.setAspectLocked(True)
        self.getPlotItem().hideAxis("left")
        self.getPlotItem().hideAxis("bottom")
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

    def show(self, values: np.ndarray, quantity: tuple[str, str], levels) -> None:
        self.values = values
        self.quantity = quantity
        cells = np.where(self.grid >= 0, values[np.maximum(self.grid, 0)], np.nan)
        self.image.setImage(cells, autoLevels=False, levels=levels)  # no value: white
        for t, c in self.texts:
            t.setText("" if c < 0 or not np.isfinite(values[c]) else f"{values[c]:.2g}")

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
        axis.setTicks([ticks[::2], ticks[1::2]])  # every other name, the rest on zooming
        self.range_label = label()
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
        if self.ratio.isChecked() and self.reference is not None:
            ref = self.reference
            ref.want(snap.header.get("run"))
            if ref.snapshot is None:
                against = f"; reference: {'loading...' if ref.busy else ref.error or 'none'}"
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    values = values / channel_means(ref.snapshot)[key]
                text, unit = f"{text} / the reference's", "ratio"
                c = ref.choice
                against = (f"; reference: run {c.run if c.run is not None else c.path}"
                           + (f" (differs: {'; '.join(c.differences)})" if c.differences
                              else ""))
        finite = values[np.isfinite(values)]
        levels = (float(finite.min()), float(finite.max()) + 1e-9) if len(finite) else (0, 1)
        self.range_label.setText(f"colour scale {levels[0]:.3g} .. {levels[1]:.3g} {unit}"
                                 f"{against}")
        for m in self.maps:
            m.show(values, (text, unit), levels)
        self.bar.setLevels(levels)
        self.bars.setOpts(height=np.nan_to_num(values[self.others]))
        self.other_plot.setLabel("left", f"{text} [{unit}]")
