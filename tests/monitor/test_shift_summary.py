"""The shift summary from a real run database: the runs of the last 8 hours with their
outcome, events and EOT, the alarms raised per check (from the logbook), the entries."""

import pytest

from daq.conditions import Conditions
from daq.core.run_database import RunDatabase
from monitor.shift_summary import summary


def test_the_last_eight_hours_of_runs_alarms_and_entries(tmp_path, detector):
    db = RunDatabase(tmp_path / "runs.db")
    cond = Conditions(db, detector)
    old = db.new_run({})
    db.close_run(old, "stopped", {"balanced": True, "written_complete": 5, "written_incomplete": 0})
    db.db.execute("UPDATE runs SET start_time = 1000, stop_time = 2000 WHERE run = ?", (old,))
    runs = []
    for balanced in (True, False):
        r = db.new_run({})
        db.close_run(r, "stopped", {"balanced": balanced, "written_complete": 100,
                                    "written_incomplete": 2})
        db.add_summary(r, eot=1e7, spills=3, stop_reason="ctl stop",
                       major_alarms_not_cleared=["dead channel"] if not balanced else [])
        runs.append(r)
    running = db.new_run({})
    for text in ("dead channel raised MAJOR (spill 4): ECAL1:2:3", "dead channel cleared",
                 "dead channel raised MAJOR (spill 9): ECAL1:2:3",
                 "gain drift raised MINOR (spill 9): calibration peak -7%"):
        cond.add_note(text, "alarm", "alarm server", runs[1])
    cond.add_note("HV trip ECAL 3-3", "problem", "A. Shifter", runs[1])
    import time

    s = summary(db, detector, time.time())
    assert [r["run"] for r in s["runs"]] == [*runs, running]  # the old one is out
    assert s["runs"][1]["alarms_not_cleared"] == ["dead channel"]
    assert s["runs"][2]["stop_unix_s"] is None  # still running
    assert s["total"] == {"runs": 3, "events": 204, "eot": pytest.approx(2e7), "unbalanced": 1}
    assert s["alarms_raised"] == [{"name": "dead channel", "severity": "major", "times": 2},
                                  {"name": "gain drift", "severity": "minor", "times": 1}]
    assert [e["text"] for e in s["entries"]] == ["[problem] HV trip ECAL 3-3"]
    db.close()
