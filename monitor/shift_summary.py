"""The shift summary (``docs/monitor.md``): the last hours of the run database and its
logbook, for a crew handing over: every run with its outcome, events, EOT and the alarms not
cleared at its end; their totals; the alarms raised per check; the logbook's entries. No Qt."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from daq.conditions import Conditions
from daq.core.detector import Detector
from daq.core.ledger import written
from daq.core.run_database import RunDatabase

SHIFT_HOURS = 8.0
RAISED = re.compile(r"^\[alarm\] (?P<name>.+?) raised (?P<severity>MAJOR|MINOR)")


def summary(db: RunDatabase, detector: Detector, now: float, hours: float = SHIFT_HOURS
            ) -> dict[str, Any]:
    since = now - 3600.0 * hours
    runs = []
    for r in db.runs_since(since):
        ledger = r.get("ledger") or {}
        s = r.get("summary") or {}
        runs.append({"run": r["run"], "start_unix_s": r["start_time"],
                     "stop_unix_s": r["stop_time"], "state": r["state"],
                     "written": written(ledger), "balanced": ledger.get("balanced"),
                     "eot": s.get("eot"), "spills": s.get("spills"),
                     "stop_reason": s.get("stop_reason"),
                     "alarms_not_cleared": s.get("major_alarms_not_cleared")})
    entries = [e for e in Conditions(db, detector).entries() if e["time"] >= since]
    raised = Counter()
    for e in entries:
        m = RAISED.match(e["text"])
        if m:
            raised[(m["name"], m["severity"].lower())] += 1
    return {"since_unix_s": since, "now_unix_s": now, "runs": runs,
            "total": {"runs": len(runs),
                      "events": sum(r["written"] or 0 for r in runs),
                      "eot": sum(r["eot"] or 0.0 for r in runs),
                      "unbalanced": sum(1 for r in runs if r["balanced"] is False)},
            "alarms_raised": [{"name": n, "severity": s, "times": k}
                              for (n, s), k in raised.most_common()],
            "entries": [e for e in entries if not e["text"].startswith("[alarm]")]}
