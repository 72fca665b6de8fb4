"""The conditions database: look-up by run, history kept, writes all or nothing."""

import sqlite3

import pytest

from calib.conditions import ConditionsWriter
from daq.conditions import ConditionsError, LogEntry, diff
from daq.core.run_database import RunDatabase, RunDatabaseError


@pytest.fixture
def cond(tmp_path, detector):
    db = RunDatabase(tmp_path / "c.db")
    yield ConditionsWriter(db, detector)
    db.close()


def test_lookup_honours_interval_boundaries_open_ends_and_the_newest_version(cond):
    a = cond.write("hv_v", {"HCAL0:0:0": 800.0}, first_run=10, last_run=19)
    b = cond.write("hv_v", {"HCAL0:0:0": 810.0}, first_run=20)  # open-ended
    c = cond.write("hv_v", {"HCAL0:0:0": 805.0}, first_run=15, last_run=25)  # overlaps both
    assert cond.lookup("hv_v", 9) is None
    assert cond.lookup("hv_v", 10).id == a and cond.lookup("hv_v", 14).id == a
    assert cond.lookup("hv_v", 15).id == c and cond.lookup("hv_v", 25).id == c  # newest wins
    assert cond.lookup("hv_v", 26).id == b and cond.lookup("hv_v", 10**6).id == b
    assert cond.lookup("hv_v", 14).values == {"HCAL0:0:0": 800.0}  # history kept
    assert cond.lookup("adc_per_gev", 15) is None
    t = cond.write("hv_v", {"HCAL0:0:0": 700.0}, first_run=0, tag="test")
    assert cond.lookup("hv_v", 15).id == t and cond.lookup("hv_v", 15, tag="default").id == c


def test_missing_values_stay_missing_and_aliases_resolve(cond):
    v = cond.write("hv_v", {"0-0-1": None, "HCAL1:1:0": 900.0}, first_run=1)
    assert cond.version(v).values == {"HCAL1:0:0": None, "HCAL1:1:0": 900.0}
    w = cond.write("hv_v", {"HCAL1:0:0": 880.0, "HCAL1:1:0": 900.0}, first_run=1)
    assert diff(cond.version(v), cond.version(w)) == [("HCAL1:0:0", None, 880.0)]


@pytest.mark.parametrize("bad, match", [
    ({"kind": "gain"}, "unknown condition kind"),
    ({"values": {"HCAL9:0:0": 1.0}}, "unknown cell"),
    ({"first_run": 5, "last_run": 4}, "empty interval"),
])
def test_bad_writes_are_refused_and_write_nothing(cond, bad, match):
    args = {"kind": "hv_v", "values": {"HCAL0:0:0": 800.0}, "first_run": 1} | bad
    with pytest.raises(ConditionsError, match=match):
        cond.write(**args)
    assert cond.history() == [] and cond.entries() == []


def test_a_failure_inside_a_write_leaves_the_previous_version_in_force(cond):
    first = cond.write("hv_v", {"HCAL0:0:0": 800.0}, first_run=1)
    entry = LogEntry("new HVs", "test", values=[("HCAL0:0:0", "hv_v", 810.0),
                                                 ("NOT_A_CELL", "hv_v", 1.0)])
    with pytest.raises(ConditionsError):  # the logbook entry fails after the version rows
        cond.write("hv_v", {"HCAL0:0:0": 810.0}, first_run=1, entry=entry)
    assert cond.lookup("hv_v", 5).id == first and len(cond.history("hv_v")) == 1
    assert cond.entries() == []


def test_a_locked_database_is_an_error_and_nothing_is_written(tmp_path, detector):
    path = tmp_path / "c.db"
    cond = ConditionsWriter(RunDatabase(path), detector)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    cond.sql.execute("PRAGMA busy_timeout = 100")
    with pytest.raises(RunDatabaseError, match="another process is writing"):
        cond.write("hv_v", {"HCAL0:0:0": 800.0}, first_run=1)
    other.execute("ROLLBACK")
    assert cond.history() == []


def test_runs_and_conditions_share_the_file(tmp_path, detector):
    """(A file of a newer schema is refused for both: tests/daq/test_run_database.py.)"""
    db = RunDatabase(tmp_path / "c.db")
    run = db.new_run({"a": 1})
    ConditionsWriter(db, detector).write("hv_v", {"HCAL0:0:0": 800.0}, first_run=run)
    assert db.run(run)["run"] == run


def test_constants_for_a_run_take_what_is_in_force_and_keep_the_rest(cond, detector):
    from daq.reco.calibration_constants import CalibrationConstants

    base = CalibrationConstants.nominal(detector)
    v = cond.write("adc_per_gev", {"ECAL1:2:3": 50.0, "ECAL1:2:4": None}, first_run=10)
    cond.write("time_offset_ns", {"HCAL0:1:1": 2.5}, first_run=20)
    c = cond.constants(15, base)
    i, j, k = (detector.index(n) for n in ("ECAL1:2:3", "ECAL1:2:4", "HCAL0:1:1"))
    assert c.gev_per_adc[i] == 1 / 50.0 and c.gev_per_adc[j] == base.gev_per_adc[j]
    assert c.time_offset_ns[k] == 0.0 and cond.constants(20, base).time_offset_ns[k] == 2.5
    assert c.tag == f"run 15: adc_per_gev@{v}"
    assert cond.constants(5, base).tag == base.tag  # nothing in force: the base unchanged


def test_gains_follow_the_hv_set_points_as_hv_to_the_k(cond, detector):
    """Gains measured in run 5 at 1000 V; run 8 at 1050 V with k = 7 has gains x 1.05^7; a
    channel whose HV changed without a k keeps its gain and the tag says so."""
    from daq.reco.calibration_constants import CalibrationConstants

    base = CalibrationConstants.nominal(detector)
    a, b = "ECAL1:3:3", "ECAL1:2:2"
    cond.write("hv_v", {a: 1000.0, b: 1000.0}, first_run=1)
    gains = cond.write("adc_per_gev", {a: 40.0, b: 44.0}, first_run=5)
    assert cond.constants(5, base).gev_per_adc[detector.index(a)] == pytest.approx(1 / 40.0)
    hv = cond.write("hv_v", {a: 1050.0, b: 990.0}, first_run=8)
    k = cond.write("hv_k", {a: 7.0}, first_run=8)
    c = cond.constants(8, base)
    assert 1 / c.gev_per_adc[detector.index(a)] == pytest.approx(40.0 * 1.05 ** 7)
    assert 1 / c.gev_per_adc[detector.index(b)] == pytest.approx(44.0)  # no k: unchanged
    assert c.tag == (f"run 8: adc_per_gev@{gains} x (hv_v@{hv} / hv_v@1)^hv_k@{k} "
                     "(HV changed, no hv_k: 1 gains not scaled)")
    assert 1 / cond.constants(7, base).gev_per_adc[detector.index(a)] == pytest.approx(40.0)


def test_versions_written_together_are_all_or_nothing(cond):
    with pytest.raises(ConditionsError, match="unknown cell"):
        cond.write_versions({"hv_v": {"HCAL0:0:0": 900.0}, "hv_k": {"HCAL9:9:9": 7.0}},
                            first_run=1, entry=LogEntry("both", "me"))
    assert cond.history() == [] and cond.entries() == []
    ids = cond.write_versions({"hv_v": {"HCAL0:0:0": 900.0}, "hv_k": {"HCAL0:0:0": 7.0}},
                              first_run=1, entry=LogEntry("both", "me"))
    assert [v.kind for v in cond.history()] == ["hv_v", "hv_k"] and len(ids) == 2
    assert cond.entries()[0]["version"] == ids[0]


def test_versions_of_different_channels_combine_each_following_its_own_hvs(cond, detector):
    """calib hcal on muon run 2 written before calib ecal on run 1: both stay in force for
    run 3, per channel the newest version naming it, each gain moved from the set points of
    the run it was measured in."""
    from daq.reco.calibration_constants import CalibrationConstants

    e, h = "ECAL1:3:3", "HCAL0:1:1"
    cond.write("hv_v", {e: 1000.0, h: 1000.0}, first_run=1, last_run=1)
    cond.write("hv_v", {e: 1000.0, h: 1100.0}, first_run=2, last_run=2)
    hv3 = cond.write("hv_v", {e: 1050.0, h: 1050.0}, first_run=3)
    k = cond.write("hv_k", {e: 7.0, h: 6.0}, first_run=1)
    hcal = cond.write("adc_per_gev", {h: 30.0}, first_run=2)  # at 1100 V
    ecal = cond.write("adc_per_gev", {e: 40.0}, first_run=1)  # at 1000 V, written later
    v = cond.lookup("adc_per_gev", 3)
    assert v.values == {e: 40.0, h: 30.0} and v.sources == {e: ecal, h: hcal}
    assert cond.lookup("adc_per_gev", 1).values == {e: 40.0}  # run 1: the ECAL's only
    c = cond.constants(3, CalibrationConstants.nominal(detector))
    assert 1 / c.gev_per_adc[detector.index(e)] == pytest.approx(40.0 * 1.05 ** 7)
    assert 1 / c.gev_per_adc[detector.index(h)] == pytest.approx(30.0 * (1050 / 1100) ** 6)
    assert c.tag.startswith(f"run 3: adc_per_gev@{ecal}+{hcal} x (hv_v@{hv3} / ")
    assert c.tag.endswith(f")^hv_k@{k}")
    rewritten = cond.write("adc_per_gev", {e: 41.0, h: None}, first_run=3)  # NULL stands
    assert cond.lookup("adc_per_gev", 3).values == {e: 41.0, h: None}
    assert cond.lookup("adc_per_gev", 3).ids == str(rewritten)


@pytest.mark.parametrize("kind, value, match", [
    ("hv_v", 1e9, "outside"), ("hv_v", -500.0, "outside"), ("hv_v", float("nan"), "outside"),
    ("hv_max_v", 1e9, r"outside \(0, 2000\]"), ("hv_min_v", -1e9, "outside"),
    ("hv_k", 1e-9, "outside"), ("pedestal_even_adc", float("inf"), "outside"),
    ("adc_per_gev", 0.0, "outside"), ("hv_v", "high", "not a number"),
])
def test_no_value_out_of_range_enters_the_database(cond, kind, value, match):
    with pytest.raises(ConditionsError, match=match):
        cond.write(kind, {"HCAL0:0:0": value}, first_run=1)
    assert cond.history() == []


def test_hv_limits_cannot_cross_and_set_points_stay_within_them(cond):
    """The limits once in force bound every later set point, by any path; they themselves
    stay inside the hard bounds, below each other."""
    cond.write("hv_max_v", {"HCAL0:0:0": 1000.0}, first_run=1)
    with pytest.raises(ConditionsError, match="lower must be below the upper"):
        cond.write("hv_min_v", {"HCAL0:0:0": 1200.0}, first_run=1)
    with pytest.raises(ConditionsError, match="HV 1100 V is outside its limits 0-1000 V"):
        cond.write("hv_v", {"HCAL0:0:0": 1100.0}, first_run=5)
    cond.write("hv_v", {"HCAL0:0:0": 990.0}, first_run=5)  # within: accepted
    with pytest.raises(ConditionsError, match="outside"):  # the limit cannot be widened
        cond.write("hv_max_v", {"HCAL0:0:0": 2500.0}, first_run=1)
    # written together, new limits and set points are checked against each other
    cond.write_versions({"hv_max_v": {"HCAL0:0:0": 1500.0}, "hv_v": {"HCAL0:0:0": 1400.0}},
                        first_run=6)
    with pytest.raises(ConditionsError, match="outside its limits"):
        cond.write_versions({"hv_max_v": {"HCAL0:0:0": 1300.0},
                             "hv_v": {"HCAL0:0:0": 1400.0}}, first_run=7)
    assert [v.kind for v in cond.history()] == ["hv_max_v", "hv_v", "hv_max_v", "hv_v"]


def test_logbook_entries_refuse_absurd_readings(cond):
    for value in (1e9, -900.0, float("nan"), float("inf")):
        with pytest.raises(ConditionsError, match="outside"):
            cond.add_entries([LogEntry("shift", "test", values=[("HCAL0:0:0", "hv_v", value)])])
    assert cond.entries() == []
