"""Calibration health, as the alarm checks see it (``docs/monitor.md``: the same baselines,
errors and limits): the calibration electrons' E/E_beam per spill (gain drift), along the
spill (gain drift, early saturation), each channel's pedestal against the one in force or
the baseline (pedestal jump), and each channel's LED pulses against the baseline (gain
drift), one point per tested channel, the alarmed ones marked."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from monitor.panels import (
    COLOURS,
    FONT_PT,
    Panel,
    curve,
    limit_lines,
    note,
    plot,
    set_data,
    y_range,
)
from monitor.panels.checked_plot import CheckedPlot
from monitor.quantities import drift_along_spill, spill_series
from monitor.snapshot import Snapshot

ALARMED = "#C00000"


class ChannelPoints:
    """One point per channel a check tested, with its error bar; the alarmed ones red and
    named; the check's limits as lines."""

    def __init__(self, w, k: int):
        self.w = w
        self.bars = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0),
                                    pen=pg.mkPen(COLOURS[k], width=1))
        w.addItem(self.bars)
        self.points = w.plot([], [], pen=None, symbol="o", symbolSize=6,
                             symbolBrush=COLOURS[k], symbolPen=None)
        self.alarmed = w.plot([], [], pen=None, symbol="o", symbolSize=11,
                              symbolBrush=ALARMED, symbolPen=None)
        self.limits = limit_lines(w)
        self.names: list[pg.TextItem] = []

    def show(self, values, errors, limits: tuple[float, float], alarmed: dict[int, str],
             n_channels: int) -> None:
        v, e = np.asarray(values, float), np.asarray(errors, float)
        x = np.arange(len(v), dtype=float)
        ok = np.isfinite(v)
        self.points.setData(x[ok], v[ok])
        self.bars.setData(x=x[ok], y=v[ok], height=2 * np.nan_to_num(e[ok]))
        marked = np.array(sorted(c for c in alarmed if c < len(v) and ok[c]), int)
        self.alarmed.setData(x[marked], v[marked])
        for t in self.names:
            self.w.removeItem(t)
        self.names = []
        for c in marked:
            t = pg.TextItem(alarmed[int(c)], color=ALARMED, anchor=(0, 0.5))  # right of it
            t.setPos(float(c) + 1, float(v[c]))
            self.w.addItem(t)
            self.names.append(t)
        for line, level in zip(self.limits, limits, strict=True):
            line.setData([-1, n_channels], [level, level])
        self.w.setXRange(-1, n_channels, padding=0)


def _alarmed(snap: Snapshot, check: str) -> dict[int, str]:
    """Channel index -> name of the items a check raised (channel items only)."""
    names = snap.header.get("channels") or []
    for a in (snap.header.get("alarms") or {}).get("alarms") or []:
        if a.get("name") == check and a.get("state") not in ("ok", "too few"):
            return {names.index(k): k for k in a.get("items") or {} if k in names}
    return {}


class CalibrationHealthPanel(Panel):
    title = "Calibration health"

    def __init__(self):
        super().__init__()
        self.peak = CheckedPlot("Calibration electrons' E / E_beam (corrected)",
                                ("E / E_beam", ""), None, "gain drift", "baseline",
                                ("limit_low", "limit_high"))
        self.drift = plot("Along the spill, last spills: calibration electrons",
                          ("time in spill", "s"), ("E / E_beam", ""), legend=True)
        self.corrected = curve(self.drift, "corrected", 0)
        self.uncorrected = curve(self.drift, "uncorrected", 3)
        self.early = label_item()
        self.drift.addItem(self.early)
        self.pedestal = plot("Pedestal minus its reference", ("channel (map order)", ""),
                             ("difference", "ADC"))
        self.pedestal_points = ChannelPoints(self.pedestal, 2)
        self.led = plot("LED pulses: tested spill / baseline", ("channel (map order)", ""),
                        ("ratio", ""))
        self.led_points = ChannelPoints(self.led, 4)
        grid = QtWidgets.QGridLayout(self)
        for k, w in enumerate((self.peak.w, self.drift, self.pedestal, self.led)):
            grid.addWidget(w, k // 2, k % 2)
        grid.addWidget(note("Per spill: closed spills joined, a hollow marker the open spill "
                            "so far. Per channel: the latest tested spill, one point per "
                            "channel the check tested (with its error), red if alarmed. Grey: "
                            "the check's baseline; red dashes: its alarm limits."), 2, 0, 1, 2)
        for row in range(2):
            grid.setRowStretch(row, 1)

    @property
    def peak_curve(self):
        return self.peak.strip.closed

    def draw(self, snap: Snapshot) -> None:
        s = spill_series(snap)
        self.peak.draw(snap, s, s["calibration_ratio"], min_span=0.05)
        t, corrected, uncorrected = drift_along_spill(snap)
        set_data(self.corrected, t, corrected)
        set_data(self.uncorrected, t, uncorrected)
        y_range(self.drift, corrected, uncorrected, min_span=0.05, centre=1.0)
        rows = [r for r in snap.header.get("spills") or [] if r.get("checks")]
        early = ((rows[-1]["checks"] if rows else {}).get("early saturation") or {})
        self.early.setText(
            f"spill {rows[-1]['spill']}: first second {early['delta']:+.1%} from the rest "
            f"(early saturation below {early['limit']:+.1%})"
            if early.get("delta") is not None else "early saturation: not tested yet")
        self.early.setPos(float(t[0]) if len(t) else 0.0, float(np.nanmax(
            [*corrected, *uncorrected, 1.0])) + 0.02)
        n = len(snap.header.get("channels") or [])
        checked = (snap.header.get("alarms") or {}).get("channels") or {}
        ped = checked.get("pedestal jump") or {}
        if ped.get("delta_adc"):
            lim = ped["limit_adc"]
            self.pedestal.setTitle(f"Pedestal minus the {ped['against']}'s, spill "
                                   f"{checked['spill']}", size="12pt")
            self.pedestal_points.show(_floats(ped["delta_adc"]), _floats(ped["error_adc"]),
                                      (-lim, lim), _alarmed(snap, "pedestal jump"), n)
            y_range(self.pedestal, _floats(ped["delta_adc"]), [-lim, lim], min_span=2 * lim)
        else:
            self.pedestal.setTitle("Pedestal: not tested yet (no pedestal in force, no "
                                   "baseline yet)", size="12pt")
            self.pedestal_points.show([], [], (np.nan, np.nan), {}, n)
        led = checked.get("gain drift") or {}
        if led.get("led_ratio"):
            lim = led["limit"]
            self.led.setTitle(f"LED pulses: spill {checked['spill']} / the {led['against']}",
                              size="12pt")
            self.led_points.show(_floats(led["led_ratio"]), _floats(led["led_error"]),
                                 (1 - lim, 1 + lim), _alarmed(snap, "gain drift"), n)
            y_range(self.led, _floats(led["led_ratio"]), [1 - lim, 1 + lim], min_span=0.1,
                    centre=1.0)
        else:
            self.led.setTitle("LED pulses: not tested yet (5 a channel in a spill and its "
                              "baseline)", size="12pt")
            self.led_points.show([], [], (np.nan, np.nan), {}, n)


def label_item() -> pg.TextItem:
    t = pg.TextItem("", color="#333333", anchor=(0, 1))
    f = t.textItem.font()
    f.setPointSize(FONT_PT - 1)
    t.setFont(f)
    return t


def _floats(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)

