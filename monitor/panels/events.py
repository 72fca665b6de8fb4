"""The events of a clicked bin (``docs/monitor.md``, From a bin to its events): their energies
and class from the run file, one event's waveforms with the fitted in-time pulses and its
reconstruction row, and "what if" with a proposed calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt5 import QtWidgets

from daq.core import records as er
from daq.core.config_schema import ConfigError
from daq.core.pulse_shape import shape
from daq.run_file.isolated import vet_run_file
from monitor.event_view import Event, RunEvents, read_proposal
from monitor.panels import COLOURS, fill_table, label, plot, table

SHOWN_CHANNELS = 6  # the event's largest in-time pulses
TRIGGERS = {1: "physics", 2: "calibration", 3: "random", 4: "LED"}


class EventsDialog(QtWidgets.QDialog):
    def __init__(self, path: str | Path, ids: list[tuple[int, int]], what: str,
                 blinded: bool = True, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Events of {what}")
        self.resize(1300, 850)
        self.blinded = blinded
        self.info = label(f"{what}: {len(ids)} events kept by the monitor; read from {path}")
        self.info.setWordWrap(True)
        self.list = table(("spill", "event", "trigger", "E_ECAL [GeV]",
                           "E_HCAL 1+2 [GeV]", "class"))
        self.list.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.list.itemSelectionChanged.connect(self._show)
        self.waveforms = plot("waveforms of the largest in-time pulses, with their fits",
                              ("time in window", "ns"), ("ADC", "counts"), legend=True)
        self.reco_text = label()
        self.reco_text.setWordWrap(True)
        what_if = QtWidgets.QPushButton("What if... (a proposed calibration, ADC/GeV per "
                                        "channel, TOML)")
        what_if.clicked.connect(self._ask_proposal)
        # both reconstructed here, with the file's constants and with the proposal: one
        # event alone lacks the online reconstruction's running pedestals
        self.what_if_table = table(("spill", "event", "E_ECAL file's constants -> proposed "
                                    "[GeV]", "E_HCAL 1+2 file's -> proposed [GeV]", "class"))
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.info)
        layout.addWidget(self.list, 2)
        layout.addWidget(self.waveforms, 3)
        layout.addWidget(self.reco_text)
        layout.addWidget(what_if)
        layout.addWidget(self.what_if_table, 1)
        self.events: list[Event] = []
        self.run: RunEvents | None = None
        try:
            vet_run_file(path)  # a crafted file crashes a child, not the window
            self.run = RunEvents(path)
            self.events = self.run.find(ids)
        except (ConfigError, OSError, ValueError) as exc:
            self.info.setText(f"{what}: cannot read the events from {path}: {exc}")
        fill_table(self.list, [[str(e.spill), str(e.event),
                                TRIGGERS.get(int(e.events["trigger"]), "?"),
                                f"{e.reco['e_ecal_gev']:.2f}",
                                f"{e.reco['e_hcal_gev'][:2].sum():.2f}",
                                er.CLASS_NAMES[int(e.reco["event_class"])]]
                               for e in self.events])
        if self.events:
            self.list.selectRow(len(self.events) - 1)

    def _show(self) -> None:
        row = self.list.currentRow()
        if not 0 <= row < len(self.events) or self.run is None:
            return
        e = self.events[row]
        w = self.waveforms
        w.clear()
        w.getPlotItem().legend.clear()
        det, reco = self.run.detector, self.run.reco_config
        amp = np.nan_to_num(e.channels["amplitude_adc"], nan=0.0)
        t = np.arange(det.samples_per_channel) * det.sample_period_ns
        fine = np.linspace(t[0], t[-1], 300)
        for k, c in enumerate(np.argsort(amp)[::-1][:SHOWN_CHANNELS]):
            if amp[c] <= 0:
                break
            colour = COLOURS[k % len(COLOURS)]
            raw = e.samples[c].astype(float)
            w.plot(t, raw, pen=None, symbol="o", symbolSize=5, symbolBrush=colour,
                   name=f"{det.channels[c].name}: {amp[c]:.0f} ADC")
            ped = raw[:reco.pedestal.samples].mean()
            w.plot(fine, ped + amp[c] * shape(fine - float(e.channels["time_ns"][c]),
                                              reco.pulses.peak_ns, reco.pulses.order),
                   pen=pg.mkPen(colour, width=2))
        r = e.reco
        self.reco_text.setText(
            f"spill {e.spill} event {e.event}: E_ECAL {r['e_ecal_gev']:.2f} GeV (preshower "
            f"{r['e_preshower_gev']:.2f}), E_HCAL modules {_list(r['e_hcal_gev'], 2)} GeV, "
            f"veto {_list(r['e_veto_gev'] * 1e3, 2)} MeV, SRD "
            f"{_list(r['e_srd_gev'] * 1e3, 1)} MeV, shower x/y "
            f"{r['ecal_x_cells']:.2f}/{r['ecal_y_cells']:.2f} cells, shape chi2 "
            f"{r['ecal_shape_chi2']:.2f}, SRD tag {'yes' if r['srd_tag'] else 'no'}, muon tag "
            f"{'yes' if r['muon_tag'] else 'no'}; {er.flag_text(int(r['flags']))}")

    def _ask_proposal(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Proposed calibration", "",
                                                        "TOML (*.toml)")
        if path:
            self.what_if(path)

    def what_if(self, path: str | Path) -> list[dict]:
        """The listed events again with the proposal; shown, and returned."""
        if self.run is None:
            return []
        try:
            rows = self.run.what_if(self.events, read_proposal(path, self.run.detector),
                                    self.blinded)
        except ConfigError as exc:
            self.info.setText(str(exc))
            return []

        def pair(v):
            return f"{v[0]:.2f} -> " + ("blinded" if v[1] is None else f"{v[1]:.2f}")
        fill_table(self.what_if_table, [[str(r["spill"]), str(r["event"]),
                                         pair(r["e_ecal_gev"]), pair(r["e_hcal_gev"]),
                                         " -> ".join(r["class"])] for r in rows])
        return rows

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.run is not None:
            self.run.close()
        super().closeEvent(event)


def _list(values, digits: int) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in np.ravel(values))
