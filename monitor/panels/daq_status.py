"""DAQ: every process with its state, heartbeat age, counters and restarts; the loss ledger
per spill; the monitor's own counters; start and stop through the control endpoint, each
confirmed with the run's number and what it takes. When no data come, it says since when
and claims nothing alive."""

from __future__ import annotations

import time

from PyQt5 import QtGui, QtWidgets

from monitor.panels import (
    Panel,
    clock,
    fill_table,
    label,
    number_text,
    run_text,
    show_answer,
    table,
)
from monitor.snapshot import Snapshot

LEDGER_COLUMNS = {"spill": "spill", "triggered": "triggered",
                  "written_complete": "written complete",
                  "written_incomplete": "written incomplete", "rejected": "rejected",
                  "dropped_by_policy": "dropped by policy", "unaccounted": "unaccounted",
                  "balanced": "balanced"}
SHOWN_COUNTERS = {"events": "events", "batches": "batches", "written_events": "written",
                  "tap_sent": "sent to the monitor", "tap_dropped": "monitor dropped",
                  "rejected_batches": "rejected batches", "malformed": "malformed",
                  "latency_p99_s": "latency p99 [s]"}
ALARM_RED = "#C00000"


def daq_age_s(snap: Snapshot) -> float:
    """How old the DAQ's state in ``snap`` is now: as old as the tap said when it sent it,
    plus the snapshot's own age (so that ages keep counting when nothing comes)."""
    return float(snap.header.get("daq_age_s") or 0.0) + snap.age_s()


class DaqStatusPanel(Panel):
    title = "DAQ"

    def __init__(self, control=None):
        super().__init__()
        self.control = control  # a ControlButtons (run control), or None (file: no buttons)
        self.state = label("", bold=True, size_pt=13)
        self.stale_note = label("", bold=True, size_pt=13)
        self.stale_note.setStyleSheet(f"color: white; background: {ALARM_RED}; padding: 4px;")
        self.stale_note.setVisible(False)
        self.monitor_counters = label()
        self.processes = table(("process", "state", "last heartbeat [s ago]", "restarts",
                                *SHOWN_COUNTERS.values()))
        self.ledger = table(tuple(LEDGER_COLUMNS.values()))
        self.start = QtWidgets.QPushButton("Start run...")
        self.stop = QtWidgets.QPushButton("Stop run...")
        self.start.clicked.connect(lambda: self._ask("start"))
        self.stop.clicked.connect(lambda: self._ask("stop"))
        why_not = ("a run file is shown: no DAQ to drive" if control is None else
                   control.forbidden)
        for b in (self.start, self.stop):
            b.setEnabled(why_not is None)
            if why_not:
                b.setToolTip(why_not)
        self.answer = label(why_not if control is not None and why_not else "")
        self.snap: Snapshot | None = None  # the last drawn
        #: the freshest snapshot, for the confirmations (set by the window: the feed's)
        self.latest = lambda: self.snap
        buttons = QtWidgets.QHBoxLayout()
        for w in (self.start, self.stop, self.answer):
            buttons.addWidget(w)
        buttons.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.stale_note)
        layout.addWidget(self.state)
        layout.addLayout(buttons)
        layout.addWidget(label("Processes", bold=True))
        layout.addWidget(self.processes, 2)
        layout.addWidget(label("Loss ledger per spill (the run's total last)", bold=True))
        layout.addWidget(self.ledger, 2)
        layout.addWidget(self.monitor_counters)

    def confirmation(self, command: str) -> str:
        """What the crew confirms: the run and what it takes (faults and boosts named), as the
        DAQ says now."""
        snap = self.latest()
        daq = (snap.header.get("daq") or {}) if snap is not None else {}
        what = daq.get("description") or "what it takes is not known (no data from the DAQ)"
        if command == "start":
            run = daq.get("next_run")
            return (f"Start run {run if run is not None else '(number unknown)'}?\n\n"
                    f"It takes: {what}")
        run = daq.get("run")
        started = daq.get("run_started_unix_s")
        return (f"Stop {run_text(run)}" + (f" (running since {clock(started)})" if started
                                           else "") + f"?\n\nIt takes: {what}")

    def _ask(self, command: str) -> None:
        """Each button asks for a confirmation first."""
        sure = QtWidgets.QMessageBox.question(
            self, f"{command.title()} run", self.confirmation(command),
            QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No, QtWidgets.QMessageBox.No)
        if sure == QtWidgets.QMessageBox.Yes:
            self.answer.setText(self.control.ask(command))

    def draw(self, snap: Snapshot) -> None:
        self.snap = snap
        show_answer(self.answer, self.control)
        h = snap.header
        daq = h.get("daq") or {}
        stale = self.stale_since is not None
        self.stale_note.setVisible(stale)
        if stale:
            self.stale_note.setText(f"No data from the DAQ since {clock(self.stale_since)} "
                                    f"({time.time() - self.stale_since:.0f} s): every state "
                                    "below is as last heard, nothing is known alive")
        state = daq.get("state", "unknown (a run file)")
        self.state.setText(f"DAQ {'last heard ' if stale else ''}{state}, {run_text(h.get('run'))}"
                           + (f": {daq['error']}" if daq.get("error") else ""))
        restarts = daq.get("restarts") or {}
        extra = daq_age_s(snap)
        rows, red = [], []
        for name, p in sorted((daq.get("processes") or {}).items()):
            c = p.get("counters") or {}
            age = p.get("heartbeat_age_s")
            age = None if age is None else age + extra
            if stale:
                what = f"unknown (last heard {clock(time.time() - age) if age else '-'})"
            elif not p.get("alive"):
                what = "exited"
            else:
                what = "running" if age is None or age < 3.0 else "not answering"
            if what != "running":
                red.append(len(rows))
            rows.append([name, what, "-" if age is None else f"{age:.1f}",
                         str(restarts.get(p.get("role"), 0)),
                         *(number_text(c.get(k)) for k in SHOWN_COUNTERS)])
        fill_table(self.processes, rows)
        for i in red:
            self.processes.item(i, 1).setForeground(QtGui.QColor(ALARM_RED))
        ledgers = [r["ledger"] for r in h.get("spills") or [] if r.get("ledger")]
        total = daq.get("ledger")
        shown = ledgers + ([dict(total, spill="run")] if total else [])
        fill_table(self.ledger, [[number_text(g.get(k)) for k in LEDGER_COLUMNS]
                                 for g in shown])
        for i, g in enumerate(shown):
            if g.get("balanced") is False:
                for j in range(len(LEDGER_COLUMNS)):
                    self.ledger.item(i, j).setBackground(QtGui.QColor("#F4A6A6"))
        c = h.get("counters") or {}
        self.monitor_counters.setText(
            "The monitor's sample of the data: " + ", ".join(
                f"{number_text(c.get(k))} {k}" for k in ("offered", "taken", "dropped",
                                                          "malformed")))
