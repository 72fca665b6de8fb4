"""The window as a shift crew meets it (issue 22): alarms it can act on (the selection and
the guidance follow a re-sorted check, the table shows the worst, acknowledged alarms dimmed,
the banner in its place), one truth per quantity (the open spill drawn as open, Reset never
touching the ledger), and labels a tired person reads at 2 m. Offscreen, on a real run file
or on snapshots of the real histogram server; the live DAQ's part is
test_monitor_with_daq.py."""

import copy
import re

import numpy as np
import pytest
from conftest import wait_until
from PyQt5 import QtCore, QtWidgets

from monitor.alarm_handler import AlarmHandler
from monitor.panels.alarms import AlarmsPanel
from monitor.run_control_client import AlarmCommands
from monitor.snapshot import Snapshot
from monitor.window_alarm import SilentSourceAlarm

DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _with_alarms(snap: Snapshot, **states) -> Snapshot:
    """``snap`` with its alarms set: name=(latched, state, acknowledged_by)."""
    header = copy.deepcopy(snap.header)
    for a in header["alarms"]["alarms"]:
        latched, state, by = states.get(a["name"], ("ok", "ok", None))
        a.update(latched=latched, state=state, severity=latched, acknowledged_by=by,
                 text=f"{a['name']} fails" if latched != "ok" else "",
                 since_unix_s=1.7e9 if latched != "ok" else None)
    return Snapshot(header, snap.arrays)


@pytest.fixture
def alarms_panel(qtbot, detector):
    panel = AlarmsPanel(AlarmCommands(handler=AlarmHandler(detector)), SilentSourceAlarm())
    qtbot.addWidget(panel)
    panel.resize(1200, 420)
    panel.show()
    return panel


def test_the_selection_and_guidance_follow_the_check_when_the_table_re_sorts(
        alarms_panel, file_window):
    p = alarms_panel
    snap = file_window.feed.latest
    p.draw(_with_alarms(snap, **{"dead channel": ("major", "active", None),
                                 "gain drift": ("minor", "active", None)}))
    assert p.current()["name"] == "dead channel"  # the worst, at once
    row = [a["name"] for a in p.rows].index("gain drift")
    p.table.selectRow(row)  # the crew picks gain drift
    assert p.guidance.toPlainText().startswith("gain drift (Calibration health)")
    # gain drift worsens, dead channel is acknowledged: the table re-sorts, nothing new rose
    p.draw(_with_alarms(snap, **{"dead channel": ("major", "acknowledged", "Tester A"),
                                 "gain drift": ("major", "active", None)}))
    assert [a["name"] for a in p.rows][:2] == ["gain drift", "dead channel"]
    assert p.current()["name"] == "gain drift"
    assert p.table.currentRow() == 0
    assert p.guidance.toPlainText().startswith("gain drift (Calibration health)")
    p.author.setText("Tester B")
    p.acknowledge()  # acts on gain drift, the file feed's handler answers about it
    assert "'gain drift'" in p.answer.text()
    # dead channel raised again, not acknowledged: its guidance no longer says it was
    p.select("dead channel")
    assert "Acknowledged by Tester A" in p.guidance.toPlainText()
    p.draw(_with_alarms(snap, **{"dead channel": ("major", "active", None),
                                 "gain drift": ("major", "active", None)}))
    p.select("dead channel")
    assert "Acknowledged" not in p.guidance.toPlainText()


def test_the_table_shows_the_worst_alarm_when_the_tab_opens_and_when_one_rises(
        alarms_panel, file_window):
    p = alarms_panel
    p.resize(1200, 260)  # a few rows visible
    snap = file_window.feed.latest
    p.draw(_with_alarms(snap, **{"gain drift": ("minor", "active", None)}))
    p.table.scrollToBottom()
    p.table.selectRow(len(p.rows) - 1)
    p.hide()
    p.show()  # the tab opens again
    item = p.table.item(0, 1)
    assert item.text() == "gain drift" and p.current()["name"] == "gain drift"
    assert p.table.visualItemRect(item).intersects(p.table.viewport().rect())
    p.table.scrollToBottom()
    p.draw(_with_alarms(snap, **{"gain drift": ("minor", "active", None),
                                 "rate drop": ("major", "active", None)}))  # one rises
    item = p.table.item(0, 1)
    assert item.text() == "rate drop" and p.current()["name"] == "rate drop"
    assert p.table.visualItemRect(item).intersects(p.table.viewport().rect())


def test_acknowledged_alarms_are_dimmed_and_the_banner_keeps_its_place(file_window, qtbot):
    w = file_window
    w.show()
    qtbot.waitExposed(w)
    snap = w.feed.latest
    w.redraw()
    place = w.banner.geometry()
    assert w.banner.isVisible() and w.banner.text().startswith("No alarm raised")
    tabs = w.tabs.geometry()
    raised = _with_alarms(snap, **{"dead channel": ("major", "active", None)})
    w._draw_banner(raised.header["alarms"]["alarms"], raised, None)
    assert w.banner.text().startswith("MAJOR: dead channel") and "#C00000" in \
        w.banner.styleSheet()
    assert w.banner.geometry() == place and w.tabs.geometry() == tabs  # nothing moves
    acked = _with_alarms(snap, **{"dead channel": ("major", "acknowledged", "A")})
    w._draw_banner(acked.header["alarms"]["alarms"], acked, None)
    assert "#D9D9D9" in w.banner.styleSheet() and "0 unacknowledged" in w.banner.text()
    w.alarms.draw(acked)
    row = [a["name"] for a in w.alarms.rows].index("dead channel")
    item = w.alarms.table.item(row, 0)
    assert item.foreground().color().name() == "#7a7a7a" and item.font().italic()
    assert DATE.match(w.alarms.table.item(row, 3).text())  # with the date: nights cross 0 h


def test_reset_never_touches_the_ledger_and_says_since_when(file_window):
    w = file_window
    daq = w.panel("DAQ")
    w.tabs.setCurrentWidget(daq)
    w.redraw()
    rows = daq.ledger.rowCount()
    assert rows == 4  # three spills and the run
    w.reset()
    w.tabs.setCurrentWidget(w.panel("Overview"))
    w.redraw()
    w.tabs.setCurrentWidget(daq)
    w.redraw()
    assert daq.ledger.rowCount() == rows
    assert re.search(r"histograms since Reset \d\d:\d\d:\d\d", w.header.text())
    assert "since Reset" in w.panel("Overview").plane_plot.titleLabel.text
    assert w.shown().hist("energy_plane").sum() == 0  # counted from the Reset
    w.undo_reset()
    w.redraw()
    assert "since Reset" not in w.header.text() and w.shown().hist("energy_plane").sum() > 0


def test_only_closed_spills_are_drawn_as_spills(tmp_path, write_run, qtbot, heard):
    """A run still being written: its last spill is open, drawn as one hollow marker, never
    joined to the closed ones (an open spill's EOT 'dropped' for most of every spill)."""
    from monitor.feeds import FileFeed
    from monitor.panels.overview import OverviewPanel

    write_run(tmp_path, close=False)
    feed = FileFeed(tmp_path / "run_000007.h5", follow=False)
    feed.read_all()
    snap = feed.latest
    assert [r["live"] for r in snap.header["spills"]] == [False, False, True]
    overview = OverviewPanel()
    qtbot.addWidget(overview)
    overview.draw(snap)
    x, _ = overview.eot_strip.closed.getData()
    assert list(x) == [1.0, 2.0]
    assert [p.pos().x() for p in overview.eot_strip.open.points()] == [3.0]


def test_the_logbook_shows_dates_its_form_follows_the_run_and_clears(file_window, tmp_path,
                                                                     monkeypatch, qtbot):
    from daq.conditions import Conditions
    from daq.core.run_database import RunDatabase
    from monitor.panels.logbook import LogbookPanel
    from monitor.run_control_client import NoteWriter

    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "c.db"))
    db = RunDatabase(tmp_path / "c.db")
    Conditions(db, file_window.detector).add_note("beam tuned", "shift", "A", 7)
    db.close()
    logbook = LogbookPanel(file_window.detector, NoteWriter(file_window.detector))
    qtbot.addWidget(logbook)
    snap = file_window.feed.latest
    logbook.prepare(snap)
    logbook.draw(snap)
    assert DATE.match(logbook.entries.item(0, 1).text()), logbook.entries.item(0, 1).text()
    assert logbook.note_run.value() == 7
    later = Snapshot(dict(snap.header, run=8), snap.arrays)
    logbook.draw(later)
    assert logbook.note_run.value() == 8  # the form follows the run
    assert [logbook.note_kind.itemText(k) for k in range(logbook.note_kind.count())] == \
        ["shift", "hv", "calibration", "problem", "other"]  # alarm and run: the DAQ's
    logbook.note_text.setText("spill 3: beam lost for 2 s")
    monkeypatch.setattr(QtWidgets.QMessageBox, "question",
                        lambda *a, **k: QtWidgets.QMessageBox.Yes)
    logbook._add()
    assert wait_until(lambda: "added" in logbook.last_answer, 10), logbook.last_answer
    assert logbook.note_text.text() == ""


def test_a_blinded_bin_opens_nothing_and_says_so(file_window):
    w = file_window
    assert w.open_bin(10, 0) is None  # E_ECAL 10-11 GeV, E_HCAL 0-1 GeV: the box
    assert "blinded signal box" in w.saved_text.text()


def test_a_waveform_can_be_held(file_window):
    panel = file_window.waveforms
    snap = file_window.feed.latest
    panel.draw(snap)
    shown = panel.info.text()
    assert "spill" in shown
    other = copy.deepcopy(snap.header)
    c = panel.choice.currentData()
    other["waveforms"]["event"][c] = 99999.0
    panel.hold.setChecked(True)
    panel.draw(Snapshot(other, snap.arrays))
    assert panel.info.text() == shown
    panel.hold.setChecked(False)
    panel.draw(Snapshot(other, snap.arrays))
    assert "event 99999" in panel.info.text()


def test_labels_are_words_not_identifiers(file_window):
    w = file_window
    daq = w.panel("DAQ")
    daq.draw(w.feed.latest)
    headers = [daq.processes.horizontalHeaderItem(k).text()
               for k in range(daq.processes.columnCount())]
    headers += [daq.ledger.horizontalHeaderItem(k).text()
                for k in range(daq.ledger.columnCount())]
    assert not [h for h in headers if "_" in h], headers
    cells = [daq.ledger.item(i, j).text() for i in range(daq.ledger.rowCount())
             for j in range(daq.ledger.columnCount())]
    assert "yes" in cells and "True" not in cells and "False" not in cells
    assert "{" not in daq.monitor_counters.text() and "taken" in daq.monitor_counters.text()
    assert "run None" not in w.header.text() and "spill None" not in w.header.text()


@pytest.mark.parametrize("box_ecal_gev", [50.0, 30.0])
def test_region_labels_sit_beside_their_own_outlines_where_the_run_put_them(qtbot,
                                                                           box_ecal_gev):
    from daq.core.config_schema import load
    from daq.reco.reco_config import RecoConfig
    from monitor.panels.overview import OverviewPanel, place_regions

    c = load(RecoConfig, None, {"classes.signal_ecal_max_gev": box_ecal_gev}).classes
    overview = OverviewPanel()
    qtbot.addWidget(overview)
    place_regions(overview.plane_plot, c)
    box = overview.plane_plot.signal_box.rect()
    assert box.width() == box_ecal_gev and box.height() == c.signal_hcal_max_gev
    label = overview.plane_plot.signal_box_label.pos()
    assert box.left() <= label.x() <= box.right() and label.y() < box.top()  # under it
    texts = {t.toPlainText(): t.pos() for t in overview.plane_plot.items
             if hasattr(t, "toPlainText")}
    dimuons = texts["I: dimuons"]
    assert dimuons.x() > c.beam_energy_gev + c.region2_tolerance_gev  # right of I and II
    assert 2 * c.mip_min_gev < dimuons.y() < 2 * c.mip_max_gev


def test_the_sound_plays_for_each_new_unacknowledged_major_alarm_and_can_be_silenced():
    from monitor.alarm_sound import REPEAT_S, AlarmSound

    played = []
    sound = AlarmSound(lambda: played.append(1))
    assert not sound.update(set(), 0.0)
    assert sound.update({"dead channel"}, 1.0) and len(played) == 1
    assert not sound.update({"dead channel"}, 2.0)  # the same: once
    assert sound.update({"dead channel", "STALE"}, 3.0)  # a new one
    assert sound.update({"dead channel"}, 3.0 + REPEAT_S)  # still there: again
    sound.silence(200.0)
    assert not sound.update({"dead channel", "rate drop"}, 201.0)
    assert sound.silenced(201.0) and not sound.silenced(200.0 + 15 * 60 + 1)
    assert sound.update({"dead channel", "rate drop", "beam off"}, 200.0 + 15 * 60 + 1)
    assert [why for _t, why in sound.played] == ["dead channel", "STALE", "dead channel",
                                                 "beam off"]


def test_the_window_s_own_alarm_latches_until_acknowledged():
    a = SilentSourceAlarm()
    assert a.state == "ok" and a.update("no data from the DAQ since 01:02:03", 10.0)
    assert a.state == "active" and a.as_dict()["latched"] == "major"
    assert a.update(None, 11.0) is False and a.state == "cleared, unacknowledged"
    assert a.acknowledge("A").endswith("(in this window)") and a.state == "ok"
    a.update("x", 12.0)
    a.acknowledge("B")
    assert a.state == "acknowledged"
    a.update(None, 13.0)
    assert a.state == "ok"


def test_ratio_maps_are_centred_on_one_and_show_no_value_as_none(qtbot, detector, file_window):
    """Divided by a reference run, a cell with nothing in either is no value (not 0), and
    the colours diverge from 1."""
    from monitor.panels.detector_maps import RATIO_COLOUR_MAP, DetectorMapsPanel
    from monitor.panels.reference import ReferenceSource

    snap = file_window.feed.latest
    source = ReferenceSource(detector, str(file_window.feed.path))
    source.want(7, wait=True)
    assert source.snapshot is not None, source.error
    maps = DetectorMapsPanel(detector, source)
    qtbot.addWidget(maps)
    maps.ratio.setChecked(True)
    maps.draw(snap)
    values = maps.maps[0].values
    empty = np.flatnonzero(snap.hist("channel_hits") == 0)
    assert len(empty) and np.isnan(values[empty]).all()
    lo, hi = maps.bar.levels()
    assert lo + hi == pytest.approx(2.0)  # centred on 1
    assert maps.bar.colorMap().name == RATIO_COLOUR_MAP
    qtbot.mouseClick(maps.ratio, QtCore.Qt.LeftButton)


def test_the_panels_draw_what_the_checks_compared(run_file, detector, qtbot):
    """The run's spills checked against a reference (the run itself, as a saved reference
    would be): the Physics-rates and Calibration-health panels draw exactly the baselines,
    limits and per-channel ratios the checks recorded, and nothing where they did not test."""
    from monitor.feeds import FileFeed
    from monitor.panels.calibration_health import CalibrationHealthPanel
    from monitor.panels.physics_rates import PhysicsRatesPanel
    from monitor.quantities import check_series
    from monitor.reference import baseline_of

    reference = FileFeed(run_file, follow=False)
    reference.read_all()
    base = baseline_of(reference.latest, detector, "reference run 7")
    feed = FileFeed(run_file, follow=False)
    feed.server.baseline_for = lambda run: base
    feed.read_all()
    snap = feed.latest
    rates, calibration = PhysicsRatesPanel(), CalibrationHealthPanel()
    for p in (rates, calibration):
        qtbot.addWidget(p)
        p.draw(snap)
    c = check_series(snap, "rate drop")
    tested = np.isfinite(c["limit"])
    assert tested.sum() == 3  # every spill, against the reference
    x, y = rates.beam.limits[0].getData()
    assert list(x) == [1.0, 2.0, 3.0] and np.allclose(y, c["limit"][tested])
    x, y = rates.beam.baseline.getData()
    assert np.allclose(y, c["baseline"][tested])
    assert "vs the reference run 7" in rates.beam.w.getPlotItem().titleLabel.text
    side = check_series(snap, "SRD accidentals")
    x, y = rates.sideband.limits[0].getData()
    assert len(x) == 3 and np.allclose(y, side["limit"])
    # the LED pulses were too few here (4 a spill): the panel says so and draws none
    assert "gain drift" not in snap.header["alarms"]["channels"]
    drawn, _ = calibration.led_points.points.getData()
    assert drawn is None or len(drawn) == 0
    assert "not tested yet" in calibration.led.getPlotItem().titleLabel.text
