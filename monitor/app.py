"""``na64daq monitor``: the window on a live DAQ or a run file, or (``--snapshot``) every
panel into one PNG with no display."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from daq.core.config_schema import ConfigError
from daq.core.detector import Detector
from daq.run_file.isolated import isolated, vet_run_file
from monitor.feeds import ExpectedYields, Feed, FileFeed, LiveFeed, SavedFeed

FIRST_SNAPSHOT_S = 15.0  # --snapshot of a live DAQ waits this long for one


def open_feed(connect: str | None, file: str | None, follow: bool = True,
              expected: ExpectedYields | None = None, curve_keys=None) -> Feed:
    if file:
        from monitor.saved_histograms import is_saved_histograms

        if not Path(file).exists():
            raise ConfigError(f"{file}: no such run file")
        if isolated(is_saved_histograms, file):  # even its format is read in a child
            return SavedFeed(file)
        vet_run_file(file)  # a crafted file crashes a child, not the window
        return FileFeed(file, follow=follow, expected=expected)
    return LiveFeed(connect, curve_keys=curve_keys)


def on_this_machine(endpoint: str) -> bool:
    """Whether a DAQ endpoint is on this machine (its conditions database is then ours)."""
    import socket

    if endpoint.startswith("ipc://"):
        return True
    host = endpoint.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1", "*", socket.gethostname(),
                    socket.getfqdn())


def qt_application():
    """The process's QApplication; offscreen when there is no display. On an X display
    whose plugin lacks system libraries, one line naming them (a ConfigError), not Qt's
    abort."""
    from monitor.qt_platform import DisplayLibrariesMissing, check_display

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        check_display()
    except DisplayLibrariesMissing as exc:
        raise ConfigError(str(exc)) from None
    from PyQt5 import QtWidgets

    global _APPLICATION
    _APPLICATION = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    return _APPLICATION  # kept here: a QApplication nobody holds is destroyed


_APPLICATION = None


def wait_for(feed: Feed, timeout_s: float) -> None:
    """A file read to its end, or a live DAQ's first snapshot."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if feed.finished or (feed.live and feed.latest is not None):
            return
        time.sleep(0.05)
    if feed.latest is None:
        raise ConfigError(f"no snapshot in {timeout_s:g} s"
                          + (f" ({feed.last_error})" if feed.last_error else ""))


def run(feed: Feed, detector: Detector, snapshot_png: str | None = None,
        control_endpoint: str | None = None, reference: str | None = None,
        curve_keys=None) -> int:
    """``curve_keys``: (keyring, this window's key, the DAQ's key) when the DAQ uses CURVE;
    a viewer's key disables the buttons that act on the DAQ, saying why."""
    app = qt_application()
    from monitor.window import ControlButtons, MonitorWindow, NoteWriter

    feed.start()
    try:
        if snapshot_png:
            wait_for(feed, FIRST_SNAPSHOT_S if feed.live else 600.0)
            if feed.last_error and not feed.live:
                raise ConfigError(feed.last_error)
            window = MonitorWindow(feed, detector, remember=False, reference=reference)
            path = window.render_all(snapshot_png)
            print(f"wrote {path}")
            return 0
        control = ControlButtons(control_endpoint, curve_keys) if control_endpoint else None
        remote = control_endpoint is not None and not on_this_machine(control_endpoint)
        notes = NoteWriter(detector, control_endpoint if remote else None, curve_keys)
        window = MonitorWindow(feed, detector, control, notes=notes, reference=reference)
        window.show()
        return app.exec_()
    finally:
        feed.stop()
