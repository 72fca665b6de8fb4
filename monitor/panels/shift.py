"""Shift: the last 8 hours for a crew handing over (``monitor/shift_summary.py``): every run,
their totals, the alarms raised per check and the logbook's entries. The database is read in
a background thread (every minute and at each new run), never while drawing."""

from __future__ import annotations

import time
from typing import Any

from PyQt5 import QtWidgets

from daq.core.detector import Detector
from monitor.panels import (
    Panel,
    duration,
    fill_table,
    in_background,
    label,
    local_time,
    number_text,
    table,
)
from monitor.shift_summary import SHIFT_HOURS, summary
from monitor.snapshot import Snapshot

REFRESH_S = 60.0


def read_summary(detector: Detector, now: float) -> dict[str, Any] | None:
    from daq.core.run_database import RunDatabase, RunDatabaseError

    try:
        db = RunDatabase()
    except RunDatabaseError:
        return None
    try:
        return summary(db, detector, now)
    finally:
        db.close()


class ShiftPanel(Panel):
    title = "Shift"

    def __init__(self, detector: Detector):
        super().__init__()
        self.detector = detector
        self.data: dict[str, Any] | None = None
        self.loaded = (None, 0.0)  # (run, when) of the last read
        self.busy = False
        self.totals = label("", bold=True, size_pt=13)
        self.runs = table(("run", "started", "ended", "state", "why it ended", "events written",
                           "balanced", "EOT", "major alarms not cleared at its end"))
        self.alarms = table(("check", "severity", "times raised"))
        self.entries = table(("time", "run", "author", "text"))
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(lambda: self._load(self.loaded[0]))
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.totals, 1)
        top.addWidget(refresh)
        below = QtWidgets.QHBoxLayout()
        left = QtWidgets.QVBoxLayout()
        left.addWidget(label("Alarms raised", bold=True))
        left.addWidget(self.alarms)
        right = QtWidgets.QVBoxLayout()
        right.addWidget(label("Logbook entries (alarm transitions: the Alarms tab)", bold=True))
        right.addWidget(self.entries)
        below.addLayout(left, 1)
        below.addLayout(right, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(label(f"Runs of the last {SHIFT_HOURS:g} hours", bold=True))
        layout.addWidget(self.runs, 2)
        layout.addLayout(below, 2)

    def _load(self, run, wait: bool = False) -> None:
        if self.busy:
            return
        self.busy, self.loaded = True, (run, time.monotonic())

        def work():
            try:
                self.data = read_summary(self.detector, time.time())
            finally:
                self.busy = False
                self.changes += 1
        in_background(work, wait)

    def prepare(self, snap: Snapshot) -> None:
        self._load(snap.header.get("run"), wait=True)

    def draw(self, snap: Snapshot) -> None:
        run, when = self.loaded
        if snap.header.get("run") != run or time.monotonic() - when > REFRESH_S:
            self._load(snap.header.get("run"))
        d = self.data
        if d is None:
            self.totals.setText("reading the run database..." if self.busy else
                                "no run database on this machine (NA64DAQ_DB)")
            return
        t = d["total"]
        self.totals.setText(
            f"{local_time(d['since_unix_s'])} to {local_time(d['now_unix_s'])}: "
            f"{t['runs']} runs, {t['events']:,} events written, EOT {t['eot']:.3g}, "
            + (f"{t['unbalanced']} runs NOT balanced" if t["unbalanced"] else
               "every closed run balanced"))
        fill_table(self.runs, [[
            str(r["run"]), local_time(r["start_unix_s"]),
            local_time(r["stop_unix_s"]) if r["stop_unix_s"] else
            f"running ({duration(time.time() - r['start_unix_s'])})",
            r["state"], r["stop_reason"] or "-", number_text(r["written"]),
            number_text(r["balanced"]), f"{r['eot']:.3g}" if r["eot"] else "-",
            ", ".join(r["alarms_not_cleared"] or []) or
            ("none" if r["alarms_not_cleared"] is not None else "not recorded")]
            for r in reversed(d["runs"])])
        fill_table(self.alarms, [[a["name"], a["severity"], str(a["times"])]
                                 for a in d["alarms_raised"]])
        fill_table(self.entries, [[local_time(e["time"]), number_text(e["run"]),
                                   e["author"], e["text"]] for e in reversed(d["entries"])])
