"""The monitor on a running DAQ, all real processes: a window frozen (SIGSTOP) or killed
leaves the DAQ and other viewers untouched; the run's histograms are saved beside its run file,
readable with plain h5py, with a PNG of every panel."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
from conftest import wait_until

from daq.core import records as er
from daq.run_file.reader import RunReader
from monitor.feeds import LiveFeed


def test_a_frozen_then_killed_window_leaves_the_daq_and_other_viewers_alone(daq, tmp_path):
    sup = daq(**{"emulator.run.spills": 4, "emulator.spill.duration_s": 1.0,
                 "tap.end_of_run_png": True, "emulator.classes.signal_probability": 5e-4,
                 "reco.classes.signal_hcal_max_gev": 1.5})  # the run's own box, not the default
    sup.configure()
    endpoint = sup.cfg.endpoints.tap_publish
    window = subprocess.Popen([sys.executable, "-m", "daq.app.cli", "monitor", "--connect",
                               endpoint], env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    viewer = LiveFeed(endpoint, period_s=0.5).start()
    try:
        sup.start()
        seqs = []
        frozen = killed = False
        deadline = time.monotonic() + 120
        # the tap publishes on after the run: freeze and kill do not race the run's end
        while (sup.state == "running" or not killed) and time.monotonic() < deadline:
            sup.poll(0.05)
            snap = viewer.latest
            if snap is not None and snap.header.get("run") == sup.run:
                seqs.append(snap.seq)
                if not frozen and snap.header["counters"]["taken"] > 0:
                    window.send_signal(signal.SIGSTOP)  # a window stuck in a redraw
                    frozen, frozen_at = True, snap.seq
                elif frozen and not killed and snap.seq >= frozen_at + 4:
                    window.kill()
                    killed = True
        assert frozen and killed, "no snapshots with data: the window was never frozen"
        assert sup.outcome == "stopped" and sup.ledger["balanced"], (sup.error, sup.ledger)
        assert sup.ledger["written_complete"] == sup.ledger["triggered"]
        assert sup.ledger["stages"]["restarted"].get("tap", 0) == 0
        assert viewer.bad_messages == 0 and max(seqs) >= frozen_at + 4  # others kept seeing
        # the run's histograms beside its run file, for plain h5py, units in attributes
        saved = tmp_path / "runs" / f"run_{sup.run:06d}.monitor.h5"
        assert sup.procs["tap"].counters["saved"] == str(saved.resolve())
        with h5py.File(saved, "r") as f:
            assert f.attrs["run"] == sup.run and f.attrs["blinded"]
            plane = f["run/energy_plane"]
            axes = json.loads(plane.attrs["axes"])
            assert [a["unit"] for a in axes] == ["GeV", "GeV"]
            assert plane[()].sum() > 0
            taken = f["run/triggers"][()].sum()
            saved_box = f["run/classes"][()][er.SIGNAL_BOX], plane[()][:50, :1].sum()
        assert 0 < taken <= sup.ledger["written_complete"]
        with RunReader(sup.procs["writer"].counters["file"]) as run:  # the writer's copy
            assert (run.column("reco/events", "event_class") == er.SIGNAL_BOX).sum() > 10
            recorded = run.provenance_json("reco_config")
        # the run's [reco] is recorded with it and carried to every viewer for its panels
        assert recorded["classes"]["signal_hcal_max_gev"] == 1.5
        assert viewer.latest.reco_config.classes.signal_hcal_max_gev == 1.5
        assert saved_box == (0, 0)  # the saved histograms hold none of them
        png = saved.with_suffix(".png")
        assert wait_until(lambda: png.exists() and png.stat().st_size > 10_000, 90), \
            (tmp_path / "runs" / "logs" / f"monitor-png-run{sup.run}.log").read_text()
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        viewer.stop()
        if window.poll() is None:
            window.kill()
        window.wait(10)


def test_the_window_reconnects_when_the_daq_comes_back(daq):
    """The tap goes away (killed): the viewer goes stale; the supervisor restarts it on the
    same endpoint, and the viewer has snapshots again without doing anything."""
    sup = daq(**{"emulator.run.spills": 6, "emulator.spill.duration_s": 1.0})
    sup.configure()
    viewer = LiveFeed(sup.cfg.endpoints.tap_publish, period_s=0.5).start()
    try:
        sup.start()
        assert wait_until(lambda: (sup.poll(0.05), viewer.latest)[1] is not None, 60)
        old = sup.procs["tap"].popen.pid
        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: (sup.poll(0.05), viewer.stale())[1], 30)
        assert wait_until(lambda: (sup.poll(0.05), not viewer.stale() and
                              sup.procs.get("tap") is not None and
                              sup.procs["tap"].popen.pid != old)[1], 60)
        assert wait_until(lambda: (sup.poll(0.05), sup.state != "running")[1], 120)
        assert sup.ledger["balanced"]
        assert viewer.latest.header["run"] == sup.run  # the new tap's own view of the run
    finally:
        viewer.stop()


def _polling(sup, predicate, timeout_s=60.0):
    """wait_until, with the supervisor polled meanwhile (it runs in this process)."""
    return wait_until(lambda: (sup.poll(0.02) if sup.state != "idle" else None,
                               predicate())[1], timeout_s)


def test_the_window_shows_the_run_and_never_shows_a_dead_daq_as_live(daq, qtbot, monkeypatch,
                                                                     heard):
    """A beam-paced run with an emulated fault, watched by the window: the run-control
    header, the confirmations naming the run and the fault, the shift summary; then the DAQ
    dies under it and every tab says so, ages keep counting, the window raises its own
    alarm and sounds, and no control is covered."""
    from PyQt5 import QtCore, QtWidgets

    from monitor.run_control_client import ControlButtons
    from monitor.window import MonitorWindow

    sup = daq(**{"emulator.run.spills": 3, "emulator.spill.duration_s": 4.8,
                 "emulator.spill.time_compressed": False, "emulator.spill.pace": 4.0,
                 "emulator.faults.at_spill": 3, "emulator.faults.dead_channel": "ECAL1:2:3"})
    monkeypatch.setenv("NA64DAQ_DB", str(sup.db.path))  # the window reads the run database
    sup.configure()
    feed = LiveFeed(sup.cfg.endpoints.tap_publish, period_s=0.5).start()
    w = MonitorWindow(feed, sup.detector, ControlButtons(sup.cfg.endpoints.control),
                      remember=False, sound=heard)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    try:
        daq_tab = w.panel("DAQ")
        assert _polling(sup, lambda: ((feed.latest.header.get("daq") or {}).get("state")
                                      == "configured") if feed.latest else False)
        daq_tab.draw(feed.latest)
        ask = daq_tab.confirmation("start")
        assert ask.startswith(f"Start run {sup.db.next_run()}?")
        assert "EMULATED" in ask and "dead channel ECAL1:2:3 from spill 3" in ask
        run = sup.start()
        assert _polling(sup, lambda: (feed.latest.header.get("run") == run and (
            feed.latest.header.get("daq") or {}).get("rate_hz") and
            (feed.latest.header.get("exposure") or {}).get("eot")), 90)
        w.redraw()
        head = w.header.text()
        for part in (f"Run {run}", "RUNNING", "started 20", "elapsed 0:00:", "spill 1",
                     "events/s written", "EOT ", "GB free", "data ", "EMULATED",
                     "dead channel ECAL1:2:3 from spill 3"):
            assert part in head, (part, head)
        daq_tab.draw(feed.latest)
        assert daq_tab.confirmation("stop").startswith(f"Stop run {run} (running since ")
        assert _polling(sup, lambda: sup.state != "running", 120)
        assert sup.outcome == "stopped" and sup.ledger["balanced"]
        record = json.loads(sup.cfg.run_record_path(run).read_text())
        assert record["state"] == "stopped" and record["summary"]["stop_reason"] == \
            "end of spills"  # the record's file no longer says running
        shift = w.panel("Shift")
        shift.prepare(feed.latest)
        shift.draw(feed.latest)
        assert shift.runs.item(0, 0).text() == str(run)
        assert shift.runs.item(0, 4).text() == "end of spills"
        assert "1 run" in shift.totals.text()

        sup.close()  # the DAQ is gone: every process killed, nothing publishes
        assert wait_until(feed.stale, 30)
        for k in range(w.tabs.count()):
            w.tabs.setCurrentIndex(k)
            w.redraw()
            assert w.header.stale and "STALE: no data from the DAQ since" in w.header.text()
            assert w.overlay.isVisible() and w.overlay.parent() is w.tabs.currentWidget()
        w.tabs.setCurrentWidget(daq_tab)
        w.redraw()
        assert daq_tab.stale_note.isVisible()
        assert daq_tab.stale_note.text().startswith("No data from the DAQ since")
        states = {daq_tab.processes.item(i, 1).text()
                  for i in range(daq_tab.processes.rowCount())}
        assert states and all(s.startswith("unknown (last heard") for s in states), states
        age = float(daq_tab.processes.item(0, 2).text())
        assert wait_until(lambda: (w.redraw(), float(daq_tab.processes.item(0, 2).text()))[1]
                          >= age + 1.0, 10)  # ages keep counting
        w.tabs.setCurrentWidget(w.alarms)
        w.redraw()
        assert w.alarms.source.text().startswith("No data from the DAQ since")
        assert w.alarms.rows[0]["name"] == "alarm source silent"
        assert w.alarms.rows[0]["state"] == "active"
        assert w.banner.text().startswith("MAJOR: alarm source silent")
        assert {"alarm source silent", "STALE"} <= {x for _t, why in heard.played
                                                    for x in why.split(", ")}
        # nothing covers a control: the header is above the tabs, the hatching lets clicks
        # through to the Start button, and the tab bar answers
        central = w.centralWidget()
        assert w.header.geometry().bottom() < w.banner.geometry().top() < \
            w.tabs.geometry().top()
        qtbot.waitUntil(lambda: w.header.height() >= w.header.heightForWidth(
            w.header.width()), timeout=5000)  # all of its text, once the layout has run
        w.tabs.setCurrentWidget(daq_tab)
        w.redraw()
        start = daq_tab.start
        at = start.mapTo(central, start.rect().center())
        assert central.childAt(at) is start
        bar = w.tabs.tabBar()
        logbook = [p.title for p in w.panels].index("Logbook")
        qtbot.mouseClick(bar, QtCore.Qt.LeftButton, pos=bar.tabRect(logbook).center())
        assert w.tabs.currentIndex() == logbook
        assert isinstance(central.childAt(w.toolbar_buttons["Reset"].mapTo(
            central, QtCore.QPoint(5, 5))), QtWidgets.QPushButton)
    finally:
        feed.stop()
