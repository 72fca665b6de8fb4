"""Alarm handling (``docs/monitor.md``, Alarms): runs the checks, filters them against chatter,
latches alarms until acknowledged, shelves them for a while, and records every transition
in the logbook. One per histogram server; its state goes into every snapshot."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from daq.core.detector import Detector
from monitor.alarm_checks import (
    CHECK_NAMES,
    FILTER,
    MAJOR,
    OK,
    RANK,
    TOO_FEW,
    Baseline,
    Check,
    Items,
    StateData,
    checks,
)
from monitor.alarm_performance import SHIFT_S, performance
from monitor.alarm_suppression import suppress
from monitor.histograms import HistogramSet

LOG_KEPT = 50
SHELVE_MINUTES = (1, 480)
ACTIONS = ("acknowledge", "shelve", "unshelve")
SERVER_AUTHOR = "alarm server"


class AlarmCommandError(ValueError):
    """A refused alarm command, with the reason."""


@dataclass
class Alarm:
    check: Check
    severity: str = OK  # after the filter
    latched: str = OK
    items: Items = field(default_factory=dict)  # the active (filtered) items
    result: Items = field(default_factory=dict)  # the last result, unfiltered
    since_unix_s: float | None = None
    acknowledged_by: str | None = None
    shelved_until_unix_s: float | None = None
    shelved_by: str | None = None
    shelved_reason: str | None = None
    history: dict[str, deque] = field(default_factory=dict)  # item -> last severities
    failing_since: dict[str, float] = field(default_factory=dict)  # state checks' delay
    failing: Items = field(default_factory=dict)  # filtered, before suppression
    #: the filtered items that are another check's consequence, each saying of what
    suppressed: Items = field(default_factory=dict)
    suppressed_by: list[str] = field(default_factory=list)  # those checks
    raised_text: str = ""  # what it said when last raised: a cleared alarm's text for the crew

    @property
    def state(self) -> str:
        if self.shelved_until_unix_s is not None:
            return "shelved"
        if self.severity != OK:
            return "acknowledged" if self.acknowledged_by else "active"
        if self.latched != OK:
            return "cleared, unacknowledged"
        if self.suppressed:
            return "suppressed"
        if set(self.result) == {"all"} and self.result["all"][0] == TOO_FEW:
            return TOO_FEW
        return OK

    def text(self) -> str:
        lines = [t for _s, t in self.items.values()] or [
            t for _s, t in self.suppressed.values()] or [
            t for s, t in self.result.values() if s == TOO_FEW]
        if not self.items and self.latched != OK and self.raised_text:
            return f"was: {self.raised_text}"  # cleared, not yet acknowledged
        return "; ".join(lines[:6]) + (f"; and {len(lines) - 6} more" if len(lines) > 6 else "")

    def as_dict(self) -> dict[str, Any]:
        c = self.check
        return {"name": c.name, "panel": c.panel, "guidance": c.guidance, "kind": c.kind,
                "severity": self.severity, "latched": self.latched, "state": self.state,
                "items": {k: list(v) for k, v in self.items.items()}, "text": self.text(),
                "since_unix_s": self.since_unix_s, "acknowledged_by": self.acknowledged_by,
                "shelved_until_unix_s": self.shelved_until_unix_s,
                "shelved_by": self.shelved_by, "shelved_reason": self.shelved_reason,
                "suppressed": {k: list(v) for k, v in self.suppressed.items()},
                "suppressed_by": list(self.suppressed_by)}

    def kept(self) -> dict[str, Any]:
        """What the crew's handling left, for a new tap to restore (``docs/conditions.md``)."""
        return {"severity": self.severity, "latched": self.latched,
                "items": {k: list(v) for k, v in self.items.items()},
                "since_unix_s": self.since_unix_s, "acknowledged_by": self.acknowledged_by,
                "shelved_until_unix_s": self.shelved_until_unix_s,
                "shelved_by": self.shelved_by, "shelved_reason": self.shelved_reason,
                "raised_text": self.raised_text}

    def restore(self, kept: dict[str, Any]) -> None:
        """From :meth:`kept`, checked: a damaged row restores nothing of this alarm."""
        sev, latched = kept.get("severity"), kept.get("latched")
        items = kept.get("items")
        if sev not in RANK or latched not in RANK or not isinstance(items, dict) or not all(
                isinstance(v, list) and len(v) == 2 and v[0] in RANK for v in items.values()):
            return
        self.severity, self.latched = sev, latched
        self.items = {str(k): (v[0], str(v[1])) for k, v in items.items()}
        self.failing = dict(self.items)  # until its check runs again
        for key in ("since_unix_s", "shelved_until_unix_s"):
            value = kept.get(key)
            setattr(self, key, float(value) if isinstance(value, (int, float)) else None)
        for key in ("acknowledged_by", "shelved_by", "shelved_reason"):
            value = kept.get(key)
            setattr(self, key, value if isinstance(value, str) else None)
        text = kept.get("raised_text")
        self.raised_text = text[:1000] if isinstance(text, str) else ""


def check_command(request: dict[str, Any]) -> None:
    """What can be refused without the alarms' state (the supervisor asks it too)."""
    action, name, author = request.get("action"), request.get("name"), request.get("author")
    if action not in ACTIONS:
        raise AlarmCommandError(f"alarm action {action!r}: one of {', '.join(ACTIONS)}")
    if name not in CHECK_NAMES:
        raise AlarmCommandError(f"no alarm {name!r}: one of {', '.join(CHECK_NAMES)}")
    if not isinstance(author, str) or not author.strip() or len(author) > 100:
        raise AlarmCommandError("an alarm command needs its author's name (at most 100 "
                                "characters)")
    if action == "shelve":
        minutes = request.get("minutes")
        if (not isinstance(minutes, (int, float)) or isinstance(minutes, bool)
                or not SHELVE_MINUTES[0] <= minutes <= SHELVE_MINUTES[1]):
            raise AlarmCommandError(f"shelving for {minutes!r} minutes: "
                                    f"{SHELVE_MINUTES[0]} to {SHELVE_MINUTES[1]}")
        reason = request.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise AlarmCommandError("shelving needs a reason")


def _worst(items: Items) -> str:
    sev = OK
    for s, _t in items.values():
        if RANK[s] > RANK[sev]:
            sev = s
    return sev


class AlarmStore(Protocol):
    """Where the crew's handling of each alarm outlives the process (the conditions
    database's ``alarm_state``)."""

    def load(self) -> dict[str, dict[str, Any]]: ...

    def save(self, name: str, kept: dict[str, Any]) -> None: ...


class AlarmHandler:
    def __init__(self, detector: Detector,
                 logbook: Callable[[str, str, int | None], None] | None = None,
                 store: AlarmStore | None = None):
        """``logbook(text, author, run)`` records a transition (the conditions database's
        logbook, kind ``alarm``); without it transitions are only kept in the snapshot.
        ``store`` keeps latching, acknowledgements and shelvings across restarts: what it
        holds is restored here."""
        self.detector = detector
        self.logbook = logbook
        self.store = store
        self.store_failures = 0
        self.alarms = {c.name: Alarm(c) for c in checks()}
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_KEPT)
        #: (time, check) of every raise in the last shift: the alarm performance figures
        self.raises: deque[tuple[float, str]] = deque()
        self.started_unix_s = time.time()
        self.errors: dict[str, str] = {}
        self.evaluated_unix_s: float | None = None
        self.logbook_failures = 0
        self.run: int | None = None
        self.tested_spill: int | None = None  # while spill checks run: the log says which
        self.baseline = Baseline()
        #: the latest tested spill's per-channel comparisons (``SpillData.channels``)
        self.channels: dict[str, Any] = {}
        #: a file feed's handler is evaluated in the feed's thread and commanded from the
        #: window's; the tap's has one thread
        self.lock = threading.Lock()
        if store is not None:
            try:
                kept = store.load()
            except Exception:  # a store that cannot be read restores nothing, never fatal
                kept = {}
                self.store_failures += 1
            for name, state in kept.items():
                if name in self.alarms and isinstance(state, dict):
                    self.alarms[name].restore(state)

    def new_run(self, run: int | None, reference: tuple | None = None) -> None:
        """Baselines and filters start again (from ``reference``, the reference run's
        histograms, rows and name, until the run has its own); alarms stay latched until
        acknowledged."""
        self.run = run
        self.baseline = Baseline(reference=reference)
        for a in self.alarms.values():
            a.history.clear()
            a.failing_since.clear()

    # -- evaluation --------------------------------------------------------------------------
    def spill_closed(self, spill: int, h: HistogramSet, row: dict[str, Any],
                     reference: dict[str, Any], now: float | None = None) -> None:
        """Tests a closed spill against its baseline, then adds it to the baseline."""
        data = self.baseline.data(spill, h, row, reference, self.detector)
        with self.lock:
            self.tested_spill = spill
            for a in self.alarms.values():
                if a.check.kind == "spill":
                    self._run(a, data, now or time.time())
            self._settle(now or time.time())
            self.tested_spill = None
            failed = any(RANK[s] > 0 for a in self.alarms.values() if a.check.kind == "spill"
                         for s, _t in a.result.values())
            row["checks"] = _plain(data.drawn)  # the strip charts draw what was compared
            self.channels = {"spill": spill, **_plain(data.channels)}
        if not failed:  # a spill in which a check failed never becomes a baseline
            self.baseline.append(h, row)

    def state(self, data: StateData) -> None:
        """The state checks, at every publish period; the alarm source's heartbeat."""
        with self.lock:
            for a in self.alarms.values():
                if a.check.kind == "state":
                    self._run(a, data, data.now_s)
            self._settle(data.now_s)
            for a in self.alarms.values():
                self._expire(a, data.now_s)
            self.evaluated_unix_s = data.now_s

    def _run(self, a: Alarm, data: Any, now: float) -> None:
        try:
            result = a.check.test(data)
        except Exception as exc:  # a check's bug must not silence the others, nor the tap
            self.errors[a.check.name] = f"{type(exc).__name__}: {exc}"
            return
        self.errors.pop(a.check.name, None)
        a.result = result
        a.failing = self._filter(a, result, now)

    def _settle(self, now: float) -> None:
        """Every alarm's items raised or suppressed as the consequence of another check's
        (``monitor/alarm_suppression.py``): a root that fails in this spill, even before its
        own filter lets it rise, holds its consequences back, so one fault raises one alarm
        whichever check passes its filter first."""
        causes = {n: {**{k: v for k, v in b.result.items() if RANK[v[0]] > 0}, **b.failing}
                  for n, b in self.alarms.items()}
        for a in self.alarms.values():
            kept, a.suppressed, a.suppressed_by = suppress(a.check.name, a.failing, causes,
                                                           self.detector)
            self._update(a, kept, now)

    def _filter(self, a: Alarm, result: Items, now: float) -> Items:
        failing = {k: v for k, v in result.items() if RANK[v[0]] > 0}
        c = a.check
        if c.kind == "state":
            for k in list(a.failing_since):
                if k not in failing:
                    del a.failing_since[k]
            for k in failing:
                a.failing_since.setdefault(k, now)
            return {k: v for k, v in failing.items()
                    if k in c.undelayed or now - a.failing_since[k] >= c.delay_s}
        if c.exact:
            return failing
        need, of = FILTER
        active = {}
        for k in set(a.history) | set(failing):
            h = a.history.setdefault(k, deque(maxlen=of))
            h.append(failing.get(k, (OK, ""))[0])
            fails = [s for s in h if RANK[s] > 0]
            if len(fails) >= need:
                text = failing[k][1] if k in failing else a.items.get(k, (OK, k))[1]
                active[k] = (max(fails, key=RANK.get), text)
            if not fails:
                del a.history[k]
        return active

    def _update(self, a: Alarm, active: Items, now: float, before: str | None = None) -> None:
        """``before``: the severity the crew last saw (OK after a shelving)."""
        before = a.severity if before is None else before
        a.items, a.severity = active, _worst(active)
        if a.shelved_until_unix_s is not None:
            return  # shelved: nothing raises, nothing latches
        if a.severity != OK and (before == OK or RANK[a.severity] > RANK[before]):
            if RANK[a.severity] > RANK[a.latched] or a.latched == OK:
                a.latched = a.severity
                a.acknowledged_by = None  # a worse alarm needs a new acknowledgement
            a.since_unix_s = now
            a.raised_text = a.text()
            self.raises.append((now, a.check.name))
            while self.raises and self.raises[0][0] < now - SHIFT_S:
                self.raises.popleft()
            self._record(a, f"raised {a.severity.upper()}", SERVER_AUTHOR, a.text(), now)
        elif a.severity == OK and before != OK:
            if a.acknowledged_by:
                a.latched, a.acknowledged_by = OK, None
            if a.suppressed:  # its root is known now: shown under it
                self._record(a, "suppressed, consequence of " + ", ".join(a.suppressed_by),
                             SERVER_AUTHOR, a.text(), now)
            else:
                self._record(a, "cleared", SERVER_AUTHOR, "", now)

    def _expire(self, a: Alarm, now: float) -> None:
        if a.shelved_until_unix_s is not None and now >= a.shelved_until_unix_s:
            a.shelved_until_unix_s = a.shelved_by = a.shelved_reason = None
            self._record(a, "shelving expired", SERVER_AUTHOR, "", now)
            self._update(a, a.items, now, before=OK)

    # -- commands ----------------------------------------------------------------------------
    def command(self, request: dict[str, Any], now: float | None = None) -> None:
        """``acknowledge``, ``shelve`` or ``unshelve`` an alarm (the run-control request
        ``alarm``); :class:`AlarmCommandError` names what is wrong."""
        now = now or time.time()
        check_command(request)
        with self.lock:
            self._command(request, now)

    def _command(self, request: dict[str, Any], now: float) -> None:
        action, name = request["action"], request["name"]
        a, author = self.alarms[name], request["author"].strip()
        if action == "acknowledge":
            if a.latched == OK and a.severity == OK:
                raise AlarmCommandError(f"alarm {name!r} is not raised: nothing to acknowledge")
            a.acknowledged_by = author
            if a.severity == OK:
                a.latched, a.acknowledged_by = OK, None
            self._record(a, "acknowledged", author, "", now)
        elif action == "shelve":
            minutes = request["minutes"]
            a.shelved_until_unix_s, a.shelved_by = now + 60.0 * minutes, author
            a.shelved_reason = request["reason"].strip()[:500]
            self._record(a, f"shelved for {minutes:g} min", author, a.shelved_reason, now)
        else:
            if a.shelved_until_unix_s is None:
                raise AlarmCommandError(f"alarm {name!r} is not shelved")
            a.shelved_until_unix_s = a.shelved_by = a.shelved_reason = None
            self._record(a, "unshelved", author, "", now)
            self._update(a, a.items, now, before=OK)

    # -- record and report -------------------------------------------------------------------
    def _record(self, a: Alarm, what: str, by: str, text: str, now: float) -> None:
        entry = {"time_unix_s": now, "name": a.check.name, "what": what, "by": by,
                 "text": text, "run": self.run, "spill": self.tested_spill}
        self.log.append(entry)
        if self.store is not None:
            try:
                self.store.save(a.check.name, a.kept())
            except Exception:  # counted, never fatal (like the logbook)
                self.store_failures += 1
        if self.logbook is None:
            return
        at = f" (spill {self.tested_spill})" if self.tested_spill is not None else ""
        line = (f"{a.check.name} {what}{at}" + (f": {text}" if text else ""))[:1900]
        try:
            self.logbook(line, by, self.run)
        except Exception:  # a logbook that cannot be written is counted, never fatal
            self.logbook_failures += 1

    def header(self) -> dict[str, Any]:
        """The snapshot's ``alarms``."""
        with self.lock:
            return {"evaluated_unix_s": self.evaluated_unix_s, "errors": dict(self.errors),
                    "logbook_failures": self.logbook_failures,
                    "store_failures": self.store_failures,
                    "alarms": [a.as_dict() for a in self.alarms.values()],
                    "channels": self.channels, "log": list(self.log),
                    "performance": self.performance()}

    def performance(self, now: float | None = None) -> dict[str, Any]:
        """The alarm performance figures of the last shift (since this handler started, if
        later): ``monitor/alarm_performance.py``."""
        now = now or self.evaluated_unix_s or time.time()
        start = max(self.started_unix_s, now - SHIFT_S) if self.started_unix_s <= now else \
            now - SHIFT_S  # (a replayed file's clock is earlier than the handler's start)
        return performance(self.raises, start, now,
                           [(a.check.name, a.since_unix_s) for a in self.alarms.values()
                            if a.severity != OK and a.since_unix_s is not None])

    def run_summary(self) -> dict[str, Any]:
        """The alarms that are not ``ok`` now, and the names of the major ones (shelved too):
        at a run's end, what its record keeps (a run with a major alarm not cleared is no
        reference, ``monitor/reference.py``)."""
        with self.lock:
            alarms = [a for a in self.alarms.values() if a.state not in (OK, TOO_FEW)]
            return {"alarms": [{"name": a.check.name, "severity": a.severity,
                                "latched": a.latched, "state": a.state} for a in alarms],
                    "major_alarms_not_cleared": [a.check.name for a in alarms
                                                 if a.severity == MAJOR]}


def _plain(x: Any) -> Any:
    """Numbers and arrays of a check's comparison as JSON (NaN as null)."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_plain(v) for v in x]
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def raised(header: dict[str, Any]) -> list[dict[str, Any]]:
    """The alarms a crew must see: latched or active and not shelved, worst first."""
    alarms = [a for a in (header or {}).get("alarms", []) if a.get("state") in (
        "active", "acknowledged", "cleared, unacknowledged")]
    return sorted(alarms, key=lambda a: (-RANK.get(a.get("latched"), 0), a.get("name", "")))

