"""The two lines above the tabs, on every tab and always in the same place
(``docs/monitor.md``): the run-control header (run, state, start, elapsed, spills, rate, EOT,
free disk, the data's age, or STALE), and the alarm banner."""

from __future__ import annotations

import html

from PyQt5 import QtCore, QtWidgets

from monitor.alarm_handler import raised
from monitor.panels import FONT_PT, clock, duration, local_time, run_text
from monitor.snapshot import Snapshot

RED, ORANGE, GREEN = "#C00000", "#B35900", "#2E7D32"


def header_text(snap: Snapshot | None, now: float, stale_since: float | None,
                source: str) -> tuple[str, str]:
    """(the run's line, the emulated departures or ''); ``source``: the feed, in words."""
    if snap is None:
        return (f"STALE: no data from the DAQ yet (waiting since {clock(stale_since)}; "
                f"{source})", "")
    h = snap.header
    daq = h.get("daq") or {}
    state = daq.get("state") or "unknown"
    parts = [run_text(h.get("run")).capitalize(), state.upper() if state != "file" else
             f"from the file {source}"]
    started = daq.get("run_started_unix_s")
    if started:
        parts.append(f"started {local_time(started)}")
        if state in ("running", "stopping"):
            parts.append(f"elapsed {duration(now - started)}")
    spills = h.get("spills") or []
    closed = h.get("closed_spills", sum(1 for r in spills if not r.get("live")))
    if h.get("spill") is not None:
        live = any(r.get("live") for r in spills)
        parts.append(f"spill {h['spill']} " + (f"open ({closed} closed)" if live else
                                                f"({closed} closed)"))
    if daq.get("rate_hz") is not None:
        parts.append(f"{daq['rate_hz']:,.0f} events/s written")
    eot = (h.get("exposure") or {}).get("eot")
    if eot:
        parts.append(f"EOT {eot:.3g}")
    if daq.get("disk_free_bytes") is not None:
        parts.append(f"disk {daq['disk_free_bytes'] / 1e9:,.1f} GB free")
    if h.get("reset_unix_s"):
        parts.append(f"histograms since Reset {clock(h['reset_unix_s'])}")
    age = snap.age_s()
    if stale_since is not None:
        line = (f"STALE: no data from the DAQ since {clock(stale_since)} ({age:.0f} s); "
                "last known: " + ", ".join(parts))
    else:
        line = "   ·   ".join(parts) + f"   ·   data {age:.1f} s old"
    emulated = daq.get("emulated") or []
    return line, ("EMULATED " + "; ".join(emulated)) if emulated else ""


class RunHeader(QtWidgets.QLabel):
    """The run-control header: sized to its text, in the layout, red when STALE."""

    def __init__(self):
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(QtCore.Qt.RichText)
        f = self.font()
        f.setPointSize(FONT_PT + 2)
        f.setBold(True)
        self.setFont(f)
        # two lines whatever they say: the banner and the tabs below do not jump
        self.setMinimumHeight(2 * self.fontMetrics().lineSpacing() + 14)
        self.stale = False

    def show_text(self, line: str, emulated: str, stale: bool) -> None:
        self.stale = stale
        text = html.escape(line)
        if emulated:
            text += f'<br><span style="color: {ORANGE if not stale else "white"};">' \
                    f"{html.escape(emulated)}</span>"
        self.setText(text)
        self.setStyleSheet(f"color: white; background: {RED}; padding: 6px;" if stale else
                           "color: black; background: #F2F2F2; padding: 6px;")


def banner_look(alarms: list[dict], checks_ran: float | None) -> tuple[str, str, str]:
    """(text, background, foreground) of the alarm banner: red for an unacknowledged major,
    orange for an unacknowledged minor, dimmed grey when every raised alarm is acknowledged,
    green when none is raised."""
    up = raised({"alarms": alarms})
    if not up:
        return (f"No alarm raised (checks ran {clock(checks_ran)})" if checks_ran else
                "No alarm raised", GREEN, "white")
    unacked = [a for a in up if a.get("state") != "acknowledged"]
    a = (unacked or up)[0]
    more = f"; {len(up) - 1} more" if len(up) > 1 else ""
    text = (f"{a['latched'].upper()}: {a['name']}: {a.get('text', '')[:100]} ({a['state']})"
            f"{more}; {len(unacked)} unacknowledged")
    if not unacked:
        return text, "#D9D9D9", "#555555"
    return text, RED if any(x.get("latched") == "major" for x in unacked) else ORANGE, "white"


def banner_style(background: str, foreground: str) -> str:
    return (f"color: {foreground}; background-color: {background}; padding: 4px; "
            "text-align: left; border: none;")



