"""Alarms: every check with its latched severity, state, what fails and its guidance; the
crew acknowledges, shelves and unshelves here (with their name), and jumps to the panel
that shows the problem. The alarms themselves live in the tap (``docs/monitor.md``)."""

from __future__ import annotations

import time

from PyQt5 import QtCore, QtGui, QtWidgets

from monitor.panels import Panel, fill_table, label, table
from monitor.snapshot import Snapshot

SEVERITY_COLOURS = {"major": "#F4A6A6", "minor": "#FFD27F", "too few": "#E0E0E0"}
COLUMNS = ("latched", "check", "state", "since", "what fails", "panel")
ALARMS_SILENT_PERIODS = 3  # alarms older than this many publish periods: the source is silent


def alarm_source_trouble(snap: Snapshot, period_s: float = 0.5) -> str | None:
    """Why the window cannot trust the alarms it shows, or None: the alarm source's own
    heartbeat (``evaluated_unix_s``) older than 3 publish periods, absent, or checks failing."""
    alarms = snap.header.get("alarms")
    if not isinstance(alarms, dict) or alarms.get("evaluated_unix_s") is None:
        return "ALARMS SILENT: this feed carries no alarm state"
    age = float(snap.header.get("time_unix_s") or time.time()) - alarms["evaluated_unix_s"]
    if age > ALARMS_SILENT_PERIODS * period_s:
        return f"ALARMS SILENT: the checks last ran {age:.0f} s before this snapshot"
    if alarms.get("errors"):
        name, text = next(iter(alarms["errors"].items()))
        return f"ALARMS FAILING: check {name!r}: {text}"
    return None


def _since(t: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) if t else "-"


class AlarmsPanel(Panel):
    title = "Alarms"
    show_panel = QtCore.pyqtSignal(str)

    def __init__(self, commands=None):
        """``commands(request) -> str``: sends an alarm command (run control, or the file
        feed's own handler); None: read only."""
        super().__init__()
        self.commands = commands
        self.rows: list[dict] = []
        self.source = label("", bold=True, size_pt=12)
        self.author = QtWidgets.QLineEdit()
        self.author.setPlaceholderText("your name (required to acknowledge or shelve)")
        self.minutes = QtWidgets.QSpinBox()
        self.minutes.setRange(1, 480)
        self.minutes.setValue(60)
        self.minutes.setSuffix(" min")
        self.reason = QtWidgets.QLineEdit()
        self.reason.setPlaceholderText("reason for shelving")
        self.table = table(COLUMNS)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SingleSelection)
        self.table.itemSelectionChanged.connect(self._selected)
        self.guidance = QtWidgets.QTextEdit()
        self.guidance.setReadOnly(True)
        self.guidance.setMaximumHeight(110)
        self.buttons = {}
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(label("Name:"))
        bar.addWidget(self.author, 2)
        for text, slot in (("Acknowledge", self.acknowledge), ("Shelve", self.shelve),
                           ("Unshelve", self.unshelve), ("Show panel", self._show)):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            b.setEnabled(commands is not None or text == "Show panel")
            self.buttons[text] = b
            bar.addWidget(b)
            if text == "Shelve":
                bar.addWidget(self.minutes)
                bar.addWidget(self.reason, 2)
        self.answer = label()
        self.log = table(("time", "check", "what", "by", "text"))
        for t, column in ((self.table, COLUMNS.index("what fails")), (self.log, 4)):
            t.horizontalHeader().setStretchLastSection(False)
            t.horizontalHeader().setSectionResizeMode(column, QtWidgets.QHeaderView.Stretch)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(self.table, 3)
        layout.addWidget(label("Guidance", bold=True))
        layout.addWidget(self.guidance)
        layout.addLayout(bar)
        layout.addWidget(self.answer)
        layout.addWidget(label("Transitions (also in the logbook, kind 'alarm')", bold=True))
        layout.addWidget(self.log, 2)

    def draw(self, snap: Snapshot) -> None:
        alarms = snap.header.get("alarms") or {}
        trouble = alarm_source_trouble(snap)
        self.source.setText(trouble or f"Alarm source alive: checks ran "
                            f"{_since(alarms.get('evaluated_unix_s'))}")
        self.source.setStyleSheet("color: white; background: #C00000; padding: 4px;"
                                  if trouble else "color: #006400;")
        order = {"major": 0, "minor": 1}
        self.rows = sorted(alarms.get("alarms") or [], key=lambda a: (
            order.get(a.get("latched"), 2), a.get("state") == "too few", a.get("name", "")))
        selected = self._current_name()
        fill_table(self.table, [[
            a.get("latched", "ok").upper() if a.get("latched") != "ok" else "ok",
            a.get("name", ""), a.get("state", ""), _since(a.get("since_unix_s")),
            a.get("text", ""), a.get("panel", "")] for a in self.rows])
        for i, a in enumerate(self.rows):
            colour = SEVERITY_COLOURS.get(a.get("latched")) or SEVERITY_COLOURS.get(
                "too few" if a.get("state") == "too few" else "")
            if a.get("state") == "shelved":
                colour = "#CCE5FF"
            if colour:
                for j in range(len(COLUMNS)):
                    self.table.item(i, j).setBackground(QtGui.QColor(colour))
            if a.get("name") == selected:
                self.table.selectRow(i)
        if selected is None and self.rows:
            self.table.selectRow(0)  # the worst: its guidance shows at once
        fill_table(self.log, [[_since(e.get("time_unix_s")), e.get("name", ""),
                               e.get("what", ""), e.get("by", ""), e.get("text", "")]
                              for e in reversed(alarms.get("log") or [])])

    def _current_name(self) -> str | None:
        row = self.table.currentRow()
        return self.rows[row]["name"] if 0 <= row < len(self.rows) else None

    def _selected(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.rows):
            a = self.rows[row]
            shelved = (f"\nShelved by {a['shelved_by']} until "
                       f"{_since(a['shelved_until_unix_s'])}." if a.get("shelved_by") else "")
            acked = (f"\nAcknowledged by {a['acknowledged_by']}."
                     if a.get("acknowledged_by") else "")
            self.guidance.setPlainText(f"{a['name']} ({a['panel']}): {a['guidance']}"
                                       f"{acked}{shelved}")

    def select(self, name: str) -> None:
        for i, a in enumerate(self.rows):
            if a.get("name") == name:
                self.table.selectRow(i)

    # -- commands ----------------------------------------------------------------------------
    def _send(self, action: str, **extra) -> None:
        name = self._current_name()
        if name is None:
            self.answer.setText("select an alarm first")
            return
        author = self.author.text().strip()
        if not author:
            self.answer.setText("type your name first: acknowledging and shelving are signed")
            return
        self.answer.setText(self.commands({"action": action, "name": name, "author": author,
                                           **extra}))

    def acknowledge(self) -> None:
        self._send("acknowledge")

    def shelve(self) -> None:
        self._send("shelve", minutes=self.minutes.value(), reason=self.reason.text().strip())

    def unshelve(self) -> None:
        self._send("unshelve")

    def _show(self) -> None:
        row = self.table.currentRow()
        if 0 <= row < len(self.rows):
            self.show_panel.emit(self.rows[row]["panel"])
