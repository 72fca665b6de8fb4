"""One alarm per problem: a check's items that are another's consequence are suppressed by
design, shown under the root cause, and raise nothing (ISA-18.2). Scripted results: the
handler's and the rules' logic is what is tested; the faults on a running DAQ are in
test_alarms_with_daq.py."""

from types import SimpleNamespace

from monitor import alarm_checks as ac
from monitor.alarm_handler import AlarmHandler, raised


class Scripted:
    def __init__(self, results):
        self.results = list(results)

    def __call__(self, _data):
        return self.results.pop(0) if self.results else {}


def handler(detector, scripts, exact=False):
    """Only the scripted checks, each with its results per evaluation."""
    h = AlarmHandler(detector)
    for name in list(h.alarms):
        if name not in scripts:
            del h.alarms[name]
            continue
        c = h.alarms[name].check
        h.alarms[name].check = ac.Check(c.name, c.panel, c.guidance, c.kind,
                                        Scripted(scripts[name]), exact=exact)
    h.baseline.data = lambda *args: SimpleNamespace(drawn={}, channels={})
    h.baseline.append = lambda *args: None
    return h


def spills(h, first, last):
    for k in range(first, last + 1):
        h.spill_closed(k, None, {}, {}, now=1000.0 + k)


HOT = {"ECAL1:0:0": (ac.MINOR, "ECAL1:0:0: 0.98 hits/event")}
DRIFT = {"ECAL1:0:0": (ac.MAJOR, "ECAL1:0:0: LED pulse +11.9%"),
         "calibration peak": (ac.MAJOR, "calibration peak +8.1%")}


def raises(h):
    return [(e["name"], e["what"]) for e in h.log if e["what"].startswith("raised")]


def test_a_hot_ecal_cell_raises_one_alarm_its_drift_shown_under_it(detector):
    h = handler(detector, {"hot channel": [HOT] * 3, "gain drift": [DRIFT] * 3})
    spills(h, 1, 3)
    assert raises(h) == [("hot channel", "raised MINOR")]
    drift = h.alarms["gain drift"]
    assert drift.state == "suppressed" and drift.suppressed_by == ["hot channel"]
    assert set(drift.suppressed) == {"ECAL1:0:0", "calibration peak"}
    assert "consequence of hot channel: ECAL1:0:0" in drift.text()
    assert [a["name"] for a in raised(h.header())] == ["hot channel"]
    shown = {a["name"]: a for a in h.header()["alarms"]}
    assert shown["gain drift"]["suppressed_by"] == ["hot channel"]


def test_a_root_failing_before_its_filter_lets_it_rise_still_holds_its_consequence(detector):
    """The drift passes its 2-of-3 filter a spill before the hot cell does."""
    h = handler(detector, {"hot channel": [{}, HOT, HOT], "gain drift": [DRIFT] * 3})
    spills(h, 1, 2)
    assert raises(h) == [] and h.alarms["gain drift"].state == "suppressed"
    spills(h, 3, 3)
    assert raises(h) == [("hot channel", "raised MINOR")]


def test_what_the_root_does_not_explain_is_raised(detector):
    other = {"ECAL1:3:3": (ac.MAJOR, "ECAL1:3:3: LED pulse -12%"), **DRIFT}
    h = handler(detector, {"hot channel": [HOT] * 2, "gain drift": [other] * 2})
    spills(h, 1, 2)
    drift = h.alarms["gain drift"]
    assert set(drift.items) == {"ECAL1:3:3"} and drift.state == "active"
    assert set(drift.suppressed) == {"ECAL1:0:0", "calibration peak"}
    # a hot HCAL cell does not move the electrons' ECAL energy
    hcal = {"HCAL0:1:1": (ac.MINOR, "HCAL0:1:1 hot")}
    peak = {"calibration peak": (ac.MAJOR, "calibration peak +8.1%")}
    h = handler(detector, {"hot channel": [hcal] * 2, "gain drift": [peak] * 2})
    spills(h, 1, 2)
    assert [n for n, _ in raises(h)] == ["hot channel", "gain drift"]


def test_a_consequence_raised_before_its_root_is_known_goes_under_it(detector):
    """A crate's missing fragments raise at a spill; then its process is found silent: the
    incomplete events are its consequence from then on, and the log says so."""
    h = handler(detector, {"incomplete events": [{"source 3": (ac.MAJOR, "source 3 "
                                                               "missing from 100%")}] * 3,
                           "process not answering": [{"source-3": (
                               ac.MAJOR, "source-3: no heartbeat for 4 s")}] * 3}, exact=True)
    spills(h, 1, 1)
    assert raises(h) == [("incomplete events", "raised MAJOR")]
    h.state(ac.StateData(1002.0, {}, 0.0, {}, {}, 1))
    assert ("process not answering", "raised MAJOR") in raises(h)
    incomplete = h.alarms["incomplete events"]
    assert incomplete.severity == ac.OK and incomplete.suppressed_by == [
        "process not answering"]
    assert any(e["what"] == "suppressed, consequence of process not answering"
               for e in h.log)


def test_an_alarm_restored_after_a_restart_is_not_cleared_before_its_check_runs(detector):
    h = handler(detector, {"dead channel": [{}], "process not answering": [{}]})
    h.alarms["dead channel"].restore({"severity": ac.MAJOR, "latched": ac.MAJOR, "items": {
        "S0": [ac.MAJOR, "S0 dead"]}})
    h.state(ac.StateData(1000.0, {}, 0.0, {}, {}, 1))  # a state check runs first
    assert h.alarms["dead channel"].severity == ac.MAJOR
    assert not [e for e in h.log if e["what"] == "cleared"]
