"""The README's picture of the monitor: a demo DAQ run watched by the real window on an X
server (run it under Xvfb: ``xvfb-run -s "-screen 0 1920x1080x24" python
docs/make_screenshot.py``), grabbed from the screen once the run has data, one PNG per tab.

    python docs/make_screenshot.py [--out docs] [--spills 4]
    python docs/make_screenshot.py --spills 9 --tabs Alarms,Reference,Reach \
        --set emulator.faults.at_spill=7 --set emulator.faults.dead_channel=ECAL1:2:3 \
        --reference runs/run_000001.monitor.h5       # an alarm, and a reference to compare

Needs Debian's xvfb and, for Qt's xcb platform, libxcb-icccm4, libxcb-keysyms1 and
libxcb-xinerama0 (``apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0``).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent))
    ap.add_argument("--spills", type=int, default=4)
    ap.add_argument("--tabs", default="Overview,Physics rates,Detector maps,Waveforms,DAQ")
    ap.add_argument("--set", action="append", default=[], help="a setting for the demo")
    ap.add_argument("--reference", help="the reference run or file of the window")
    ap.add_argument("--viewer", action="store_true", help="the DAQ on CURVE keys, watched "
                    "with a viewer's key: the window's acting buttons disabled, with the reason")
    a = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        sys.exit("no X display: run under xvfb-run (Debian package xvfb)")
    from PyQt5 import QtWidgets

    from daq.core.config_schema import load
    from daq.core.detector import Detector
    from daq.processes.daq_config import DaqConfig, ipc_endpoints
    from monitor.feeds import LiveFeed
    from monitor.window import ControlButtons, MonitorWindow, NoteWriter

    tmp = Path(tempfile.mkdtemp(prefix="na64daq-screenshot-"))
    endpoints = ipc_endpoints(tmp)
    sets = [f"{k}='{v}'" for k, v in endpoints.items()]
    sets += ["emulator.spill.time_compressed=false", "emulator.spill.pace=2.0", *a.set]
    curve_keys = None
    if a.viewer:
        from daq.core.link_security import Keyring, new_key

        for name, role in (("daq", "daq"), ("watcher", "viewer")):
            new_key(tmp / "keys", name, role)
        sets += ["security.curve='on'", f"security.keys_directory='{tmp / 'keys'}'"]
        curve_keys = (Keyring.load(tmp / "keys"), "watcher", "daq")
    demo = subprocess.Popen([sys.executable, "-m", "daq.app.cli", "demo", "--no-gui", "--spills",
                             str(a.spills), "--out", str(tmp / "runs"),
                             *(x for s in sets for x in ("--set", s))],
                            stdout=subprocess.DEVNULL)
    cfg = load(DaqConfig, None, endpoints)
    app = QtWidgets.QApplication(sys.argv[:1])
    feed = LiveFeed(cfg.endpoints.tap_publish, curve_keys=curve_keys).start()
    detector = Detector.load()
    control = ControlButtons(cfg.endpoints.control, curve_keys) if curve_keys else None
    window = MonitorWindow(feed, detector, control, remember=False, reference=a.reference,
                           notes=NoteWriter(detector, None, curve_keys) if curve_keys else None)
    window.resize(1920, 1050)
    window.show()
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and demo.poll() is None:
            app.processEvents()
            snap = feed.latest
            if snap is not None and (snap.header.get("spill") or 0) >= a.spills:
                break
            time.sleep(0.05)
        shots = []
        for title in a.tabs.split(","):
            k = [p.title for p in window.panels].index(title)
            window.tabs.setCurrentIndex(k)
            for _ in range(15):  # a few redraws of the timer
                app.processEvents()
                time.sleep(0.05)
            name = Path(a.out) / f"monitor-{title.lower().replace(' ', '-')}.png"
            app.primaryScreen().grabWindow(0).copy(window.frameGeometry()).save(str(name))
            shots.append(name)
        print("\n".join(str(s) for s in shots))
    finally:
        feed.stop()
        demo.wait(300)


if __name__ == "__main__":
    main()
