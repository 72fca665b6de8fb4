"""The window's panels, one module each; every panel draws a snapshot and nothing else."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtGui, QtWidgets

from monitor.snapshot import Snapshot

FONT_PT = 11
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
COLOUR_MAP = "viridis"  # colour-blind safe
# white, legible when printed; no antialiasing: with it 200 spills of strip charts took 0.8 s
pg.setConfigOptions(background="w", foreground="k", antialias=False)


class Panel(QtWidgets.QWidget):
    """A tab of the window. ``draw`` is called by the window's timer, on the GUI thread, only
    while the panel is visible (and for PNGs)."""

    title = "panel"
    changes = 0  # raised by a panel whose own data changed (the window then redraws it)

    def draw(self, snap: Snapshot) -> None:
        raise NotImplementedError

    def prepare(self, snap: Snapshot) -> None:
        """Before a PNG: fetch now what is otherwise fetched in the background."""


def plot(title: str, x: tuple[str, str], y: tuple[str, str], legend: bool = False
         ) -> pg.PlotWidget:
    """A plot with its title and both axes labelled with their units."""
    w = pg.PlotWidget()
    style(w.getPlotItem(), title, x, y, legend)
    return w


def style(item: pg.PlotItem, title: str, x: tuple[str, str], y: tuple[str, str],
          legend: bool = False) -> None:
    item.setTitle(title, size=f"{FONT_PT + 1}pt")
    font = QtGui.QFont()
    font.setPointSize(FONT_PT - 1)
    for side, (text, unit) in (("bottom", x), ("left", y)):
        item.setLabel(side, f"{text} [{unit}]" if unit else text,
                      **{"font-size": f"{FONT_PT}pt"})
        item.getAxis(side).setTickFont(font)
        item.getAxis(side).enableAutoSIPrefix(False)  # "x0.001" beside a label misleads
    item.getAxis("left").setWidth(78)  # room for 6-digit ticks and the label
    item.showGrid(x=False, y=True, alpha=0.15)  # value lines; vertical ones cost draw time
    if legend:
        item.addLegend(offset=(-10, 10), labelTextSize=f"{FONT_PT - 1}pt")


SYMBOLS_UP_TO = 3  # points per curve; more are a line only (symbols were a third of a redraw)


def curve(w: pg.PlotWidget, name: str | None, k: int, symbol: str | None = "o"):
    c = w.plot([], [], name=name, pen=pg.mkPen(COLOURS[k % len(COLOURS)], width=2),
               symbol=symbol, symbolSize=6, symbolBrush=COLOURS[k % len(COLOURS)],
               symbolPen=None)
    c.wanted_symbol = symbol
    return c


def set_data(c, x: np.ndarray, y: np.ndarray) -> None:
    """NaNs are left out (pyqtgraph draws nothing for a curve with one NaN in some modes)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    symbol = getattr(c, "wanted_symbol", None)
    if symbol is not None:
        c.setSymbol(symbol if ok.sum() <= SYMBOLS_UP_TO else None)
    c.setData(x[ok], y[ok])


def label(text: str = "", bold: bool = False, size_pt: int = FONT_PT) -> QtWidgets.QLabel:
    w = QtWidgets.QLabel(text)
    f = w.font()
    f.setPointSize(size_pt)
    f.setBold(bold)
    w.setFont(f)
    return w


def table(columns) -> QtWidgets.QTableWidget:
    t = QtWidgets.QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(list(columns))
    t.horizontalHeader().setStretchLastSection(True)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
    return t


def fill_table(t: QtWidgets.QTableWidget, rows: list[list[str]]) -> None:
    t.setRowCount(len(rows))
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            t.setItem(i, j, QtWidgets.QTableWidgetItem(text))
    h = t.horizontalHeader()
    stretch = [k for k in range(h.count()) if h.sectionResizeMode(k) == h.Stretch]
    t.resizeColumnsToContents()  # this undoes stretching until the next resize: set again
    for k in stretch:
        h.setSectionResizeMode(k, h.Stretch)
    if h.stretchLastSection():
        h.setStretchLastSection(False)
        h.setStretchLastSection(True)


def number_text(v) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if isinstance(v, float) else str(v)
