"""DAQ: every process with its state, heartbeat age, counters and restarts; the loss ledger
per spill; the monitor's own counters; start and stop through the control endpoint."""

from __future__ import annotations

import json

from PyQt5 import QtWidgets

from monitor.panels import Panel, fill_table, label, number_text, table
from monitor.snapshot import Snapshot

LEDGER_COLUMNS = ("spill", "triggered", "written_complete", "written_incomplete", "rejected",
                  "dropped_by_policy", "unaccounted", "balanced")
SHOWN_COUNTERS = ("events", "batches", "written_events", "tap_sent", "tap_dropped",
                  "rejected_batches", "malformed", "latency_p99_s")


class DaqStatusPanel(Panel):
    title = "DAQ"

    def __init__(self, control=None):
        super().__init__()
        self.control = control  # a RunControlClient, or None (file mode: no buttons)
        self.state = label("", bold=True, size_pt=13)
        self.monitor_counters = label()
        self.processes = table(("process", "state", "heartbeat age [s]", "restarts",
                                 *SHOWN_COUNTERS))
        self.ledger = table(LEDGER_COLUMNS)
        self.start = QtWidgets.QPushButton("Start run...")
        self.stop = QtWidgets.QPushButton("Stop run...")
        self.start.clicked.connect(lambda: self._ask("start"))
        self.stop.clicked.connect(lambda: self._ask("stop"))
        for b in (self.start, self.stop):
            b.setEnabled(control is not None)
        self.answer = label()
        buttons = QtWidgets.QHBoxLayout()
        for w in (self.start, self.stop, self.answer):
            buttons.addWidget(w)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.state)
        layout.addLayout(buttons)
        layout.addWidget(label("Processes", bold=True))
        layout.addWidget(self.processes, 2)
        layout.addWidget(label("Loss ledger per spill (the run's total last)", bold=True))
        layout.addWidget(self.ledger, 2)
        layout.addWidget(self.monitor_counters)

    def _ask(self, command: str) -> None:
        """Each button asks for a confirmation first."""
        sure = QtWidgets.QMessageBox.question(
            self, f"{command.title()} run", f"Really {command} the run?",
            QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No, QtWidgets.QMessageBox.No)
        if sure == QtWidgets.QMessageBox.Yes:
            self.answer.setText(self.control.ask(command))

    def draw(self, snap: Snapshot) -> None:
        h = snap.header
        daq = h.get("daq") or {}
        self.state.setText(f"DAQ state {daq.get('state', 'unknown (file)')}, run "
                           f"{h.get('run')}" + (f": {daq['error']}" if daq.get("error") else ""))
        restarts = daq.get("restarts") or {}
        rows = []
        for name, p in sorted((daq.get("processes") or {}).items()):
            c = p.get("counters") or {}
            age = p.get("heartbeat_age_s")
            rows.append([name, "alive" if p.get("alive") else "exited",
                         "-" if age is None else f"{age:.1f}",
                         str(restarts.get(p.get("role"), 0)),
                         *(number_text(c.get(k)) for k in SHOWN_COUNTERS)])
        fill_table(self.processes, rows)
        ledgers = [r["ledger"] for r in h.get("spills") or [] if r.get("ledger")]
        total = daq.get("ledger")
        fill_table(self.ledger, [[number_text(g.get(k)) for k in LEDGER_COLUMNS]
                                 for g in ledgers + ([dict(total, spill="run")] if total else [])])
        c = h.get("counters") or {}
        self.monitor_counters.setText(
            "Monitor sample: " + json.dumps({k: c.get(k) for k in
                                             ("offered", "taken", "dropped", "malformed")}))
