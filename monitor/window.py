"""The monitor's window: one tab per panel, a timer that redraws the visible one, STALE over
everything when the feed is old, PNGs of a panel or of all (``docs/monitor.md``)."""

from __future__ import annotations

import time
from pathlib import Path

from PyQt5 import QtCore, QtGui, QtWidgets

from daq.core.detector import Detector
from monitor.alarm_handler import raised
from monitor.alarm_sound import SILENCE_MINUTES, AlarmSound
from monitor.feeds import Feed
from monitor.panels import Panel, clock, label
from monitor.panels.alarms import AlarmsPanel, alarm_source_trouble, shown_alarms
from monitor.panels.calibration_health import CalibrationHealthPanel
from monitor.panels.daq_status import DaqStatusPanel
from monitor.panels.detector_maps import DetectorMapsPanel
from monitor.panels.header import RunHeader, banner_look, banner_style, header_text
from monitor.panels.logbook import LogbookPanel
from monitor.panels.overview import OverviewPanel
from monitor.panels.physics_rates import PhysicsRatesPanel
from monitor.panels.reach import ReachPanel
from monitor.panels.reference import ReferencePanel, ReferenceSource
from monitor.panels.shift import ShiftPanel
from monitor.panels.waveforms import WaveformsPanel
from monitor.run_control_client import AlarmCommands, ControlButtons, NoteWriter
from monitor.snapshot import Snapshot, since
from monitor.window_alarm import SilentSourceAlarm

REDRAW_HZ = 5.0
PANEL_SIZE = (1280, 760)  # each panel's size in the all-panels PNG


class HatchOverlay(QtWidgets.QWidget):
    """Over the visible panel while the data are STALE: greyed and hatched, so that no old
    plot passes for a live one; clicks go through it to the panel's controls."""

    def __init__(self):
        super().__init__()
        self.setAttribute(QtCore.Qt.WA_TransparentForMouseEvents)
        self.hide()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), QtGui.QColor(200, 200, 200, 110))
        p.fillRect(self.rect(), QtGui.QBrush(QtGui.QColor(80, 80, 80, 130),
                                             QtCore.Qt.BDiagPattern))
        p.end()

    def cover(self, panel: QtWidgets.QWidget | None) -> None:
        if panel is None:
            self.hide()
            return
        if self.parent() is not panel:
            self.setParent(panel)
        self.setGeometry(panel.rect())
        self.show()
        self.raise_()


FIRST_DATA_GRACE_S = 10.0  # a new window waits this long for its first data before alarming


class MonitorWindow(QtWidgets.QMainWindow):
    def __init__(self, feed: Feed, detector: Detector, control: ControlButtons | None = None,
                 remember: bool = True, notes: NoteWriter | None = None,
                 alarm_commands: AlarmCommands | None = None, reference: str | None = None,
                 sound: AlarmSound | None = None):
        """``reference``: the crew's reference run or file (default: chosen automatically);
        ``sound``: how alarms are heard (default: a tone, or the display's bell)."""
        super().__init__()
        self.feed = feed
        self.detector = detector
        self.remember = remember
        self.opened_unix_s = time.time()
        self.setWindowTitle("na64daq monitor")
        self.reference_source = ReferenceSource(detector, reference)
        self.maps = DetectorMapsPanel(detector, self.reference_source)
        self.waveforms = WaveformsPanel(detector)
        self.daq_panel = DaqStatusPanel(control)
        self.daq_panel.latest = lambda: self.feed.latest
        server = getattr(feed, "server", None)  # a file feed runs its own alarms
        self.alarm_commands = alarm_commands or (
            AlarmCommands(handler=server.alarms) if server is not None else
            AlarmCommands(control.endpoint, curve_keys=control.curve_keys)
            if control is not None else None)
        self.source_alarm = SilentSourceAlarm()
        self.sound = sound or AlarmSound()
        self.alarms = AlarmsPanel(self.alarm_commands, self.source_alarm)
        self.reference = ReferencePanel(detector, self.reference_source)
        self.panels: list[Panel] = [OverviewPanel(), self.alarms, PhysicsRatesPanel(),
                                    self.maps, self.waveforms, CalibrationHealthPanel(),
                                    self.reference, ReachPanel(), LogbookPanel(detector, notes),
                                    ShiftPanel(detector), self.daq_panel]
        self.tabs = QtWidgets.QTabWidget()
        for p in self.panels:
            self.tabs.addTab(p, p.title)
        self.maps.open_waveform.connect(self.show_waveform)
        self.alarms.show_panel.connect(self.show_panel)
        self.panel("Overview").bin_clicked.connect(self.open_bin)
        self.events_dialog = None
        self.overlay = HatchOverlay()
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.addWidget(self._toolbar())
        self.header = RunHeader()  # run, state, ..., or STALE: in the layout, never over
        layout.addWidget(self.header)  # a control
        self.banner = QtWidgets.QPushButton()  # the raised alarms, on every tab, fixed place
        f = self.banner.font()
        f.setPointSize(12)
        f.setBold(True)
        self.banner.setFont(f)
        self.banner.setFixedHeight(self.banner.fontMetrics().height() + 14)
        self.banner.clicked.connect(lambda: self.tabs.setCurrentWidget(self.alarms))
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.feed_status = label()
        self.statusBar().addWidget(self.feed_status, 1)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.redraw)
        self.timer.start(int(1000 / REDRAW_HZ))
        self.resize(1600, 950)
        if remember:
            s = QtCore.QSettings("na64daq", "monitor")
            if s.value("geometry") is not None:
                self.restoreGeometry(s.value("geometry"))
            self.tabs.setCurrentIndex(int(s.value("tab", 0)))
        self.draw_times_s: list[float] = []
        self.baseline: Snapshot | None = None
        self.reset_unix_s: float | None = None
        self.stale_since: float | None = None
        self._drawn: tuple = ()  # what the visible panel last drew

    def _toolbar(self) -> QtWidgets.QWidget:
        bar = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        self.toolbar_buttons = {}
        for text, slot in (("Reset", self.reset), ("Undo Reset", self.undo_reset),
                           ("Save PNG of this panel", self._save_panel),
                           ("Save PNG of all panels", self._save_all),
                           (f"Silence sound {SILENCE_MINUTES} min", self.silence)):
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.toolbar_buttons[text] = b
        self.toolbar_buttons["Undo Reset"].setEnabled(False)
        self.sound_text = label()
        row.addWidget(self.sound_text)
        self.saved_text = label()  # stays until the next save
        self.saved_text.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        row.addWidget(self.saved_text, 1)
        return bar

    def reset(self) -> None:
        """By hand: this window's run-scope histograms count from now (other viewers and the
        tap are not touched; strip charts and ledgers never); a new run resets by itself."""
        self.baseline = self.feed.latest
        self.reset_unix_s = time.time() if self.baseline is not None else None
        self.toolbar_buttons["Undo Reset"].setEnabled(self.baseline is not None)

    def undo_reset(self) -> None:
        self.baseline = self.reset_unix_s = None
        self.toolbar_buttons["Undo Reset"].setEnabled(False)

    def silence(self) -> None:
        self.sound.silence(time.time())
        self._sound_status(time.time())

    def shown(self) -> Snapshot | None:
        snap = self.feed.latest
        return since(snap, self.baseline, self.reset_unix_s) if snap is not None else None

    def run_file(self, snap: Snapshot | None) -> Path | None:
        """Where the shown run's events are: the file read, or the DAQ writer's file."""
        path = getattr(self.feed, "path", None)
        if path is not None:
            path = Path(path)
            if path.name.endswith(".monitor.h5"):  # saved histograms beside their run file
                path = path.with_name(path.name.replace(".monitor.h5", ".h5"))
            return path
        if snap is None:
            return None
        writer = ((snap.header.get("daq") or {}).get("processes") or {}).get("writer") or {}
        name = (writer.get("counters") or {}).get("file")
        return Path(name) if name else None

    def open_bin(self, i: int, j: int):
        """The events the tap kept in bin (i, j) of the plane, read from the run file; a bin
        of the blinded box opens nothing, and says so."""
        from monitor.event_view import events_in_bin
        from monitor.histograms import PLANE_GEV
        from monitor.panels.events import EventsDialog

        snap = self.shown()
        if snap is None:
            return None
        lo, hi, n = PLANE_GEV
        width = (hi - lo) / n
        what = (f"E_ECAL {lo + i * width:g}-{lo + (i + 1) * width:g} GeV, E_HCAL "
                f"{lo + j * width:g}-{lo + (j + 1) * width:g} GeV")
        c = snap.reco_config.classes
        if snap.header.get("blinded") and lo + i * width < c.signal_ecal_max_gev and \
                lo + j * width < c.signal_hcal_max_gev:
            self.saved_text.setText(f"{what}: inside the blinded signal box; its events are "
                                    "not shown (docs/monitor.md, Blinding)")
            return None
        path = self.run_file(snap)
        if path is None:
            self.saved_text.setText(f"{what}: no run file known for these events")
            return None
        if self.events_dialog is not None:  # one at a time; Qt deletes the one before
            self.events_dialog.close()
            self.events_dialog.deleteLater()
        self.events_dialog = EventsDialog(path, events_in_bin(snap, i, j), what,
                                          bool(snap.header.get("blinded")), self)
        self.events_dialog.show()
        return self.events_dialog

    def panel(self, title: str) -> Panel:
        return next(p for p in self.panels if p.title == title)

    def show_panel(self, title: str) -> None:
        self.tabs.setCurrentWidget(self.panel(title))

    def show_waveform(self, channel: int) -> None:
        self.waveforms.select(channel)
        self.tabs.setCurrentWidget(self.waveforms)

    def redraw(self) -> None:
        """The timer's work: the header, the banner and the sound at every tick; the visible
        panel when there is something new (and once a second while STALE: ages count)."""
        now = time.time()
        latest = self.feed.latest
        snap = self.shown()
        stale = self.feed.stale()
        self.stale_since = None
        if stale:
            self.stale_since = now - latest.age_s() if latest is not None else self.opened_unix_s
        self.header.show_text(*header_text(snap, now, self.stale_since, self._source()), stale)
        trouble = self._trouble(snap, latest, stale, now)
        if self.feed.live:  # the window's own alarm; a file's troubles are only said
            self.source_alarm.update(trouble, now)
            trouble = None
        rows = shown_alarms(snap, self.source_alarm)
        self._draw_banner(rows, snap, trouble)
        wanting = {a["name"] for a in raised({"alarms": rows})
                   if a.get("latched") == "major" and a.get("state") in (
                       "active", "cleared, unacknowledged")}
        if self.feed.live and stale and (latest is not None or
                                         now - self.opened_unix_s > FIRST_DATA_GRACE_S):
            wanting.add("STALE")
        self.sound.update(wanting, now)
        self._sound_status(now)
        panel = self.tabs.currentWidget()
        self.overlay.cover(panel if stale else None)
        self.feed_status.setText(self._feed_text())
        if snap is None:
            return
        key = (snap.seq, snap.received_monotonic_s, id(panel), panel.changes, id(self.baseline),
               stale, int(now) if stale else 0, self.source_alarm.state)
        if key == self._drawn:
            return  # the timer runs faster than snapshots come: nothing new to draw
        self._drawn = key
        t0 = time.perf_counter()
        panel.stale_since = self.stale_since
        panel.draw(snap)
        self.draw_times_s.append(time.perf_counter() - t0)
        del self.draw_times_s[:-1000]

    def _trouble(self, snap: Snapshot | None, latest: Snapshot | None, stale: bool,
                 now: float) -> str | None:
        """Why the alarms cannot be trusted now, or None."""
        if stale:
            if latest is None:
                return (None if now - self.opened_unix_s < FIRST_DATA_GRACE_S else
                        f"no data from the DAQ since this window opened at "
                        f"{clock(self.opened_unix_s)}")
            return f"no data from the DAQ since {clock(self.stale_since)}"
        return alarm_source_trouble(snap, getattr(self.feed, "period_s", 0.5)) if snap else None

    def _draw_banner(self, rows: list[dict], snap: Snapshot | None, trouble: str | None) -> None:
        """The raised alarms (latched, not shelved), worst first, or why the alarms cannot
        be trusted; one line, in its place on every tab (a click opens the Alarms tab)."""
        checks_ran = ((snap.header.get("alarms") or {}).get("evaluated_unix_s")
                      if snap is not None else None)
        if trouble:
            text, background, foreground = trouble, "#C00000", "white"
        else:
            text, background, foreground = banner_look(rows, checks_ran)
        self.banner.setText(text)
        self.banner.setStyleSheet(banner_style(background, foreground))
        up = raised({"alarms": rows})
        self.tabs.setTabText(self.tabs.indexOf(self.alarms),
                             f"Alarms ({len(up)})" if up else "Alarms")

    def _sound_status(self, now: float) -> None:
        until = self.sound.silenced_until
        self.sound_text.setText(f"sound silenced until {clock(until)}"
                                if self.sound.silenced(now) else "sound on")

    def _source(self) -> str:
        f = self.feed
        return getattr(f, "endpoint", None) or Path(str(getattr(f, "path", ""))).name

    def _feed_text(self) -> str:
        f = self.feed
        where = getattr(f, "endpoint", None) or str(getattr(f, "path", ""))
        text = f"{'live' if f.live else 'file'} {where}: {f.received} messages"
        if f.bad_messages:
            text += f", {f.bad_messages} bad messages (last: {f.last_error})"
        elif f.last_error:
            text += f"; {f.last_error}"
        if self.daq_panel.control is not None and self.daq_panel.control.last_answer:
            text += f"; {self.daq_panel.control.last_answer}"
        if self.alarm_commands is not None and self.alarm_commands.last_answer:
            text += f"; {self.alarm_commands.last_answer}"
        return text

    # -- pictures ----------------------------------------------------------------------------
    def _save_panel(self) -> None:
        path = self._png_path(self.tabs.currentWidget().title)
        self._saved(path, self.tabs.currentWidget().grab().save(str(path)))

    def _save_all(self) -> None:
        path = self._png_path("all")
        try:
            self.render_all(path)
            self._saved(path, True)
        except OSError:
            self._saved(path, False)

    def _saved(self, path: Path, ok: bool) -> None:
        """The message stays in the toolbar until the next save."""
        self.saved_text.setText(f"saved {path.name} in {path.parent} at {clock(time.time())}"
                                if ok else f"could NOT write {path}")

    def _png_path(self, what: str) -> Path:
        """Beside the run file (the file read, or the DAQ writer's), else here."""
        run_file = self.run_file(self.feed.latest)
        directory = run_file.resolve().parent if run_file is not None and \
            run_file.resolve().parent.is_dir() else Path.cwd()
        run = (self.feed.latest.header.get("run") if self.feed.latest else None) or 0
        name = what.lower().replace(" ", "_")
        return directory / f"run_{run:06d}.monitor.{name}.{time.strftime('%Y%m%dT%H%M%S')}.png"

    def render_all(self, path: str | Path, snap: Snapshot | None = None) -> Path:
        """Every panel drawn from one snapshot, two per row, into one PNG."""
        snap = snap or self.shown()
        w, h = PANEL_SIZE
        cols = 2
        rows = (len(self.panels) + cols - 1) // cols
        image = QtGui.QImage(w * cols, (h + 40) * rows, QtGui.QImage.Format_RGB32)
        image.fill(QtGui.QColor("white"))
        painter = QtGui.QPainter(image)
        font = painter.font()
        font.setPointSize(16)
        font.setBold(True)
        painter.setFont(font)
        current = self.tabs.currentIndex()
        try:
            for k, p in enumerate(self.panels):
                self.tabs.removeTab(self.tabs.indexOf(p))  # out of the tabs, its own size
                p.setParent(None)
                p.setAttribute(QtCore.Qt.WA_DontShowOnScreen, True)
                p.resize(w, h)
                p.layout().activate()
                if snap is not None:
                    p.prepare(snap)
                    p.draw(snap)
                x, y = (k % cols) * w, (k // cols) * (h + 40)
                painter.drawText(x + 10, y + 28, p.title)
                painter.drawPixmap(x, y + 40, p.grab())
                p.setAttribute(QtCore.Qt.WA_DontShowOnScreen, False)
                self.tabs.insertTab(k, p, p.title)
        finally:
            painter.end()
            self.tabs.setCurrentIndex(current)
        path = Path(path)
        if not image.save(str(path)):
            raise OSError(f"{path}: cannot write the PNG")
        return path

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self.remember:
            s = QtCore.QSettings("na64daq", "monitor")
            s.setValue("geometry", self.saveGeometry())
            s.setValue("tab", self.tabs.currentIndex())
        self.timer.stop()
        super().closeEvent(event)
