"""Calibration health: the calibration-trigger electron peak per spill and along the spill
(the gain drift, corrected and not), each channel's pedestal against the one in force, and the
LED amplitudes of the last spills against the run's."""

from __future__ import annotations

import numpy as np
from PyQt5 import QtWidgets

from monitor.panels import Panel, curve, plot, set_data
from monitor.quantities import channel_means, drift_along_spill, spill_series
from monitor.snapshot import Snapshot


class CalibrationHealthPanel(Panel):
    title = "Calibration health"

    def __init__(self):
        super().__init__()
        self.peak = plot("Calibration electrons: mean E_ECAL + E_HCAL per spill",
                         ("spill", ""), ("energy", "GeV"))
        self.peak_curve = curve(self.peak, None, 0)
        self.drift = plot("Gain drift along the spill (last spills)", ("time in spill", "s"),
                          ("E / E_beam", ""), legend=True)
        self.corrected = curve(self.drift, "corrected", 0)
        self.uncorrected = curve(self.drift, "uncorrected", 3)
        self.pedestal = plot("Pedestal minus the one in force", ("channel", ""),
                             ("difference", "ADC"))
        self.pedestal_curve = curve(self.pedestal, None, 2, symbol="s")
        self.led = plot("LED amplitude: last spills / whole run", ("channel", ""),
                        ("ratio", ""))
        self.led_curve = curve(self.led, None, 4, symbol="t")
        grid = QtWidgets.QGridLayout(self)
        for k, w in enumerate((self.peak, self.drift, self.pedestal, self.led)):
            grid.addWidget(w, k // 2, k % 2)

    def draw(self, snap: Snapshot) -> None:
        s = spill_series(snap)
        set_data(self.peak_curve, s["spill"], s["calibration_peak_gev"])
        t, corrected, uncorrected = drift_along_spill(snap)
        set_data(self.corrected, t, corrected)
        set_data(self.uncorrected, t, uncorrected)
        run = channel_means(snap)
        in_force = np.array([np.nan if v is None else v for v in
                             (snap.header.get("reference") or {}).get("pedestal_adc", [])],
                            float)
        known = len(in_force) == len(run["pedestal"]) and np.isfinite(in_force).any()
        self.pedestal.setTitle("Pedestal minus the one in force" if known else
                               "Pedestal minus the one in force: none in force (the "
                               "reconstruction learns them)")
        if known:
            set_data(self.pedestal_curve, np.arange(len(in_force)), run["pedestal"] - in_force)
        led_ref = np.array([np.nan if v is None else v for v in
                            (snap.header.get("reference") or {}).get("led_reference_adc", [])],
                           float)
        with np.errstate(invalid="ignore", divide="ignore"):
            if len(led_ref) == len(run["led_adc"]) and np.isfinite(led_ref).any():
                self.led.setTitle("LED amplitude / the reference in force (reference_adc)")
                ratio = run["led_adc"] / led_ref
            else:  # no reference in the conditions: the last spills against the whole run
                self.led.setTitle("LED amplitude: last spills / whole run (no reference)")
                ratio = channel_means(snap, "window")["led_adc"] / run["led_adc"]
        set_data(self.led_curve, np.arange(len(ratio)), ratio)
