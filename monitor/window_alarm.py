"""The window's own alarm (``docs/monitor.md``): when the alarm source (the monitor tap) is
silent, no other alarm can rise, so the window raises this one itself, handled as the tap's
are (latched until acknowledged by name). No Qt here."""

from __future__ import annotations

from typing import Any

NAME = "alarm source silent"
GUIDANCE = ("The window hears nothing from the DAQ's alarm source (the monitor tap), or its "
            "checks fail: no alarm can rise while this lasts, and what the window shows is "
            "old. Look at the DAQ tab and run `na64daq ctl status`; the supervisor restarts a "
            "dead tap by itself. If it lasts, call the DAQ expert.")


class SilentSourceAlarm:
    def __init__(self) -> None:
        self.active = False
        self.latched = False
        self.text = ""
        self.since_unix_s: float | None = None
        self.acknowledged_by: str | None = None

    def update(self, trouble: str | None, now: float) -> bool:
        """``trouble``: why the source is silent now, or None; True when this raises it."""
        raised = trouble is not None and not self.active
        if raised:
            self.since_unix_s, self.latched, self.acknowledged_by = now, True, None
        if trouble is None and self.active and self.acknowledged_by:
            self.latched, self.acknowledged_by = False, None  # acknowledged and cleared: ok
        self.active = trouble is not None
        if trouble is not None:
            self.text = trouble
        return raised

    def acknowledge(self, author: str) -> str:
        if not self.latched:
            return f"{NAME}: not raised, nothing to acknowledge"
        if self.active:
            self.acknowledged_by = author
        else:
            self.latched, self.acknowledged_by = False, None
        return f"{NAME}: acknowledged by {author} (in this window)"

    @property
    def state(self) -> str:
        if self.active:
            return "acknowledged" if self.acknowledged_by else "active"
        return "cleared, unacknowledged" if self.latched else "ok"

    def as_dict(self) -> dict[str, Any]:
        """As the tap's alarms are in a snapshot (``alarms.alarms``)."""
        latched = "major" if self.latched else "ok"
        return {"name": NAME, "panel": "DAQ", "guidance": GUIDANCE, "kind": "window",
                "severity": "major" if self.active else "ok", "latched": latched,
                "state": self.state, "items": {"all": ["major", self.text]} if self.active
                else {}, "text": self.text if self.latched else "",
                "since_unix_s": self.since_unix_s, "acknowledged_by": self.acknowledged_by,
                "shelved_until_unix_s": None, "shelved_by": None, "local": True}
