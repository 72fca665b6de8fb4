"""A crew trial of the monitor (issue 22): beam-paced runs watched by the real window on an X
display, every tab and control used through Qt's own mouse and key events, a DAQ restarted
with emulated faults in between (and the window left looking at a dead DAQ meanwhile), and a
screenshot of every tab grabbed from the screen. Run it under Xvfb:

    xvfb-run -s "-screen 0 1920x1080x24" python bench/crew_trial.py [--minutes 30] \\
        [--pace 1] [--out /tmp/crew-trial] [--json]

Phases: DAQ A (clean) takes runs; it is shut down and the window stays on the dead DAQ for a
while (STALE, its own alarm, the sound); DAQ B (faults from a spill of its run) takes one run,
whose alarms the crew acknowledges and shelves; DAQ C (clean) takes the rest, against an
automatic reference that must skip the faulty run. Measured: the first data on screen after
each Start, the window's CPU and memory, the alarms' delays (spills and seconds from the
faulty spill on screen to the alarm on screen), the time to STALE after the DAQ died.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from daq.app.bench.machine import description as machine
from daq.processes.daq_config import ipc_endpoints

FAULT = {"emulator.faults.at_spill": 4, "emulator.faults.dead_channel": "ECAL1:2:3",
         "emulator.faults.pedestal_channel": "ECAL0:1:1",
         "emulator.faults.pedestal_jump_adc": 5.0}
EXPECTED = ("dead channel", "pedestal jump")


def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Trial:
    def __init__(self, args):
        from PyQt5 import QtWidgets

        from daq.core.detector import Detector
        from monitor.feeds import LiveFeed
        from monitor.window import ControlButtons, MonitorWindow, NoteWriter

        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="na64daq-crew-"))
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        os.environ["NA64DAQ_DB"] = str(self.tmp / "runs.db")
        os.environ["XDG_CONFIG_HOME"] = str(self.tmp / "config")  # no remembered geometry
        self.endpoints = {k.removeprefix("endpoints."): v
                          for k, v in ipc_endpoints(self.tmp).items()}
        self.config = self.tmp / "daq.toml"
        self.config.write_text(
            "[endpoints]\n" + "".join(f'{k} = "{v}"\n' for k, v in self.endpoints.items())
            + f"[writer]\ndirectory = '{self.tmp / 'runs'}'\n"
            f"[emulator.spill]\ntime_compressed = false\npace = {args.pace}\n"
            f"[emulator.run]\nspills = {args.spills}\n")
        self.app = QtWidgets.QApplication(sys.argv[:1])
        self.detector = Detector.load()
        self.feed = LiveFeed(self.endpoints["tap_publish"]).start()
        self.window = MonitorWindow(self.feed, self.detector,
                                    ControlButtons(self.endpoints["control"]),
                                    notes=NoteWriter(self.detector), remember=False)
        self.window.resize(1920, 1050)
        self.window.show()
        self.daq: subprocess.Popen | None = None
        self.figures: dict = {"first_data_on_screen_s": [], "alarm_delays": [],
                              "rss_mb": [], "redraw_ms": {}, "screenshots": []}
        self.t0, self.cpu0 = time.monotonic(), cpu_s()
        self.shots_taken: set[str] = set()
        self.next_sample = 0.0
        self.watch: dict | None = None  # the run watched: when each spill, each alarm showed

    # -- the loop of a GUI: events, and the figures ---------------------------------------
    def spin(self, seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            self.observe()
            if until is not None and until():
                return True
            if time.monotonic() >= self.next_sample:
                self.next_sample = time.monotonic() + 10.0
                self.figures["rss_mb"].append((round(time.monotonic() - self.t0, 1),
                                               round(rss_mb(), 1)))
            time.sleep(0.02)
        return until is None

    def snap(self):
        return self.feed.latest

    def observe(self) -> None:
        """When each spill and each alarm of the watched run first reached the screen (the
        header and the banner are redrawn at every tick of the window's 5 Hz timer)."""
        s, w = self.snap(), self.watch
        if s is None or w is None or s.header.get("run") != w["run"]:
            return
        spill = s.header.get("spill")
        if spill is not None:
            w["spills"].setdefault(spill, time.monotonic())
        for a in (s.header.get("alarms") or {}).get("alarms", []):
            if a.get("state") == "active":
                w["alarms"].setdefault(a["name"], time.monotonic())

    def header(self, key, default=None):
        s = self.snap()
        return s.header.get(key, default) if s is not None else default

    # -- the DAQ ---------------------------------------------------------------------------
    def start_daq(self, sets: dict) -> None:
        argv = [sys.executable, "-m", "daq.app.cli", "run", "--config", str(self.config)]
        for k, v in sets.items():
            argv += ["--set", f"{k}={v}"]
        log = open(self.tmp / f"daq-{len(self.figures['rss_mb'])}.log", "ab")  # noqa: SIM115
        started = time.time()
        self.daq = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        # a snapshot of this DAQ's tap: the last ones of the DAQ before are fresh for 1.5 s
        ok = self.spin(120, lambda: (self.header("daq") or {}).get("state") == "configured"
                       and (self.header("time_unix_s") or 0) > started)
        assert ok, "the DAQ did not configure"

    def shutdown_daq(self) -> None:
        from daq.core.control_protocol import ask

        ask(self.endpoints["control"], "shutdown", 60.0)
        self.daq.wait(60)
        self.daq = None

    # -- the crew's hands ------------------------------------------------------------------
    def click(self, widget) -> None:
        from PyQt5 import QtCore
        from PyQt5.QtTest import QTest

        QTest.mouseClick(widget, QtCore.Qt.LeftButton)
        self.app.processEvents()

    def answer_yes(self) -> None:
        """The confirmation that the click opened: its text kept, Yes clicked."""
        from PyQt5 import QtWidgets

        box = next(w for w in self.app.topLevelWidgets()
                   if isinstance(w, QtWidgets.QMessageBox) and w.isVisible())
        self.figures.setdefault("confirmations", []).append(box.text())
        self.click(box.button(QtWidgets.QMessageBox.Yes))

    def press_and_confirm(self, button) -> None:
        from PyQt5 import QtCore

        QtCore.QTimer.singleShot(300, self.answer_yes)
        self.click(button)

    def tab(self, title: str) -> None:
        w = self.window
        k = [p.title for p in w.panels].index(title)
        bar = w.tabs.tabBar()
        from PyQt5 import QtCore
        from PyQt5.QtTest import QTest

        QTest.mouseClick(bar, QtCore.Qt.LeftButton, pos=bar.tabRect(k).center())
        self.spin(1.0)

    def screenshot(self, name: str) -> None:
        w = self.window
        path = self.out / f"{name}.png"
        self.app.primaryScreen().grabWindow(0).copy(w.frameGeometry()).save(str(path))
        self.figures["screenshots"].append(str(path))

    def tour(self, label: str) -> None:
        """Every tab, each for a few seconds, each control of it used once over the trial,
        a screenshot of each."""
        from PyQt5 import QtWidgets
        from PyQt5.QtTest import QTest

        w = self.window
        for p in w.panels:
            self.tab(p.title)
            t = p.title
            if t == "Detector maps" and "maps" not in self.shots_taken:
                self.click(p.ratio)  # divided by the reference run
                self.spin(3.0)
                self.screenshot(f"{label}-detector-maps-ratio")
                self.click(p.ratio)
            if t == "Waveforms" and "hold" not in self.shots_taken:
                self.click(p.hold)
                self.spin(2.0)
                self.click(p.hold)
            if t == "Logbook" and "note" not in self.shots_taken and hasattr(p, "note_text"):
                QTest.keyClicks(p.note_text, "crew trial: beam looks fine")
                QTest.keyClicks(p.note_author, "-trial")
                from PyQt5 import QtCore

                QtCore.QTimer.singleShot(300, self.answer_yes)
                self.click(next(b for b in p.findChildren(QtWidgets.QPushButton)
                                if b.text() == "Add entry..."))
                self.spin(2.0)
            if t == "Reach":
                p.target.setValue(0.3)
            if t == "Reference":
                self.spin(3.0)  # loaded in a thread
                self.figures.setdefault("reference", {})[label] = p.about.text()
            self.spin(2.0)
            self.screenshot(f"{label}-{t.lower().replace(' ', '-')}")
        self.shots_taken |= {"maps", "hold", "note"}
        self.click(w.toolbar_buttons["Reset"])
        self.spin(2.0)
        self.click(w.toolbar_buttons["Undo Reset"])
        self.click(w.toolbar_buttons["Save PNG of this panel"])

    # -- runs ------------------------------------------------------------------------------
    def take_run(self, label: str, stop_after_spill: int | None = None) -> dict:
        w = self.window
        self.tab("DAQ")
        before = self.header("daq", {}).get("next_run")
        t_click = time.monotonic()
        self.press_and_confirm(w.daq_panel.start)
        assert self.spin(60, lambda: self.header("run") == before), "the run did not start"

        def on_screen():
            s = self.snap()
            return (s is not None and s.header.get("run") == before and
                    s.header["counters"].get("taken", 0) > 0 and
                    w._drawn and w._drawn[0] == s.seq)
        self.tab("Overview")
        assert self.spin(300, on_screen), "no data on screen"
        self.figures["first_data_on_screen_s"].append(round(time.monotonic() - t_click, 2))
        self.watch = {"run": before, "spills": {}, "alarms": {}}
        toured = False
        while True:
            self.spin(0.5)
            spill = self.header("spill")
            if not toured and spill and spill >= 2:
                self.tour(label)
                toured = True
            state = (self.header("daq") or {}).get("state")
            if stop_after_spill is not None and spill and spill > stop_after_spill and \
                    state == "running":
                self.tab("DAQ")
                self.press_and_confirm(w.daq_panel.stop)  # mid-spill, as a crew does
                stop_after_spill = None
            if state in ("configured", "error") and self.header("run") == before:
                break
        self.spin(3.0)
        watched, self.watch = self.watch, None
        return {"run": before, "seen_spill": watched["spills"],
                "seen_alarm": watched["alarms"]}

    def alarms_by_hand(self, label: str) -> None:
        """The faulty run's alarms: acknowledge one, shelve the other, each signed."""
        from PyQt5.QtTest import QTest

        w = self.window
        self.tab("Alarms")
        p = w.alarms
        QTest.keyClicks(p.author, "Crew Trial")
        if w.source_alarm.state != "ok":  # the window's own, from the DAQ's restart
            p.select("alarm source silent")
            self.click(p.buttons["Acknowledge"])
        p.select("dead channel")
        self.click(p.buttons["Acknowledge"])
        self.spin(3.0)
        p.select("pedestal jump")
        QTest.keyClicks(p.reason, "known: pedestal run scheduled")
        p.minutes.setValue(30)
        self.click(p.buttons["Shelve"])
        self.spin(3.0)
        self.screenshot(f"{label}-alarms-handled")

    def raised_per_run(self) -> dict[str, dict[str, int]]:
        """From the logbook: how often each alarm was raised in each run."""
        from daq.core.run_database import RunDatabase

        db = RunDatabase()
        out: dict[str, dict[str, int]] = {}
        for run, text in db.db.execute("SELECT run, text FROM logbook WHERE text LIKE "
                                       "'[alarm] % raised %'").fetchall():
            name = text.removeprefix("[alarm] ").split(" raised ")[0]
            out.setdefault(str(run), {}).setdefault(name, 0)
            out[str(run)][name] += 1
        db.close()
        return out

    def run(self) -> dict:
        a = self.args
        runs = []
        self.start_daq({})
        for k in range(a.clean_runs):
            runs.append(self.take_run(f"run{k + 1}"))
        self.shutdown_daq()
        t_dead = time.monotonic()
        assert self.spin(30, self.feed.stale)
        self.spin(1.0)
        self.figures["stale_after_s"] = round(time.monotonic() - t_dead, 2)
        self.tab("DAQ")
        self.spin(4.0)
        self.screenshot("dead-daq-daq-tab")
        self.tab("Alarms")
        self.screenshot("dead-daq-alarms-tab")
        self.figures["sound_played"] = list(self.window.sound.played)
        self.click(self.window.toolbar_buttons["Silence sound 15 min"])
        self.start_daq(FAULT)
        faulty = self.take_run("faulty")
        runs.append(faulty)
        spill_s = faulty["seen_spill"]
        for name in EXPECTED:
            t = faulty["seen_alarm"].get(name)
            start = spill_s.get(FAULT["emulator.faults.at_spill"])
            after = [k for k, v in spill_s.items() if v <= t] if t else []
            self.figures["alarm_delays"].append({
                "alarm": name, "seconds_from_faulty_spill_on_screen": round(t - start, 1)
                if t and start else None,
                "spills": (max(after) - FAULT["emulator.faults.at_spill"] + 1) if after
                else None})
        self.alarms_by_hand("faulty")
        self.shutdown_daq()
        self.start_daq({})
        for k in range(a.clean_runs):
            runs.append(self.take_run(f"after{k + 1}",
                                      stop_after_spill=a.spills // 2 if k == 0 else None))
        self.tab("Reference")
        self.spin(5.0)
        self.figures["reference_text"] = self.window.reference.about.text()
        self.tab("Shift")
        self.spin(3.0)
        self.screenshot("shift")
        self.shutdown_daq()
        wall = time.monotonic() - self.t0
        f = self.figures
        f["alarms_raised"] = self.raised_per_run()
        f["redraw_ms"] = {"median": round(1000 * sorted(self.window.draw_times_s)[
            len(self.window.draw_times_s) // 2], 1), "max": round(1000 * max(
                self.window.draw_times_s), 1)} if self.window.draw_times_s else {}
        f.update(minutes=round(wall / 60, 1), runs=[r["run"] for r in runs],
                 window_cpu_fraction=round((cpu_s() - self.cpu0) / wall, 3),
                 machine=machine(), pace=a.pace, spills_per_run=a.spills)
        self.feed.stop()
        return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0,
                    help="about how long: sets the spills per run at the pace")
    ap.add_argument("--pace", type=float, default=1.0)
    ap.add_argument("--clean-runs", type=int, default=2, help="before and after the faults")
    ap.add_argument("--out", default="/tmp/na64daq-crew-trial")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        sys.exit("no X display: run under xvfb-run (Debian package xvfb)")
    runs = 2 * a.clean_runs + 1
    spill_s = 19.8 / a.pace  # the SPS's 4.8 s spill and 15 s pause
    a.spills = max(6, int(a.minutes * 60 / runs / spill_s))
    figures = Trial(a).run()
    print(json.dumps(figures, indent=1) if a.json else json.dumps(
        {k: v for k, v in figures.items() if k not in ("screenshots", "rss_mb")}, indent=1))
    (Path(a.out) / "figures.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
