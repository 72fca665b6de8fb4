"""Alarms: every check with its latched severity, state, what fails and its guidance; the
crew acknowledges, shelves and unshelves here (with their name), and jumps to the panel
that shows the problem. The alarms themselves live in the tap (``docs/monitor.md``); the
window's own (the alarm source silent) is handled here."""

from __future__ import annotations

import time

from PyQt5 import QtCore, QtGui, QtWidgets

from monitor.alarm_handler import raised
from monitor.alarm_performance import summary_line
from monitor.panels import Panel, clock, fill_table, label, local_time, show_answer, table
from monitor.snapshot import Snapshot
from monitor.window_alarm import NAME as WINDOW_ALARM
from monitor.window_alarm import SilentSourceAlarm

SEVERITY_COLOURS = {"major": "#F4A6A6", "minor": "#FFD27F", "too few": "#E0E0E0"}
ACKNOWLEDGED = ("#EEEEEE", "#7A7A7A")  # background, text: dimmed, still listed
COLUMNS = ("latched", "check", "state", "since", "what fails", "panel")
ALARMS_SILENT_PERIODS = 3  # alarms older than this many publish periods: the source is silent
ORDER = {"major": 0, "minor": 1}


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
        return f"ALARMS FAILING: check '{name}': {text}"
    return None


def shown_alarms(snap: Snapshot | None, local: SilentSourceAlarm | None) -> list[dict]:
    """The tap's alarms (none without a snapshot) and the window's own, worst first (the
    window's leads its rank)."""
    header = snap.header if snap is not None else {}
    rows = list((header.get("alarms") or {}).get("alarms") or [])
    if local is not None and local.state != "ok":
        rows.append(local.as_dict())
    rows = sorted(rows, key=lambda a: (
        ORDER.get(a.get("latched"), 2), a.get("state") in ("acknowledged", "shelved"),
        not a.get("local"), a.get("state") == "too few", a.get("name", "")))
    # a root cause's consequences right under it (ISA-18.2: suppressed by design)
    under: dict[str, list[dict]] = {}
    names = {a.get("name") for a in rows}
    for a in rows:
        roots = [r for r in a.get("suppressed_by") or [] if r in names]
        if a.get("state") == "suppressed" and roots:
            under.setdefault(roots[0], []).append(a)
    placed = [a for a in rows if not any(a in v for v in under.values())]
    out = []
    for a in placed:
        out.append(a)
        out.extend(under.get(a.get("name"), []))
    return out


class AlarmsPanel(Panel):
    title = "Alarms"
    show_panel = QtCore.pyqtSignal(str)

    def __init__(self, commands=None, local: SilentSourceAlarm | None = None):
        """``commands(request) -> str``: sends an alarm command (run control, or the file
        feed's own handler); None: read only. ``local``: the window's own alarm."""
        super().__init__()
        self.commands = commands
        self.local = local
        #: why this window may not command the alarm server (a viewer's key), or None
        self.forbidden = getattr(commands, "forbidden", None)
        self.rows: list[dict] = []
        self.selected: str | None = None  # the check's name: the table re-sorts under it
        self.raised_before: set[str] = set()
        self.source = label("", bold=True, size_pt=12)
        self.shift = label("")  # the alarm performance of the shift (ISA-18.2's figures)
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
        self.guidance.setMaximumHeight(120)
        self.buttons = {}
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(label("Name:"))
        bar.addWidget(self.author, 2)
        for text, slot in (("Acknowledge", self.acknowledge), ("Shelve", self.shelve),
                           ("Unshelve", self.unshelve), ("Show panel", self._show)):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            b.setEnabled(commands is not None or text in ("Show panel", "Acknowledge"))
            if self.forbidden and text in ("Shelve", "Unshelve"):
                b.setEnabled(False)
                b.setToolTip(self.forbidden)
            elif self.forbidden and text == "Acknowledge":
                b.setToolTip("only the window's own alarm: " + self.forbidden)
            self.buttons[text] = b
            bar.addWidget(b)
            if text == "Shelve":
                bar.addWidget(self.minutes)
                bar.addWidget(self.reason, 2)
        self.answer = label(self.forbidden or "")
        self.log = table(("time", "check", "what", "by", "text"))
        for t, column in ((self.table, COLUMNS.index("what fails")), (self.log, 4)):
            t.horizontalHeader().setStretchLastSection(False)
            t.horizontalHeader().setSectionResizeMode(column, QtWidgets.QHeaderView.Stretch)
        # a suppressed consequence's name is indented under its root: never cut
        self.table.horizontalHeader().setSectionResizeMode(
            COLUMNS.index("check"), QtWidgets.QHeaderView.ResizeToContents)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addWidget(self.shift)
        layout.addWidget(self.table, 3)
        layout.addWidget(label("Guidance", bold=True))
        layout.addWidget(self.guidance)
        layout.addLayout(bar)
        layout.addWidget(self.answer)
        layout.addWidget(label("Transitions (also in the logbook, kind 'alarm')", bold=True))
        layout.addWidget(self.log, 2)

    def draw(self, snap: Snapshot) -> None:
        alarms = snap.header.get("alarms") or {}
        if self.stale_since is not None:
            trouble = (f"No data from the DAQ since {clock(self.stale_since)} "
                       f"({time.time() - self.stale_since:.0f} s): the states below are as "
                       "last heard, and no alarm can rise")
        else:
            trouble = alarm_source_trouble(snap)
        self.source.setText(trouble or f"Alarm source answering: checks ran at "
                            f"{clock(alarms.get('evaluated_unix_s'))}")
        self.source.setStyleSheet("color: white; background: #C00000; padding: 4px;"
                                  if trouble else "color: #006400;")
        perf = alarms.get("performance")
        self.shift.setText(summary_line(perf) if isinstance(perf, dict) else
                           "Alarm performance: not in this feed")
        self.rows = shown_alarms(snap, self.local)
        up = {a["name"] for a in raised({"alarms": self.rows})}
        rising = bool(up - self.raised_before)
        self.raised_before = up
        self.table.blockSignals(True)  # refilling is not the crew selecting
        try:
            fill_table(self.table, [[
                a.get("latched", "ok").upper() if a.get("latched") != "ok" else "ok",
                ("    \u21b3 " if a.get("state") == "suppressed" else "") + a.get("name", "")
                + (" (this window)" if a.get("local") else ""),
                a.get("state", ""), local_time(a.get("since_unix_s")), a.get("text", ""),
                a.get("panel", "")] for a in self.rows])
            for i, a in enumerate(self.rows):
                self._colour(i, a)
            if rising or self.selected not in [a.get("name") for a in self.rows]:
                self.selected = self.rows[0]["name"] if self.rows else None  # the worst
            self._select(self.selected, scroll=rising)
        finally:
            self.table.blockSignals(False)
        self._guidance()
        show_answer(self.answer, self.commands)
        fill_table(self.log, [[local_time(e.get("time_unix_s")), e.get("name", ""),
                               e.get("what", ""), e.get("by", ""), e.get("text", "")]
                              for e in reversed(alarms.get("log") or [])])

    def _colour(self, i: int, a: dict) -> None:
        state = a.get("state")
        colour = SEVERITY_COLOURS.get(a.get("latched")) or SEVERITY_COLOURS.get(
            "too few" if state == "too few" else "")
        text = None
        if state == "shelved":
            colour = "#CCE5FF"
        elif state in ("acknowledged", "suppressed"):
            colour, text = ACKNOWLEDGED
        for j in range(len(COLUMNS)):
            item = self.table.item(i, j)
            if colour:
                item.setBackground(QtGui.QColor(colour))
            if text:
                item.setForeground(QtGui.QColor(text))
                f = item.font()
                f.setItalic(True)
                item.setFont(f)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Opening the tab shows the worst alarm, wherever the table was scrolled."""
        super().showEvent(event)
        if self.rows:
            self.selected = self.rows[0]["name"]
            self._select(self.selected, scroll=True)
            self._guidance()

    def _select(self, name: str | None, scroll: bool = False) -> None:
        for i, a in enumerate(self.rows):
            if a.get("name") == name:
                self.table.selectRow(i)
                if scroll:
                    self.table.scrollToItem(self.table.item(i, 0))
                return

    def _selected(self) -> None:
        """The crew chose a row: the selection follows that check from now on."""
        row = self.table.currentRow()
        if 0 <= row < len(self.rows):
            self.selected = self.rows[row]["name"]
        self._guidance()

    def current(self) -> dict | None:
        return next((a for a in self.rows if a.get("name") == self.selected), None)

    def _guidance(self) -> None:
        """The selected check's guidance and handling as they are now."""
        a = self.current()
        if a is None:
            self.guidance.setPlainText("")
            return
        shelved = (f"\nShelved by {a['shelved_by']} until "
                   f"{local_time(a['shelved_until_unix_s'])}"
                   + (f": {a['shelved_reason']}" if a.get("shelved_reason") else "") + "."
                   if a.get("shelved_by") else "")
        acked = (f"\nAcknowledged by {a['acknowledged_by']}." if a.get("acknowledged_by")
                 else "")
        self.guidance.setPlainText(f"{a['name']} ({a['panel']}): {a['guidance']}"
                                   f"{acked}{shelved}")

    def select(self, name: str) -> None:
        self.selected = name
        self._select(name, scroll=True)
        self._guidance()

    # -- commands ----------------------------------------------------------------------------
    def _send(self, action: str, **extra) -> None:
        a = self.current()
        if a is None:
            self.answer.setText("select an alarm first")
            return
        author = self.author.text().strip()
        if not author:
            self.answer.setText("type your name first: acknowledging and shelving are signed")
            return
        if a.get("local"):
            self.answer.setText(self.local.acknowledge(author) if action == "acknowledge"
                                else f"{WINDOW_ALARM}: the window's own alarm is "
                                     "acknowledged, never shelved")
            return
        if self.commands is None or self.forbidden:
            self.answer.setText(self.forbidden or
                                "read only: this window has no alarm server to command")
            return
        self.answer.setText(self.commands({"action": action, "name": a["name"],
                                           "author": author, **extra}))

    def acknowledge(self) -> None:
        self._send("acknowledge")

    def shelve(self) -> None:
        self._send("shelve", minutes=self.minutes.value(), reason=self.reason.text().strip())

    def unshelve(self) -> None:
        self._send("unshelve")

    def _show(self) -> None:
        a = self.current()
        if a is not None:
            self.show_panel.emit(a["panel"])
