"""``na64daq reco``: a run's reconstruction computed again from what its file records."""


import h5py
import numpy as np
import pytest
from conftest import analytic_template, reconstruction_digests, run_to_end

from daq.app.cli import main
from daq.core.records import CHANNEL_DTYPE, RECO_DTYPE
from daq.run_file import layout as L

pytestmark = pytest.mark.timeout(600)

@pytest.mark.parametrize("workers", [2, 3])
def test_reco_reproduces_a_daq_runs_online_reconstruction_bit_for_bit(daq, tmp_path, capsys,
                                                                       workers):
    sup = daq(**{"workers.count": workers, "builder.batch_events": 32,
                 "emulator.trigger.random_rate_hz": 400.0})
    ledger = run_to_end(sup)
    assert sup.outcome == "stopped" and ledger["balanced"], sup.error
    path = sup.procs["writer"].counters["file"]
    with h5py.File(path, "r") as f:
        states = f[L.RECO_STATE][()]
        events = f[L.EVENTS].shape[0]
        seen = {w for w in ledger["stages"]["workers"]
                if ledger["stages"]["workers"][w].get("batches")}
    # the state the workers learnt moved along the run, batch by batch: a reproduction that
    # ignored it would differ (checked below), so the test can fail
    assert states["recorded"].all() and states["n_rows"].sum() == events
    assert len(np.unique(states["pedestal_adc"].reshape(len(states), -1), axis=0)) > 3
    assert len(seen) == workers
    out = tmp_path / "again.h5"
    assert main(["reco", path, "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "a reproduction: every column" in said, said
    online, again = reconstruction_digests(path), reconstruction_digests(out)
    assert len(online) == len(RECO_DTYPE.names) + len(CHANNEL_DTYPE.names)
    assert again == online
    with h5py.File(out, "r") as f:
        assert f.attrs["reconstruction"] == "reproduction"
    # relearnt from scratch instead, the values are not those of the run
    relearnt = tmp_path / "relearnt.h5"
    assert main(["reco", path, "--out", str(relearnt), "--relearn"]) == 0
    assert "a new reconstruction" in capsys.readouterr().out
    assert reconstruction_digests(relearnt) != online


def test_a_run_taken_with_learnt_templates_records_them_and_reproduces(daq, tmp_path, capsys,
                                                                       detector):
    """Templates in force in the conditions are the workers', the file records them, and the
    file alone reconstructs the run again bit for bit; without them the values differ."""
    from calib.conditions import ConditionsWriter
    from daq.core.run_database import RunDatabase
    from daq.reco.calibration_constants import CalibrationConstants
    from daq.run_file.reader import RunReader
    from daq.run_file.reprocessing import reprocess

    db = RunDatabase(tmp_path / "runs.db")  # the DAQ's
    ecal = detector.select("ECAL")
    ConditionsWriter(db, detector).write_templates(
        {detector.channels[c].name: analytic_template(36.0) for c in ecal}, first_run=1)
    db.close()
    sup = daq(**{"emulator.digitizer.true_pulse_scale": 1.2})
    ledger = run_to_end(sup)
    assert sup.outcome == "stopped" and ledger["balanced"], sup.error
    path = sup.procs["writer"].counters["file"]
    with RunReader(path) as run:
        calibration = run.provenance_json("calibration")
    assert sorted(map(int, calibration["pulse_templates"])) == sorted(ecal.tolist())
    assert "pulse_template@1" in calibration["tag"]
    assert main(["reco", path, "--out", str(tmp_path / "again.h5")]) == 0
    assert "a reproduction: every column" in capsys.readouterr().out
    nominal = reprocess(path, tmp_path / "nominal.h5",
                        constants=CalibrationConstants.nominal(detector).to_dict())
    assert reconstruction_digests(nominal["file"]) != reconstruction_digests(path)


def test_relearn_does_not_depend_on_the_batch_size(tmp_path, write_run):
    out = write_run(tmp_path)
    results = []
    for batch in (100, 333):
        from daq.run_file.reprocessing import reprocess

        r = reprocess(out.path, tmp_path / f"relearn-{batch}.h5", batch_events=batch,
                      relearn=True)
        assert not r["reproduction"] and r["reconstruction_tag"].startswith("relearned-")
        results.append(reconstruction_digests(r["file"]))
    assert results[0] == results[1]


def test_another_calibration_is_a_new_reconstruction_with_the_recorded_state(
        tmp_path, write_run, detector, capsys):
    import json

    from daq.reco.calibration_constants import CalibrationConstants

    out = write_run(tmp_path)
    constants = CalibrationConstants.nominal(detector)
    constants.tag = "t"  # what the file recorded: the same constants are a reproduction
    same = tmp_path / "same.json"
    same.write_text(json.dumps(constants.to_dict()))
    assert main(["reco", str(out.path), "--out", str(tmp_path / "a.h5"), "--calibration",
                 str(same)]) == 0
    assert "a reproduction" in capsys.readouterr().out
    constants.gev_per_adc = constants.gev_per_adc * 1.1
    other = tmp_path / "other.json"
    other.write_text(json.dumps(constants.to_dict()))
    assert main(["reco", str(out.path), "--out", str(tmp_path / "b.h5"), "--calibration",
                 str(other)]) == 0
    assert "a new reconstruction" in capsys.readouterr().out
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert f.attrs["reconstruction"] == "new"
        assert f.attrs["reconstruction_tag"].startswith("recorded-")
    with h5py.File(tmp_path / "a.h5", "r") as f:
        tag_a = f.attrs["reconstruction_tag"]
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert f.attrs["reconstruction_tag"] != tag_a


def test_every_file_says_what_it_was_made_from(tmp_path, write_run):
    from daq.run_file.reprocessing import reprocess

    out = write_run(tmp_path)
    again = reprocess(out.path, tmp_path / "again.h5")["file"]
    with h5py.File(out.path, "r") as run, h5py.File(again, "r") as reco:
        for f in (run, reco):
            assert len(f.attrs["inputs_sha256"]) == 64 and len(f.attrs["config_sha256"]) == 64
            assert f.attrs["calibration_tag"] == "t" and f.attrs["software_version"]
        # the reconstruction's inputs include its source run: not the run file's own
        assert reco.attrs["inputs_sha256"] != run.attrs["inputs_sha256"]


def test_a_changed_learnt_state_fails_verification_and_shows_in_the_values(tmp_path,
                                                                           write_run, capsys):
    """The recorded state is what the values depend on, and is checksummed like the data."""
    path = write_run(tmp_path).path
    with h5py.File(path, "r+") as f:
        states = f[L.RECO_STATE]
        row = states[3]
        row["pedestal_adc"][:, :] += 0.25  # a quarter of an ADC count on every channel
        states[3] = row
        lo, n = int(row["first_row"]), int(row["n_rows"])
    assert main(["reco", str(path), "--out", str(tmp_path / "a.h5")]) == 2
    err = capsys.readouterr().err
    assert f"/{L.RECO_STATE} checksum differs" in err and err.count("\n") == 1, err
    assert main(["reco", str(path), "--out", str(tmp_path / "b.h5"), "--no-verify"]) == 1
    said = capsys.readouterr().out
    assert "NOT a reproduction" in said and "reco/events:e_ecal_gev: " in said, said
    with h5py.File(path, "r") as run, h5py.File(tmp_path / "b.h5", "r") as again:
        a, b = run[L.RECO]["e_ecal_gev"], again[L.RECO]["e_ecal_gev"]
    changed = np.flatnonzero(a != b)
    assert len(changed) and changed.min() >= lo and changed.max() < lo + n  # that batch only


def test_a_reproduction_elsewhere_is_judged_within_rounding_or_not(tmp_path, write_run):
    """What another platform may give (floats a few ULP apart, a class changed where a value
    sits within rounding of a cut) against a real difference."""
    import shutil

    from daq.run_file.digests import rounding_report
    from daq.run_file.reader import RunReader

    path = write_run(tmp_path).path
    near, far = tmp_path / "near.h5", tmp_path / "far.h5"
    for copy, step in ((near, 1), (far, 1000)):
        shutil.copy(path, copy)
        with h5py.File(copy, "r+") as f:
            reco = f[L.RECO][()]
            e = reco["e_ecal_gev"]
            for _ in range(step):  # `step` representable floats up
                e = np.nextafter(e, np.float32(np.inf))
            reco["e_ecal_gev"] = e
            reco["event_class"][3] = (reco["event_class"][3] + 1) % 4  # one class changed
            f[L.RECO][...] = reco
    with RunReader(path) as a, RunReader(near) as b:
        r = rounding_report(a, b)
    assert r["within_rounding"] and r["max_ulp"] == 1 and len(r["events_differing"]) == 1
    with RunReader(path) as a, RunReader(far) as b:
        r = rounding_report(a, b)
    assert not r["within_rounding"] and r["max_ulp"] >= 999
    assert r["events_differing"][0][2] is False
