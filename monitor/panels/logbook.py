"""Logbook: the conditions database's HV/calibration logbook, filterable by run, detector and
kind; the values in force for the current run with their diff to the previous version. The
database is read in a background thread (at a new run and on Refresh), never while drawing."""

from __future__ import annotations

import getpass
from typing import Any

import numpy as np
from PyQt5 import QtWidgets

from daq.conditions import CREW_NOTE_KINDS, KINDS, NOTE_KINDS, ask_database, diff
from daq.core.detector import Detector
from monitor.panels import (
    Panel,
    fill_table,
    in_background,
    label,
    local_time,
    number_text,
    table,
)
from monitor.panels.detector_maps import CellMap
from monitor.snapshot import Snapshot


def read_logbook(detector: Detector, run: int | None) -> dict[str, Any]:
    """Entries, and per kind the version in force for ``run`` with its diff to the one
    before (None when this machine reaches no database)."""
    def question(c):
        out = {"entries": c.entries(), "in_force": {}}
        for kind in KINDS:
            v = c.lookup(kind, run) if run is not None else None
            if v is None:
                continue
            older = [h for h in c.history(kind) if h.id < v.id]
            out["in_force"][kind] = {"version": v.ids, "values": v.values,
                                     "diff": diff(older[-1], v) if older else []}
        return out
    return ask_database(detector, question) or {"entries": None, "in_force": {}}


class LogbookPanel(Panel):
    title = "Logbook"

    def __init__(self, detector: Detector, write_note=None):
        """``write_note(text, kind, author, run) -> str``: how the form's entries reach the
        logbook (``monitor.window.NoteWriter``); None: no form."""
        super().__init__()
        self.detector = detector
        self.write_note = write_note
        self.last_answer = ""
        self.data: dict[str, Any] | None = None
        self.loaded_for: object = "never"
        self.form_run: object = "never"  # the run the form last followed
        self.run_filter = QtWidgets.QLineEdit()
        self.run_filter.setPlaceholderText("run")
        self.detector_filter = QtWidgets.QComboBox()
        self.detector_filter.addItems(["any detector", "ECAL", "HCAL", "VETO", "SRD", "BEAM",
                                       "MUON"])
        self.kind_filter = QtWidgets.QComboBox()
        self.kind_filter.addItems(["any kind", *KINDS, *NOTE_KINDS])
        refresh = QtWidgets.QPushButton("Refresh")
        refresh.clicked.connect(lambda: self._load(self.loaded_for))
        self.entries = table(("id", "time", "run", "author", "text", "values"))
        self.in_force = table(("kind", "version", "channels", "changed from previous"))
        self.note = label()
        top = QtWidgets.QHBoxLayout()
        for w in (label("Filter:"), self.run_filter, self.detector_filter, self.kind_filter,
                  refresh):
            top.addWidget(w)
        top.addStretch(1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(top)
        if write_note is not None:
            layout.addLayout(self._form())
        layout.addWidget(label("Entries (newest first)", bold=True))
        layout.addWidget(self.entries, 2)
        layout.addWidget(label("In force for this run", bold=True))
        below = QtWidgets.QHBoxLayout()
        below.addWidget(self.in_force, 1)
        self.hv_maps = [CellMap(title, grid, [c.name for c in detector.channels],
                                lambda _: None, values_in_cells=size < 6, axis_titles=False,
                                value_format=".0f")
                        for title, grid, size in _hv_grids(detector)]
        hv = QtWidgets.QGridLayout()
        hv.addWidget(label("HV in force [V] (hover a cell)", bold=True), 0, 0, 1, 3)
        for k, m in enumerate(self.hv_maps):
            hv.addWidget(m, 1 + k // 3, k % 3)
        below.addLayout(hv, 1)
        layout.addLayout(below, 3)
        layout.addWidget(self.note)

    def _form(self) -> QtWidgets.QHBoxLayout:
        self.note_text = QtWidgets.QLineEdit()
        self.note_text.setPlaceholderText("new entry: what happened, what was done")
        self.note_kind = QtWidgets.QComboBox()
        self.note_kind.addItems(CREW_NOTE_KINDS)
        self.note_run = QtWidgets.QSpinBox()
        self.note_run.setRange(0, 10**9)
        self.note_run.setPrefix("run ")
        self.note_author = QtWidgets.QLineEdit(getpass.getuser())
        self.note_author.setMaximumWidth(140)
        add = QtWidgets.QPushButton("Add entry...")
        add.clicked.connect(self._add)
        if why_not := getattr(self.write_note, "forbidden", None):
            add.setEnabled(False)
            add.setToolTip(why_not)
            self.note_text.setPlaceholderText(why_not)
        row = QtWidgets.QHBoxLayout()
        for w in (label("Add:"), self.note_text, self.note_kind, self.note_run,
                  label("by"), self.note_author, add):
            row.addWidget(w)
        row.setStretch(1, 1)
        return row

    def _add(self) -> None:
        text, kind = self.note_text.text().strip(), self.note_kind.currentText()
        run = self.note_run.value() or None
        sure = QtWidgets.QMessageBox.question(
            self, "Add a logbook entry", f"Add to the logbook, run {run}:\n[{kind}] {text}",
            QtWidgets.QMessageBox.Yes | QtWidgets.QMessageBox.No, QtWidgets.QMessageBox.No)
        if sure != QtWidgets.QMessageBox.Yes:
            return

        def work():
            answer = self.write_note(text, kind, self.note_author.text(), run)
            self.last_answer = answer if "added" in answer else \
                f"{answer}; NOT written: [{kind}] {text}"
            self._load(self.loaded_for)
        self.note_text.clear()  # written, or the answer says why not (with the text)
        in_background(work)

    def _load(self, run, wait: bool = False) -> None:
        self.loaded_for = run

        def work():
            self.data = read_logbook(self.detector, run if isinstance(run, int) else None)
            self.changes += 1
        in_background(work, wait)

    def prepare(self, snap: Snapshot) -> None:
        self._load(snap.header.get("run"), wait=True)

    def _shown(self, e: dict[str, Any]) -> bool:
        run = self.run_filter.text().strip()
        if run and str(e.get("run")) != run:
            return False
        det, kind = self.detector_filter.currentText(), self.kind_filter.currentText()
        values = e.get("values") or []
        if det != "any detector" and not any(
                self.detector.channel(ch).detector == det for ch, _, _ in values
                if _known(self.detector, ch)):
            return False
        return kind == "any kind" or any(q == kind for _, q, _ in values) or \
            e.get("text", "").startswith(f"[{kind}]")

    def draw(self, snap: Snapshot) -> None:
        run = snap.header.get("run")
        if run != self.loaded_for:
            self._load(run)
        if self.write_note is not None and run != self.form_run and isinstance(run, int):
            self.form_run = run
            self.note_run.setValue(run)  # follows the current run; the crew may change it
        if self.data is None:
            self.note.setText("reading the conditions database...")
            return
        entries = self.data["entries"]
        if entries is None:
            self.note.setText("no conditions database on this machine (NA64DAQ_DB)")
            return
        self.note.setText(f"{len(entries)} entries in the logbook"
                          + (f"; {self.last_answer}" if self.last_answer else ""))
        fill_table(self.entries, [[str(e["id"]), local_time(e["time"]), number_text(e["run"]),
                              e["author"], e["text"], f"{len(e['values'])} values"]
                             for e in reversed(entries) if self._shown(e)])  # newest first
        fill_table(self.in_force, [[kind, v["version"], str(len(v["values"])),
                               "; ".join(f"{ch} {number_text(a)} -> {number_text(b)}"
                                         for ch, a, b in v["diff"][:8])
                               + (" ..." if len(v["diff"]) > 8 else "")]
                              for kind, v in self.data["in_force"].items()])
        hv = (self.data["in_force"].get("hv_v") or {}).get("values") or {}
        volts = np.array([np.nan if hv.get(c.name) is None else float(hv[c.name])
                          for c in self.detector.channels])
        known = volts[np.isfinite(volts)]
        levels = (float(known.min()), float(known.max()) + 1e-9) if len(known) else (0, 1)
        for m in self.hv_maps:
            m.show(volts, ("HV", "V"), levels)


def _hv_grids(detector: Detector):
    yield "ECAL preshower", detector.grid("ECAL", 0), 6
    yield "ECAL main", detector.grid("ECAL", 1), 6
    for m in range(4):
        yield f"HCAL module {m + 1}", detector.grid("HCAL", m), 3


def _known(detector: Detector, name: str) -> bool:
    try:
        detector.channel(name)
        return True
    except KeyError:
        return False
