"""Alarm handling: the 2-of-3 filter, latching at the highest severity until acknowledged,
shelving that expires by itself, transitions in the real conditions database's logbook,
refused commands, and the heartbeat."""

from types import SimpleNamespace

import pytest

from monitor import alarm_checks as ac
from monitor.alarm_handler import AlarmCommandError, AlarmHandler, check_command, raised


class Scripted:
    """A check's results, scripted per call (the handler's logic is what is tested)."""

    def __init__(self, results):
        self.results = list(results)

    def __call__(self, _data):
        return self.results.pop(0)


def _handler(detector, results, exact=False, logbook=None, kind="spill", delay_s=0.0):
    h = AlarmHandler(detector, logbook)
    a = h.alarms["dead channel"]
    a.check = ac.Check(a.check.name, a.check.panel, a.check.guidance, kind,
                       Scripted(results), exact=exact, delay_s=delay_s)
    for name in list(h.alarms):
        if name != "dead channel":
            del h.alarms[name]
    return h, a


NOTHING = SimpleNamespace(drawn={}, channels={})  # the scripted check reads no spill data
FAIL = {"S0": (ac.MAJOR, "S0 dead")}
MINOR = {"S0": (ac.MINOR, "S0 low")}


def _spills(h, n, start=1):
    for k in range(n):
        h.spill_closed(start + k, None, {}, {}, now=1000.0 + k)


def test_a_single_failing_spill_raises_nothing_two_of_three_do(detector, filler):
    h, a = _handler(detector, [FAIL, {}, {}, FAIL, {}, FAIL])
    h.baseline.data = lambda *args: NOTHING  # the scripted check reads nothing
    h.baseline.append = lambda *args: None
    _spills(h, 3)
    assert a.severity == ac.OK and a.latched == ac.OK  # fail, ok, ok: chatter filtered
    _spills(h, 2, 4)
    assert a.severity == ac.OK  # ok, ok, fail then ok, fail, ok: one of the last three
    _spills(h, 1, 6)
    assert a.severity == ac.MAJOR and a.state == "active"  # fail, ok, fail
    assert [e["what"] for e in h.log] == ["raised MAJOR"]


def test_latching_acknowledging_and_clearing(detector, tmp_path):
    from daq.conditions import Conditions
    from daq.core.run_database import RunDatabase

    db = RunDatabase(tmp_path / "c.db")
    cond = Conditions(db, detector)
    h, a = _handler(detector, [MINOR, FAIL, {}, {}, FAIL, FAIL], exact=True,
                    logbook=lambda text, by, run: cond.add_note(text, "alarm", by, run))
    h.baseline.data = lambda *args: NOTHING
    h.baseline.append = lambda *args: None
    h.new_run(12)
    h.baseline.data = lambda *args: NOTHING
    h.baseline.append = lambda *args: None
    _spills(h, 2)
    assert (a.severity, a.latched) == (ac.MAJOR, ac.MAJOR)  # minor, then worse
    _spills(h, 1, 3)
    assert (a.severity, a.latched, a.state) == (ac.OK, ac.MAJOR, "cleared, unacknowledged")
    shown = raised(h.header())[0]
    assert shown["name"] == "dead channel"  # still shown to the crew, with what it said
    assert shown["text"] == "was: S0 dead", shown
    h.command({"action": "acknowledge", "name": "dead channel", "author": "A. Shifter"})
    assert (a.latched, a.state) == (ac.OK, ac.OK) and not raised(h.header())
    _spills(h, 1, 4)
    _spills(h, 1, 5)  # raised again: latches again, needs a new acknowledgement
    h.command({"action": "acknowledge", "name": "dead channel", "author": "B. Crew"})
    assert a.state == "acknowledged" and a.acknowledged_by == "B. Crew"
    with pytest.raises(AlarmCommandError, match="nothing to acknowledge"):
        h2, _ = _handler(detector, [])
        h2.command({"action": "acknowledge", "name": "dead channel", "author": "x"})
    entries = db.db.execute("SELECT run, author, text FROM logbook ORDER BY id").fetchall()
    assert [(r, by) for r, by, _t in entries] == [
        (12, "alarm server"), (12, "alarm server"), (12, "alarm server"), (12, "A. Shifter"),
        (12, "alarm server"), (12, "B. Crew")]
    texts = [t for _r, _b, t in entries]
    assert texts[0] == "[alarm] dead channel raised MINOR (spill 1): S0 low"
    assert texts[1] == "[alarm] dead channel raised MAJOR (spill 2): S0 dead"
    assert texts[2] == "[alarm] dead channel cleared (spill 3)"
    assert texts[3] == "[alarm] dead channel acknowledged"


def test_shelving_hides_and_expires_by_itself(detector):
    h, a = _handler(detector, [FAIL, FAIL, FAIL], exact=True)
    h.baseline.data = lambda *args: NOTHING
    h.baseline.append = lambda *args: None
    h.command({"action": "shelve", "name": "dead channel", "author": "A. Shifter",
               "minutes": 10, "reason": "HV being changed"}, now=1000.0)
    _spills(h, 1)
    assert a.state == "shelved" and a.latched == ac.OK and not raised(h.header())
    state = ac.StateData(1000.0 + 9 * 60, {}, None, {}, {}, None)
    h.state(state)
    assert a.state == "shelved"
    h.state(ac.StateData(1000.0 + 10 * 60, {}, None, {}, {}, None))
    assert a.shelved_until_unix_s is None
    assert a.state == "active" and a.latched == ac.MAJOR  # still failing: raised now
    assert [e["what"] for e in h.log] == ["shelved for 10 min", "shelving expired",
                                          "raised MAJOR"]
    assert h.log[0]["text"] == "HV being changed" and h.log[0]["by"] == "A. Shifter"


def test_state_checks_raise_after_their_delay(detector):
    h, a = _handler(detector, [FAIL] * 4, kind="state", delay_s=3.0)
    for t in (0.0, 1.0, 2.5):
        h.state(ac.StateData(t, {}, None, {}, {}, None))
        assert a.severity == ac.OK
    h.state(ac.StateData(3.0, {}, None, {}, {}, None))
    assert a.severity == ac.MAJOR
    assert h.header()["evaluated_unix_s"] == 3.0  # the alarm source's heartbeat


def test_a_failing_check_is_reported_and_does_not_stop_the_others(detector):
    def broken(_data):
        raise ZeroDivisionError("bug")

    h, a = _handler(detector, [])
    a.check = ac.Check(a.check.name, a.check.panel, a.check.guidance, "state", broken)
    h.state(ac.StateData(1.0, {}, None, {}, {}, None))
    assert h.header()["errors"] == {"dead channel": "ZeroDivisionError: bug"}


@pytest.mark.parametrize("request_, error", [
    ({"action": "delete", "name": "dead channel", "author": "a"}, "alarm action"),
    ({"action": "acknowledge", "name": "no such", "author": "a"}, "no alarm 'no such'"),
    ({"action": "acknowledge", "name": "dead channel", "author": " "}, "author"),
    ({"action": "shelve", "name": "dead channel", "author": "a", "minutes": 0,
      "reason": "r"}, "1 to 480"),
    ({"action": "shelve", "name": "dead channel", "author": "a", "minutes": 600,
      "reason": "r"}, "1 to 480"),
    ({"action": "shelve", "name": "dead channel", "author": "a", "minutes": True,
      "reason": "r"}, "minutes"),
    ({"action": "shelve", "name": "dead channel", "author": "a", "minutes": 5}, "reason"),
])
def test_bad_commands_are_refused_with_the_reason(request_, error):
    with pytest.raises(AlarmCommandError, match=error):
        check_command(request_)


def test_a_logbook_that_fails_is_counted_not_fatal(detector):
    def broken(*_args):
        raise OSError("disk full")

    h, a = _handler(detector, [FAIL], exact=True, logbook=broken)
    h.baseline.data = lambda *args: NOTHING
    h.baseline.append = lambda *args: None
    _spills(h, 1)
    assert a.severity == ac.MAJOR and h.header()["logbook_failures"] == 1


def test_acknowledgements_and_shelvings_are_restored_from_the_conditions_database(detector,
                                                                                   tmp_path,
                                                                                   monkeypatch):
    """What the crew did outlives the handler: a new one (a new tap) reads it back."""
    from daq.processes.tap import ConditionsAlarmStore

    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "c.db"))
    h, a = _handler(detector, [FAIL], exact=True)
    h.store = ConditionsAlarmStore(detector)
    h.baseline.data = lambda *args: NOTHING
    h.baseline.append = lambda *args: None
    _spills(h, 1)
    h.command({"action": "acknowledge", "name": "dead channel", "author": "A"}, now=2000.0)
    again = AlarmHandler(detector, store=ConditionsAlarmStore(detector))
    b = again.alarms["dead channel"]
    assert (b.latched, b.severity, b.state, b.acknowledged_by) == (ac.MAJOR, ac.MAJOR,
                                                                  "acknowledged", "A")
    assert b.items == {"S0": (ac.MAJOR, "S0 dead")}
    full = AlarmHandler(detector, store=ConditionsAlarmStore(detector))
    full.command({"action": "shelve", "name": "rate drop", "author": "B", "minutes": 30,
                  "reason": "tuning"}, now=3000.0)
    later = AlarmHandler(detector, store=ConditionsAlarmStore(detector))
    r = later.alarms["rate drop"]
    assert (r.shelved_until_unix_s, r.shelved_by, r.shelved_reason) == (4800.0, "B", "tuning")
    later.state(ac.StateData(4801.0, {}, None, {}, {}, None))  # past it: expires by itself
    assert later.alarms["rate drop"].state != "shelved"
    assert AlarmHandler(detector, store=ConditionsAlarmStore(
        detector)).alarms["rate drop"].shelved_by is None  # and the expiry is kept too
