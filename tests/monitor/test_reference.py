"""Reference histograms: the automatic choice (the last good run of the same beam energy,
trigger and HV version, in a real run database), the crew's override with its differences,
the overlay's scaling and ratio, and the shape tests."""

import json

import numpy as np
import pytest

from calib.conditions import ConditionsWriter
from daq.core.config_schema import ConfigError, to_dict
from daq.core.run_database import RunDatabase
from daq.processes.daq_config import DaqConfig
from monitor import reference as ref
from monitor import saved_histograms
from monitor import snapshot as proto
from monitor.histogram_server import HistogramServer


def _saved(detector, filler, path, run, calibration_counts):
    server = HistogramServer(detector, filler)
    server.run = run
    server.run_set["calibration_energy"][:] = calibration_counts
    saved_histograms.save(proto.decode(server.snapshot()), path)


@pytest.fixture
def runs(tmp_path, detector, filler):
    """Runs 1-4: 1 good (HV version A), 2 good but under HV version B, 3 ended in error
    (HV A), 4 the current run (HV A). Monitor files beside the run files of 1-3."""
    db = RunDatabase(tmp_path / "runs.db")
    config = to_dict(DaqConfig())
    config["writer"]["directory"] = str(tmp_path)
    shape = np.zeros(300)
    shape[190:210] = np.arange(1, 21)  # a peak
    for run, state in ((1, "finished"), (2, "stopped"), (3, "error"), (4, "running")):
        assert db.new_run(config) == run
        if state != "running":
            db.close_run(run, state, {"balanced": state != "error"})
        if run < 4:
            _saved(detector, filler, tmp_path / f"run_{run:06d}.monitor.h5", run, shape * run)
    cond = ConditionsWriter(db, detector)
    cond.write("hv_v", {"ECAL1:3:3": 1000.0}, 1, author="t", comment="HV A")
    cond.write("hv_v", {"ECAL1:3:3": 1020.0}, 2, 2, author="t", comment="HV B, run 2 only")
    yield db
    db.close()


def test_the_automatic_choice_skips_another_hv_version_and_a_failed_run(runs, detector,
                                                                        tmp_path):
    choice = ref.choose(runs, detector, 4)
    assert (choice.run, choice.how, choice.differences) == (1, "automatic", [])
    assert choice.path == tmp_path / "run_000001.monitor.h5"


def test_a_run_whose_minor_alarm_still_fails_at_its_end_is_no_reference(runs, detector):
    """Its fault is in its histograms: a run with a hot cell to its end, taken as the next
    run's reference, raised a false dead channel there."""
    runs.add_summary(1, alarms=[{"name": "hot channel", "severity": "minor",
                                 "latched": "minor", "state": "active"}],
                     major_alarms_not_cleared=[])
    choice = ref.choose(runs, detector, 4)
    assert choice.run is None or choice.run != 1
    assert "run 1: alarm hot channel still failing at its end" in choice.skipped
    runs.add_summary(1, alarms=[{"name": "hot channel", "severity": "ok",  # it cleared
                                 "latched": "minor", "state": "cleared, unacknowledged"}],
                     major_alarms_not_cleared=[])
    assert ref.choose(runs, detector, 4).run == 1


def test_an_override_shows_what_differs(runs, detector):
    choice = ref.choose(runs, detector, 4, "2")
    assert choice.run == 2 and choice.how == "chosen"
    (diff,) = choice.differences
    assert diff.startswith("HV version: ") and "in the reference" in diff
    with pytest.raises(ConfigError, match="run 9: not in the run database"):
        ref.choose(runs, detector, 4, "9")


def test_without_a_matching_run_the_latest_good_one_is_taken_with_its_differences(
        runs, detector):
    config = runs.run(1)["config"]
    config["emulator"]["beam"]["energy_gev"] = 150.0
    runs.db.execute("UPDATE runs SET config = ? WHERE run = 1", (json.dumps(config),))
    choice = ref.choose(runs, detector, 4)
    assert choice.run == 2 and choice.how.startswith("automatic: no run with the same")
    assert any(d.startswith("HV version") for d in choice.differences)


def test_the_overlay_is_scaled_to_the_same_integral_with_its_ratio(runs, detector, tmp_path):
    reference = ref.load(tmp_path / "run_000001.monitor.h5")
    r_hist = ref.one_dimensional(reference, "calibration_energy")
    data = 3 * r_hist  # run 3's shape is three times run 1's
    scaled, ratio, err = ref.scaled(data, r_hist)
    assert scaled.sum() == pytest.approx(data.sum())
    assert np.allclose(scaled, data) and np.allclose(ratio[190:210], 1.0)
    assert np.isnan(ratio[:190]).all()  # empty reference bins: no ratio
    assert err[200] == pytest.approx(np.sqrt(1 / data[200] + 1 / r_hist[200]))
    assert ref.chi2_test(data, r_hist)["p"] > 0.99  # the same shape
    assert ref.ks_test(data, r_hist)["distance"] == pytest.approx(0.0, abs=1e-12)
    shifted = np.roll(data, 8)
    assert ref.chi2_test(shifted, r_hist)["p"] < 1e-6
    assert ref.ks_test(shifted, r_hist)["p"] < 1e-6
    assert ref.chi2_test(data[:195], r_hist[:195])["result"] == "too few"  # 15 entries


def test_chi2_of_two_samples_against_a_hand_computation():
    h, r = np.array([10.0, 20, 30, 40]), np.array([20.0, 20, 40, 20])
    n, m = h.sum(), r.sum()
    hand = sum((np.sqrt(m / n) * a - np.sqrt(n / m) * b) ** 2 / (a + b)
               for a, b in zip(h, r, strict=True))
    assert ref.chi2_test(h, r)["chi2"] == pytest.approx(hand) and ref.chi2_test(h, r)["ndf"] == 3


def test_the_reference_panel_draws_the_scaled_overlay(qtbot, runs, detector, tmp_path,
                                                      monkeypatch):
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from monitor.panels.reference import ReferencePanel, ReferenceSource

    monkeypatch.setenv("NA64DAQ_DB", str(tmp_path / "runs.db"))
    current = ref.load(tmp_path / "run_000002.monitor.h5")  # twice run 1's shape
    current.header["run"] = 4
    panel = ReferencePanel(detector, ReferenceSource(detector))
    qtbot.addWidget(panel)
    panel.prepare(current)
    panel.draw(current)
    assert panel.about.text().startswith("Reference: run 1 is the latest earlier run that "
                                         "ended finished, balanced")
    assert panel.mismatch.text() == ""
    x, y = panel.ref_curve.getData()
    assert np.allclose(y, ref.one_dimensional(current, "calibration_energy"))
    assert "chi2 / ndf" in panel.tests.text()
    panel.chosen.setText("2")
    panel._choose()
    panel.prepare(current)
    panel.draw(current)
    assert panel.about.text().startswith("Reference: run 2, chosen by the crew")
    assert panel.mismatch.text().startswith("Conditions differ: HV version")


def test_detector_maps_divided_by_the_reference_run(qtbot, detector, filler, tmp_path):
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from monitor.panels.detector_maps import DetectorMapsPanel
    from monitor.panels.reference import ReferenceSource

    def snapshot(run, hits):
        server = HistogramServer(detector, filler)
        server.run = run
        server.run_set["channel_events"][:] = 1000
        server.run_set["channel_hits"][:] = hits
        return proto.decode(server.snapshot())

    saved_histograms.save(snapshot(1, 500.0), tmp_path / "ref.monitor.h5")
    hits = np.full(detector.n_channels, 500.0)
    k = detector.index("ECAL1:2:3")
    hits[k] = 250.0
    panel = DetectorMapsPanel(detector, ReferenceSource(detector, str(tmp_path /
                                                                     "ref.monitor.h5")))
    qtbot.addWidget(panel)
    panel.ratio.setChecked(True)
    current = snapshot(2, hits)
    panel.prepare(current)
    panel.draw(current)
    main = panel.maps[1]
    assert main.values[k] == pytest.approx(0.5)
    others = np.delete(main.values, k)
    assert np.allclose(others[np.isfinite(others)], 1.0)
    assert "ratio" in panel.range_label.text() and "ref.monitor.h5" in panel.range_label.text()
