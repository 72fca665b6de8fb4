"""The monitor's window, offscreen (pytest-qt): every panel draws real data from a run file, a
click on a cell opens its waveform, a stalled feed says STALE, bad messages are counted, the
file mode follows a growing file, and no path shows the blinded box."""

import os

import numpy as np
import zmq

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from conftest import wait_until  # noqa: E402
from PyQt5 import QtCore  # noqa: E402

from daq.core import records as er  # noqa: E402
from monitor import snapshot as proto  # noqa: E402
from monitor.alarm_sound import AlarmSound  # noqa: E402
from monitor.feeds import FileFeed, LiveFeed  # noqa: E402


def test_every_panel_draws_real_content(file_window, run_batches):
    w = file_window
    snap = w.feed.latest
    for p in w.panels:
        p.prepare(snap)
        p.draw(snap)
    overview, physics, maps, waveforms, calibration, logbook, daq = (w.panel(t) for t in (
        "Overview", "Physics rates", "Detector maps", "Waveforms", "Calibration health",
        "Logbook", "DAQ"))
    n_events = sum(len(b[0]) for spill in run_batches for b in spill)
    assert w.feed.rows_read == n_events
    assert np.nanmax(overview.image.image) > 0
    assert len(physics.dimuon_curve.getData()[0]) == 3  # one point per spill
    assert np.isfinite(maps.maps[1].values).sum() > 30  # ECAL main cells
    assert len(waveforms.samples.getData()[0]) > 0
    assert len(calibration.peak_curve.getData()[0]) == 3
    assert daq.ledger.rowCount() == 4  # three spills and the run
    assert logbook.note.text()


def test_a_click_on_a_cell_opens_its_waveform(qtbot, file_window, detector):
    w = file_window
    w.show()
    w.tabs.setCurrentWidget(w.maps)
    w.redraw()
    cell_map = w.maps.maps[1]  # ECAL main
    y, x = 2, 3
    channel = int(cell_map.grid[y, x])
    scene = cell_map.getPlotItem().vb.mapViewToScene(QtCore.QPointF(x + 0.5, y + 0.5))
    qtbot.mouseClick(cell_map.viewport(), QtCore.Qt.LeftButton,
                     pos=cell_map.mapFromScene(scene))
    assert w.tabs.currentWidget() is w.waveforms
    assert w.waveforms.choice.currentData() == channel
    w.redraw()
    assert detector.channels[channel].name in w.waveforms.info.text()


def test_the_file_mode_follows_a_growing_file(tmp_path, write_run, run_batches, detector):
    from daq.core.ledger import spill_ledger, sum_ledgers

    writer = write_run(tmp_path, spills=1, close=False)
    feed = FileFeed(tmp_path / "run_000007.h5").start()
    first = sum(len(b[0]) for b in run_batches[0])
    try:
        assert wait_until(lambda: feed.rows_read == first)
        assert not feed.finished
        for batch in run_batches[1]:
            writer.append(*batch)
        writer.write_block()
        ledger = spill_ledger(2, {"builder": {"triggered": 0}}, writer.take_spill_counts(2))
        second = first + sum(len(b[0]) for b in run_batches[1])
        assert wait_until(lambda: feed.rows_read == second)
        assert wait_until(lambda: feed.latest.header["spill"] == 2)
        writer.close({"ledger": sum_ledgers([ledger], {}), "events": second})
        assert wait_until(lambda: feed.finished)
    finally:
        feed.stop()


class _Publisher:
    def __init__(self, endpoint):
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.bind(endpoint)

    def send(self, parts):
        self.pub.send_multipart(parts)

    def close(self):
        self.ctx.destroy(linger=0)


def test_a_stalled_feed_says_stale_and_bad_messages_are_counted(qtbot, tmp_path, run_file,
                                                                detector):
    from monitor.window import MonitorWindow

    snapshot_parts = FileFeed(run_file, follow=False)
    snapshot_parts.read_all()
    good = snapshot_parts.server.snapshot()
    endpoint = f"ipc://{tmp_path}/pub"
    pub = _Publisher(endpoint)
    feed = LiveFeed(endpoint, period_s=0.2).start()
    window = MonitorWindow(feed, detector, remember=False, sound=AlarmSound(lambda: None))
    qtbot.addWidget(window)
    try:
        window.redraw()
        assert window.header.stale and "no data from the DAQ yet" in window.header.text()
        assert wait_until(lambda: (pub.send([bytes(p) for p in good]), feed.latest)[1] is not None,
                          10)
        window.redraw()
        assert not window.header.stale and "STALE" not in window.header.text()
        pub.send([b"snapshot", b'{"protocol": "na64daq-monitor/0", "seq": 1, "arrays": []}'])
        pub.send([b"garbage"])
        assert wait_until(lambda: feed.bad_messages >= 2, 10)
        assert wait_until(feed.stale, 10)  # more than 3 periods without a snapshot
        window.redraw()
        assert window.header.stale and "STALE: no data from the DAQ since" in window.header.text()
        assert "bad messages" in window.feed_status.text()
        assert "message parts" in window.feed_status.text()  # the last one's reason
    finally:
        feed.stop()
        pub.close()


def test_the_file_mode_never_shows_the_box(run_file):
    """The file holds the box's events with their energies (the writer's copy); the monitor's
    snapshot of it holds none of them."""
    from daq.run_file.reader import RunReader

    with RunReader(run_file) as r:
        reco = r.column("reco/events")
        events = r.column("events")
    box = reco["event_class"] == er.SIGNAL_BOX
    assert box.sum() > 10
    feed = FileFeed(run_file, follow=False)
    feed.read_all()
    snap = proto.decode([bytes(p) for p in feed.server.snapshot()])
    for scope in ("run", "spill", "window"):
        assert snap.hist("classes", scope)[er.SIGNAL_BOX] == 0
        assert snap.hist("energy_plane", scope)[:50, :1].sum() == 0
    assert snap.hist("triggers").sum() == (~box).sum()
    box_events = set(zip(events["spill"][box].tolist(), events["event"][box].tolist(),
                         strict=True))
    w = snap.header["waveforms"]
    shown = {(int(s), int(e)) for s, e in zip(w["spill"], w["event"], strict=True)
             if s is not None}
    assert shown and not shown & box_events


def test_the_logbook_form_writes_the_entry_with_the_run_filled_in(qtbot, run_file, tmp_path,
                                                                  monkeypatch):
    from PyQt5 import QtWidgets

    from calib.conditions import ConditionsWriter
    from daq.core.run_database import RunDatabase
    from monitor.run_control_client import NoteWriter
    from monitor.window import MonitorWindow

    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "c.db"))
    feed = FileFeed(run_file).start()
    assert wait_until(lambda: feed.finished)
    window = MonitorWindow(feed, feed.detector, remember=False,
                           notes=NoteWriter(feed.detector))
    qtbot.addWidget(window)
    logbook = window.panel("Logbook")
    window.tabs.setCurrentWidget(logbook)
    window.redraw()
    assert logbook.note_run.value() == 7  # the file's run
    logbook.note_text.setText("ECAL 2-3 noisy since spill 40")
    logbook.note_kind.setCurrentText("problem")
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        lambda *a, **k: QtWidgets.QMessageBox.Yes)
    logbook._add()
    assert wait_until(lambda: "added" in logbook.last_answer, 10), logbook.last_answer
    db = RunDatabase(tmp_path / "c.db")
    (entry,) = ConditionsWriter(db, feed.detector).entries()
    db.close()
    assert entry["text"] == "[problem] ECAL 2-3 noisy since spill 40" and entry["run"] == 7
    assert wait_until(lambda: (window.redraw(), logbook.entries.rowCount())[1] == 1, 10)
    feed.stop()


def test_the_logbook_shows_the_hv_in_force_as_cells(
        qtbot, run_file, tmp_path, monkeypatch, detector):
    from calib.conditions import ConditionsWriter
    from daq.core.run_database import RunDatabase
    from monitor.window import MonitorWindow

    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "c.db"))
    hcal = [c.name for c in detector.channels if c.detector == "HCAL"]
    db = RunDatabase(tmp_path / "c.db")
    cond = ConditionsWriter(db, detector)
    cond.write("hv_v", {name: 900.0 + k for k, name in enumerate(hcal)}, first_run=1,
               author="t", comment="test HVs")
    cond.write("reference_adc", {c.name: 500.0 for c in detector.channels
                                 if c.detector in ("ECAL", "HCAL")}, first_run=1, author="t")
    db.close()
    feed = FileFeed(run_file).start()
    assert wait_until(lambda: feed.finished)
    window = MonitorWindow(feed, feed.detector, remember=False)
    qtbot.addWidget(window)
    logbook = window.panel("Logbook")
    logbook.prepare(feed.latest)
    logbook.draw(feed.latest)
    volts = logbook.hv_maps[2].values  # HCAL module 1's map holds every channel's HV
    assert volts[detector.index(hcal[0])] == 900.0 and volts[detector.index(hcal[5])] == 905.0
    assert np.isnan(volts[detector.ecal_main[0]])  # none in force for ECAL
    assert feed.latest.header["reference"]["led_reference_adc"][detector.ecal_main[0]] == 500.0
    feed.stop()


def test_one_click_saves_a_png_of_the_panel_or_of_all_beside_the_run_file(qtbot, file_window):
    from PyQt5 import QtGui, QtWidgets

    w = file_window
    w.show()
    qtbot.waitExposed(w)
    buttons = {b.text(): b for b in w.findChildren(QtWidgets.QPushButton)}
    before = set(w.feed.path.parent.glob("*.png"))
    panel = w.tabs.currentWidget()
    panel_size = (panel.width(), panel.height())  # as it is shown
    qtbot.mouseClick(buttons["Save PNG of this panel"], QtCore.Qt.LeftButton)
    qtbot.mouseClick(buttons["Save PNG of all panels"], QtCore.Qt.LeftButton)
    made = sorted(set(w.feed.path.parent.glob("*.png")) - before)
    assert [p.name.split(".")[2] for p in made] == ["all", "overview"]
    sizes = {p.name.split(".")[2]: QtGui.QImage(str(p)).size() for p in made}
    assert (sizes["all"].width(), sizes["all"].height()) == (2 * 1280, 6 * 800)  # 11 panels
    assert (sizes["overview"].width(), sizes["overview"].height()) == panel_size
    message = w.saved_text.text()  # it names the file, and stays
    assert message.startswith("saved run_000007.monitor.all.") and str(w.feed.path.parent) in \
        message
    for _ in range(3):
        w.redraw()
    assert w.saved_text.text() == message


def test_the_window_says_when_the_alarm_source_is_silent_or_failing(file_window):
    """The alarms' own heartbeat: checks that stopped running (or never ran, or fail) are
    shown on every tab, in place of the alarms they can no longer vouch for (a file feed:
    said in the banner; a live feed raises the window's own alarm, test_window_crew)."""
    import copy

    from monitor.snapshot import Snapshot

    w = file_window
    live = w.feed.latest
    assert live.header["alarms"]["evaluated_unix_s"] is not None

    def drawn(header):
        snap = Snapshot(header, live.arrays)
        w._draw_banner([], snap, w._trouble(snap, snap, False, 0.0))
        return w.banner.text()

    assert drawn(live.header).startswith("No alarm raised")  # a clean file
    old = copy.deepcopy(live.header)
    old["alarms"]["evaluated_unix_s"] = old["time_unix_s"] - 10.0
    assert drawn(old).startswith("ALARMS SILENT: the checks last ran 10 s")
    none = {k: v for k, v in live.header.items() if k != "alarms"}
    assert drawn(none).startswith("ALARMS SILENT: this feed carries no alarm state")
    failing = copy.deepcopy(live.header)
    failing["alarms"]["errors"] = {"gain drift": "ZeroDivisionError: bug"}
    assert drawn(failing) == "ALARMS FAILING: check 'gain drift': ZeroDivisionError: bug"


def test_a_viewers_window_has_its_acting_buttons_disabled_with_the_reason(qtbot, tmp_path,
                                                                           detector):
    """A monitor opened with a viewer's key (``docs/security.md``): start, stop, shelve,
    unshelve and the logbook's entry are disabled, each saying why; an operator's are not.
    The window's own alarm is still acknowledged there (only the DAQ's alarms need a role)."""
    from daq.core.link_security import Keyring, new_key
    from monitor.window import ControlButtons, MonitorWindow, NoteWriter

    keys = tmp_path / "keys"
    for name, role in (("daq", "daq"), ("op", "operator"), ("watcher", "viewer")):
        new_key(keys, name, role)
    ring = Keyring.load(keys)
    feed = LiveFeed(f"ipc://{tmp_path}/none", curve_keys=(ring, "watcher", "daq"))
    why = ("this monitor's key 'watcher' is a viewer's: only an operator may start and stop "
           "runs, write the logbook and acknowledge or shelve the DAQ's alarms")
    windows = {}
    for name in ("watcher", "op"):
        curve_keys = (ring, name, "daq")
        w = MonitorWindow(feed, detector, ControlButtons(f"ipc://{tmp_path}/c", curve_keys),
                          remember=False, notes=NoteWriter(detector, None, curve_keys),
                          sound=AlarmSound(lambda: None))
        qtbot.addWidget(w)
        logbook = w.panel("Logbook")
        add = next(b for b in logbook.findChildren(type(w.daq_panel.start))
                   if b.text() == "Add entry...")
        windows[name] = (w, add)
    w, add = windows["watcher"]
    for button in (w.daq_panel.start, w.daq_panel.stop, w.alarms.buttons["Shelve"],
                   w.alarms.buttons["Unshelve"], add):
        assert not button.isEnabled() and button.toolTip() == why, button.text()
    assert w.daq_panel.answer.text() == why and w.alarms.answer.text() == why
    assert w.alarms.buttons["Acknowledge"].isEnabled()  # the window's own alarm
    assert w.alarms.buttons["Acknowledge"].toolTip() == "only the window's own alarm: " + why
    w, add = windows["op"]
    for button in (w.daq_panel.start, w.daq_panel.stop, w.alarms.buttons["Shelve"],
                   w.alarms.buttons["Unshelve"], add):
        assert button.isEnabled() and not button.toolTip(), button.text()
