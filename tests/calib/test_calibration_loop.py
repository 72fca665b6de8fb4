"""The closed loop: HVs deliberately wrong (+-10 % in gain), a calibration run and a muon run
through the whole DAQ, `calib hv`, `calib ecal` and `calib hcal` on their files, a last run
with what they wrote: the LED amplitudes reach their target, the 100 GeV electrons their
energy, and the HCAL gains in force (measured at the old HVs, following the new ones) the
true gains."""

import json

import numpy as np
import pytest
from conftest import run_to_end

from calib.peak_fit import fit_peak
from calib.run_measurements import read_reference_amplitudes
from daq.app.cli import main
from daq.core.config_schema import load
from daq.core.wire_format import TriggerKind
from daq.run_file.reader import RunReader
from emulator.config import EmulatorConfig
from emulator.emulator import Emulator

TARGET_ADC, K = 2500.0, 7.0


def _calib(capsys, db, *argv):
    code = main(["calib", *argv, "--db", str(db), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def _take_run(sup) -> str:
    """A whole run; its file."""
    ledger = run_to_end(sup, timeout_s=300.0)
    assert sup.outcome == "stopped", sup.error
    assert ledger["balanced"]
    return sup.procs["writer"].counters["file"]


def test_wrong_hvs_are_corrected_by_a_calibration_run(daq, detector, tmp_path, capsys,
                                                      monkeypatch):
    db = tmp_path / "runs.db"  # the daq fixture's database: the DAQ reads what calib writes
    lit = np.concatenate([detector.select("ECAL"), detector.select("HCAL")])
    rng = np.random.default_rng(7)
    gain_spread = rng.uniform(0.9, 1.1, len(lit))
    wrong = tmp_path / "wrong-hv.toml"
    wrong.write_text("".join(f'"{detector.channels[i].name}" = {1000 * g ** (1 / K):.1f}\n'
                             for i, g in zip(lit, gain_spread, strict=True)))
    _calib(capsys, db, "set", "hv_v", str(wrong), "--first-run", "1")
    common = {"emulator.gains.hv_from_conditions": True,
              "emulator.beam.intensity_per_spill": 1e5,  # calibration runs: low intensity
              "emulator.trigger.physics_rate_hz": 0.0, "emulator.trigger.led_rate_hz": 100.0}

    # run 1: electrons aimed at each of the 36 cells in turn, LED flashes throughout
    first = _take_run(daq(**common, **{"emulator.beam.scan_ecal": True,
                                       "emulator.run.spills": 36,
                                       "emulator.trigger.calibration_rate_hz": 4000.0}))
    with RunReader(first) as f:
        before = read_reference_amplitudes(f, detector, ["ECAL", "HCAL"], 10, quiet=True)
    a1 = np.array(list(before.amplitude_adc.values()))
    assert a1.std() / a1.mean() > 0.04  # the HVs really were wrong

    # run 2: muons over the whole HCAL face
    muons = _take_run(daq(**common, **{"emulator.beam.particle": "muon",
                                       "emulator.run.spills": 2,
                                       "emulator.trigger.calibration_rate_hz": 12000.0}))

    hv = _calib(capsys, db, "hv", "--from", first, "--target", str(TARGET_ADC), "--k", str(K))
    assert hv["first_run"] == 3 and not any("refused" in c for c in hv["cells"])
    assert len(hv["cells"]) == len(lit)
    png = tmp_path / "ecal-fits.png"
    ecal = _calib(capsys, db, "ecal", "--from", first, "--png", str(png))
    assert ecal["first_run"] == 1 and not ecal["notes"]
    assert not any("refused" in c for c in ecal["cells"])
    assert png.stat().st_size > 10_000
    hcal = _calib(capsys, db, "hcal", "--from", muons)
    assert hcal["first_run"] == 2 and not hcal["notes"]
    assert not any("refused" in c for c in hcal["cells"])

    # run 3: the new HVs loaded, the beam on the central cell, the gains in force
    second = _take_run(daq(**common, **{"emulator.run.spills": 2,
                                        "emulator.trigger.calibration_rate_hz": 6000.0}))
    with RunReader(second) as f:
        after = read_reference_amplitudes(f, detector, ["ECAL", "HCAL"], 10, quiet=True)
        constants = f.provenance_json("calibration")
        tag = constants["tag"]
        ev, reco = f.column("events"), f.column("reco/events")
    electrons = (ev["trigger"] == TriggerKind.CALIBRATION) & (reco["e_hcal_gev"].sum(1) < 1.0)
    peak = fit_peak(reco["e_ecal_gev"][electrons])
    a2 = np.array(list(after.amplitude_adc.values()))
    worst = np.abs(a2 / TARGET_ADC - 1).max()
    print(f"\nreference amplitudes: spread {100 * a1.std() / a1.mean():.2f} % before, "
          f"{100 * a2.std() / a2.mean():.3f} % after, worst {100 * worst:.3f} % from "
          f"{TARGET_ADC:g} ADC ({len(a2)} PMTs)\nECAL peak {peak.peak:.3f} +- "
          f"{peak.peak_error:.3f} GeV ({peak.n} electrons); preshower share "
          f"{ecal['preshower_share']:.4f}; constants: {tag}")
    assert worst < 0.01
    assert peak.peak == pytest.approx(100.0, rel=0.005)
    # the HCAL's gains and the ECAL's, each following the HVs
    assert f"adc_per_gev@{hcal['version']}+{ecal['version']}" in tag and "hv_k@" in tag
    # the HCAL gains run 3 was reconstructed with, against the emulator's at run 3's HVs
    monkeypatch.setenv("NA64DAQ_DB", str(db))
    truth = Emulator(load(EmulatorConfig, None, {"gains.hv_from_conditions": True,
                                                 "run.number": 3}), detector)
    h = detector.select("HCAL")
    ratio = 1.0 / (np.array(constants["gev_per_adc"])[h] * truth.adc_per_gev[h])
    print(f"HCAL gains in force for run 3 / true: {ratio.mean():.4f} +- "
          f"{100 * ratio.std():.2f} % per cell ({hcal['muons']} muons)")
    assert abs(ratio.mean() - 1.0) < 0.01 and ratio.std() < 0.03
