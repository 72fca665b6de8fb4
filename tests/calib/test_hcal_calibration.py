"""calib hcal against the emulator's true gains: a muon run taken with mis-set HVs, through
the reconstruction and a real run file."""

import json

import numpy as np
import pytest
from conftest import reconstructed_batches, write_run_file

from daq.app.cli import main

MUON_RUN = {"beam.particle": "muon", "trigger.physics_rate_hz": 0.0,
            "trigger.calibration_rate_hz": 40000.0, "spill.duration_s": 0.5,
            "beam.intensity_per_spill": 1e5, "gains.hv_gain_spread": 0.1,
            "run.batch_events": 256}


@pytest.fixture(scope="module")
def muon_run(tmp_path_factory, detector, make_emulator):
    """(emulator, run file) of a 20,000-muon run, HCAL gains spread by +-10 %."""
    em = make_emulator(**MUON_RUN)
    directory = tmp_path_factory.mktemp("muon-run")
    return em, write_run_file(directory, detector, reconstructed_batches(em, detector, (1,))).path


def _calib(capsys, *argv):
    code = main(["calib", *argv])
    return code, capsys.readouterr().out


def test_hcal_gains_from_muons_match_the_true_gains(muon_run, detector, tmp_path, capsys):
    em, path = muon_run
    db = ["--db", str(tmp_path / "c.db")]
    code, out = _calib(capsys, "hcal", "--from", str(path), "--json", *db)
    result = json.loads(out)
    assert code == 0 and result["run"] == 7 and result["muons"] > 15000
    cells = result["cells"]
    assert len(cells) == 36 and not any("refused" in c for c in cells)
    true = np.array([em.adc_per_gev[detector.index(c["cell"])] for c in cells])
    old = np.array([c["gain_old"] for c in cells]) / true
    new = np.array([c["gain_new"] for c in cells]) / true
    assert np.std(old) > 0.04  # the HVs were wrong (uniform +-10 %: 5.8 %)
    # ~2,000 muons per cell: 1.0 % per cell (measured), the mean over 36 cells to 0.2 %
    assert np.std(new) < 0.025 and abs(np.mean(new) - 1.0) < 0.01
    code, out = _calib(capsys, "show", "adc_per_gev", "--run", "7", "--json", *db)
    shown = json.loads(out)
    assert shown["id"] == result["version"] and shown["first_run"] == 7
    assert shown["values"] == {c["cell"]: c["gain_new"] for c in cells}


def test_hcal_dry_run_and_a_run_without_muons_write_nothing(muon_run, write_run, tmp_path,
                                                            capsys):
    db = ["--db", str(tmp_path / "c.db")]
    _, path = muon_run
    code, out = _calib(capsys, "hcal", "--from", str(path), "--dry-run", *db)
    assert code == 0 and "dry run, nothing written" in out and "HCAL" in out
    electrons = write_run(tmp_path / "runs").path  # electrons: no muon crosses the HCAL
    code, out = _calib(capsys, "hcal", "--from", str(electrons), "--json", *db)
    result = json.loads(out)
    assert result["version"] is None and result["muons"] == 0 and result["notes"]
    assert all("fewer than 200" in c["refused"] for c in result["cells"])
    code, out = _calib(capsys, "history", "--json", *db)
    assert json.loads(out) == []
