"""A PNG of a script's fits for the logbook: one panel per cell, its spectrum and the fitted
curve, drawn with pyqtgraph (offscreen where there is no display)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from calib.peak_fit import PeakFit

PANEL_PX = (240, 170)


class FigureError(OSError):
    """The figure could not be written (the message names the file)."""


def save_fit_figure(path: str | Path, panels: list[tuple[str, PeakFit]], columns: int = 6,
                    title: str = "") -> None:
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        # Qt wants a private runtime directory and complains on stderr without one
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="na64daq-qt-"))
    import pyqtgraph as pg
    import pyqtgraph.exporters  # noqa: F401 - registers the exporters
    from PyQt5 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    win = pg.GraphicsLayoutWidget()
    rows = (len(panels) + columns - 1) // columns
    win.resize(PANEL_PX[0] * columns, PANEL_PX[1] * rows + (30 if title else 0))
    if title:
        win.addLabel(title, row=0, col=0, colspan=columns)
    for k, (name, fit) in enumerate(panels):
        plot = win.addPlot(row=1 + k // columns, col=k % columns)
        failed = fit.failed is not None
        plot.setTitle(f"{name}: " + (fit.failed[:28] if failed else f"{fit.peak:.4g}"),
                      color="r" if failed else "k", size="8pt")
        if fit.counts is not None and fit.edges is not None:
            plot.plot(fit.edges, fit.counts, stepMode="center", fillLevel=0,
                      brush=(100, 100, 200, 120), pen=pg.mkPen((60, 60, 160)))
            if not failed:
                x = np.linspace(fit.edges[0], fit.edges[-1], 200)
                plot.plot(x, fit.curve(x), pen=pg.mkPen("r", width=2))
                plot.addLine(x=fit.peak, pen=pg.mkPen((0, 140, 0), width=1))
    win.show()
    app.processEvents()
    exporter = pg.exporters.ImageExporter(win.scene())
    try:
        ok = exporter.export(str(path))
    except OSError as exc:
        raise FigureError(f"{path}: cannot write the figure ({exc})") from None
    finally:
        win.close()
    if ok is False or not Path(path).is_file():
        raise FigureError(f"{path}: cannot write the figure")
