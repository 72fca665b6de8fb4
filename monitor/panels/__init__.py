"""The window's panels, one module each; every panel draws a snapshot and nothing else. Here
what they share: plots with their legends below them, per-spill series, tables, and how
times, durations and counts are written for a tired person at 2 m."""

from __future__ import annotations

import html
import threading
import time

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtCore, QtGui, QtWidgets

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
    #: set by the window before a draw: since when (unix s) no fresh data came, or None
    stale_since: float | None = None

    def draw(self, snap: Snapshot) -> None:
        raise NotImplementedError

    def prepare(self, snap: Snapshot) -> None:
        """Before a PNG: fetch now what is otherwise fetched in the background."""


class LabelLegend:
    """A legend as a line of text under its plot (coloured marks, then names): it wraps
    instead of widening the plot, and never sits on a curve. Named items of the plot join
    it by themselves (pyqtgraph calls ``legend.addItem``)."""

    def __init__(self, text: QtWidgets.QLabel):
        self.text = text
        self.entries: list[tuple[object, str]] = []

    def addItem(self, item, name: str) -> None:  # noqa: N802 (pyqtgraph's name)
        self.entries.append((item, name))
        self.text.setText("&nbsp;&nbsp;&nbsp; ".join(
            f"{_swatch(i)}&nbsp;{html.escape(n)}" for i, n in self.entries))
        self.text.setFixedHeight(self.text.heightForWidth(max(self.text.width(), 300)))

    def clear(self) -> None:
        self.entries = []
        self.text.setText("")


SYMBOL_MARKS = {"s": "&#9632;", "t": "&#9650;", "o": "&#9679;"}


def _swatch(item) -> str:
    """A coloured mark like the item's: its line (dashed if it is), else its symbol."""
    opts = getattr(item, "opts", {})
    if isinstance(item, pg.ScatterPlotItem):  # a hollow marker: the open spill
        colour, mark = pg.mkPen(opts.get("pen")).color().name(), "&#9675;"
    elif opts.get("pen") is not None and pg.mkPen(opts["pen"]).style() != QtCore.Qt.NoPen:
        pen = pg.mkPen(opts["pen"])
        colour = pen.color().name()
        mark = "&#9473;&#9473;" if pen.style() == QtCore.Qt.SolidLine else "&#9476;&#9476;"
    else:
        colour = pg.mkBrush(opts.get("symbolBrush")).color().name()
        mark = SYMBOL_MARKS.get(opts.get("symbol"), "&#9679;")
    return f'<span style="color: {colour}; font-weight: bold;">{mark}</span>'


class LegendPlot(QtWidgets.QWidget):
    """A plot with its legend as a line of text below it; the plot's methods are its own
    (as ``pg.PlotWidget``'s are its plot item's)."""

    def __init__(self):
        super().__init__()
        self.plot_widget = pg.PlotWidget()
        self.legend_text = QtWidgets.QLabel()
        self.legend_text.setWordWrap(True)
        self.legend_text.setTextFormat(QtCore.Qt.RichText)
        f = self.legend_text.font()
        f.setPointSize(FONT_PT - 1)
        self.legend_text.setFont(f)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.legend_text)
        self.legend = LabelLegend(self.legend_text)
        self.plot_widget.getPlotItem().legend = self.legend

    def getPlotItem(self) -> pg.PlotItem:  # noqa: N802 (pyqtgraph's name)
        return self.plot_widget.getPlotItem()

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        """Not to a grid layout: rows holding such widgets squeezed the other rows flat."""
        return False

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.legend_text.setFixedHeight(self.legend_text.heightForWidth(self.width()))

    def __getattr__(self, name: str):
        if name == "plot_widget":  # not yet made
            raise AttributeError(name)
        return getattr(self.plot_widget, name)


def plot(title: str, x: tuple[str, str], y: tuple[str, str], legend: bool = False
         ) -> pg.PlotWidget | LegendPlot:
    """A plot with its title and both axes labelled with their units; with ``legend``, the
    legend below it."""
    w = LegendPlot() if legend else pg.PlotWidget()
    style(w.getPlotItem(), title, x, y)
    return w


def style(item: pg.PlotItem, title: str, x: tuple[str, str], y: tuple[str, str]) -> None:
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


def y_range(w, *values, min_span: float, centre: float | None = None) -> None:
    """The y axis over ``values`` (and limits drawn with them), at least ``min_span`` wide
    around ``centre`` (or their middle): an autoscaled axis made 1 % noise look like a
    fault."""
    finite = np.concatenate([np.ravel(np.asarray(v, float)) for v in values] or [np.zeros(0)])
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return
    lo, hi = float(finite.min()), float(finite.max())
    mid = centre if centre is not None else 0.5 * (lo + hi)
    lo, hi = min(lo, mid - min_span / 2), max(hi, mid + min_span / 2)
    w.getPlotItem().setYRange(lo, hi, padding=0.08)


class Strip:
    """A per-spill series: the closed spills joined, the open one a hollow marker (its
    counts are partial: drawn as a finished spill it 'dropped' for most of every spill)."""

    def __init__(self, w, name: str | None, k: int, symbol: str = "o"):
        colour = COLOURS[k % len(COLOURS)]
        self.closed = curve(w, name, k, symbol)
        self.open = pg.ScatterPlotItem(symbol=symbol, size=11, brush=pg.mkBrush(None),
                                       pen=pg.mkPen(colour, width=2))
        w.getPlotItem().vb.addItem(self.open)

    def set(self, spill: np.ndarray, values: np.ndarray, live: np.ndarray) -> None:
        values = np.asarray(values, float)
        set_data(self.closed, spill[~live], values[~live])
        ok = live & np.isfinite(values)
        self.open.setData(spill[ok], values[ok])


#: what every strip chart's marks mean, said once per panel
STRIP_NOTE = ("Per spill: closed spills joined; a hollow marker: the open spill, so far. Grey: "
              "what the alarm check compares with (its baseline, or the expected value); red "
              "dashes: its alarm limits.")


def note(text: str = STRIP_NOTE) -> QtWidgets.QLabel:
    w = label(text, size_pt=FONT_PT - 1)
    w.setWordWrap(True)
    return w


def limit_lines(w) -> tuple:
    """Two dashed curves for an alarm check's limits."""
    pen = pg.mkPen("#D00000", width=2, style=QtCore.Qt.DashLine)
    return (w.plot([], [], pen=pen), w.plot([], [], pen=pen))


def baseline_line(w):
    return w.plot([], [], pen=pg.mkPen("#666666", width=2))


def spill_axis(w, spill: np.ndarray) -> None:
    """Spills are whole numbers: ticks on them, the range the spills'."""
    if not len(spill):
        return
    lo, hi = float(np.min(spill)), float(np.max(spill))
    step = max(1, int(np.ceil((hi - lo + 1) / 10)))
    w.getPlotItem().getAxis("bottom").setTickSpacing(step, step)
    w.getPlotItem().setXRange(lo - 0.5, hi + 0.5, padding=0)


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
    """A count with thousands separators, a measurement to 3 digits, a flag in words."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def local_time(t: float | None) -> str:
    """Local date and time: a night shift crosses midnight."""
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def clock(t: float | None) -> str:
    return "-" if t is None else time.strftime("%H:%M:%S", time.localtime(t))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def in_background(work, wait: bool = False) -> None:
    """``work`` in a thread of its own (databases and files are never read while drawing);
    ``wait``: until it is done (before a PNG), at most 30 s."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    if wait:
        thread.join(30.0)


def show_answer(text_label: QtWidgets.QLabel, asker) -> None:
    """A run-control request was asked in a thread ('... asked...'): its answer, once it
    came (``RunControlAsker.last_answer``)."""
    answered = getattr(asker, "last_answer", "")
    if answered and text_label.text().endswith("asked..."):
        text_label.setText(answered)


def run_text(run) -> str:
    return f"run {run}" if run is not None else "no run yet"
