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

from daq.reco import event_record as er
from daq.run_file.reader import RunReader
from monitor.feeds import LiveFeed


def test_a_frozen_then_killed_window_leaves_the_daq_and_other_viewers_alone(daq, tmp_path):
    sup = daq(**{"emulator.run.spills": 4, "emulator.spill.duration_s": 1.0,
                 "tap.end_of_run_png": True, "emulator.classes.signal_probability": 5e-4})
    sup.configure()
    endpoint = sup.cfg.endpoints.tap_publish
    window = subprocess.Popen([sys.executable, "-m", "daq.cli", "monitor", "--connect",
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
        while sup.state == "running":
            sup.poll(0.05)
        assert sup.ledger["balanced"]
        assert viewer.latest.header["run"] == sup.run  # the new tap's own view of the run
    finally:
        viewer.stop()
