"""Waveforms: the latest sampled waveform of a channel with its fitted in-time pulse (the
template at the fitted amplitude and time), the pedestal and the pulse flags."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from daq.core.detector import Detector
from daq.core.pulse_shape import shape
from daq.reco.pulse import flags as pf
from monitor.panels import Panel, curve, label, plot, set_data
from monitor.snapshot import Snapshot


def flag_text(flags: float | None) -> str:
    if flags is None or not np.isfinite(flags):
        return "no waveform yet"
    names = [n.replace("_", " ") for bit, n in pf.FLAG_NAMES.items() if int(flags) & bit]
    return ", ".join(names) or "none"


class WaveformsPanel(Panel):
    title = "Waveforms"

    def __init__(self, detector: Detector):
        super().__init__()
        self.detector = detector
        self.period_ns = detector.sample_period_ns
        self.choice = QtWidgets.QComboBox()
        for c in detector.channels:
            self.choice.addItem(f"{c.name} ({c.detector})", c.index)
        self.plot = plot("Latest sampled waveform", ("time in window", "ns"), ("ADC", "counts"),
                         legend=True)
        self.samples = curve(self.plot, "samples", 0)
        self.fit = self.plot.plot([], [], name="fitted in-time pulse (template)",
                                  pen=pg.mkPen("#D55E00", width=2))
        self.pedestal = [self.plot.plot([], [], name=f"pedestal, {parity} samples",
                                        pen=pg.mkPen(colour, width=2, style=2))
                         for parity, colour in (("even", "#009E73"), ("odd", "#CC79A7"))]
        self.info = label()
        self.hold = QtWidgets.QCheckBox("Hold this waveform")
        self.hold.setToolTip("keep the shown waveform while new ones arrive")
        self.hold.toggled.connect(self._changed)
        self.choice.currentIndexChanged.connect(self._changed)
        self.shown_channel: int | None = None  # whose waveform is drawn (held while Hold)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(label("Channel:"))
        top.addWidget(self.choice)
        top.addWidget(self.hold)
        top.addWidget(self.info, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)

    def _changed(self) -> None:
        self.changes += 1

    def select(self, channel: int) -> None:
        self.hold.setChecked(False)
        self.choice.setCurrentIndex(channel)

    def draw(self, snap: Snapshot) -> None:
        c = self.choice.currentData()
        if self.hold.isChecked() and self.shown_channel == c:
            return  # held: what is shown stays
        w = snap.header.get("waveforms") or {}
        raw = snap.hist("waveform_samples", "latest")[c].astype(float)
        self.shown_channel = c
        t = np.arange(len(raw)) * self.period_ns
        amp, time_ns, ped = (w.get(k, [None] * (c + 1))[c]
                             for k in ("amplitude_adc", "time_ns", "pedestal_adc"))
        spill, event = (w.get(k, [None] * (c + 1))[c] for k in ("spill", "event"))
        if spill is None:
            for item in (self.samples, self.fit, *self.pedestal):
                item.setData([], [])
            self.info.setText(f"{self.detector.channels[c].name}: no waveform sampled yet")
            return
        set_data(self.samples, t, raw)
        reco = snap.reco_config
        n_pre = reco.pedestal.samples
        even_odd = (raw[:n_pre:2].mean(), raw[1:n_pre:2].mean())
        for line, level in zip(self.pedestal, even_odd, strict=True):
            line.setData([t[0], t[-1]], [level, level])
        ped = ped if ped is not None else float(np.mean(even_odd))
        if amp is not None and time_ns is not None:
            fine = np.linspace(t[0], t[-1], 400)
            self.fit.setData(fine, ped + amp * shape(fine - time_ns, reco.pulses.peak_ns,
                                                    reco.pulses.order))
            pulse = f"in-time pulse {amp:.1f} ADC at {time_ns:.1f} ns"
        else:
            self.fit.setData([], [])
            pulse = "no in-time pulse"
        self.info.setText(f"{self.detector.channels[c].name}: spill {spill:.0f} event "
                          f"{event:.0f}; {pulse}; pedestals even/odd {even_odd[0]:.1f}/"
                          f"{even_odd[1]:.1f} ADC; flags: "
                          f"{flag_text(w.get('flags', [None] * (c + 1))[c])}")
