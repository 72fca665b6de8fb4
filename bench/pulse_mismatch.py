"""The reconstruction against pulses its template does not describe: ECAL energy bias and
resolution for 100 GeV calibration electrons, and good events lost to the pileup rule at
5e6 e-/spill, with the emulator drawing the template itself, then pulses 20 % slower, 20 %
faster, and a 10 % channel-to-channel spread with a 10 % slow component
(``digitizer.true_pulse_*``, ``docs/reconstruction.md``); each before and after every channel's
template is learnt (``calib/template_learning.py``) from another spill of calibration electrons
and LED flashes of the same detector (same seed: the same channels' shapes).

    python bench/pulse_mismatch.py [--events 6000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from reco_accuracy import _robust_sigma, run  # noqa: E402

from calib.calib_config import CalibConfig  # noqa: E402
from calib.template_learning import learn_templates  # noqa: E402
from daq.core import records as er  # noqa: E402
from daq.core.config_schema import load  # noqa: E402
from daq.core.detector import Detector  # noqa: E402
from daq.reco.calibration_constants import CalibrationConstants  # noqa: E402
from daq.reco.reco_config import RecoConfig  # noqa: E402
from emulator.config import ELECTRON, EmulatorConfig  # noqa: E402
from emulator.emulator import Emulator  # noqa: E402

#: the spill the templates are learnt from: calibration electrons and LED flashes
LEARNING_SPILL = {"trigger.calibration_rate_hz": 800.0, "trigger.led_rate_hz": 200.0,
                  "trigger.physics_rate_hz": 10.0, "beam.intensity_per_spill": 1e6,
                  "run.batch_events": 256}

SHAPES = {"template": {}, "20 % slower": {"digitizer.true_pulse_scale": 1.2},
          "20 % faster": {"digitizer.true_pulse_scale": 0.8},
          "spread 10 % + slow 10 %": {"digitizer.true_pulse_spread": 0.1,
                                      "digitizer.slow_fraction": 0.1}}


def learnt_constants(detector: Detector, shape: dict) -> tuple[CalibrationConstants, dict]:
    """Nominal constants with the templates learnt from spill 2 of a calibration run drawn
    with ``shape``, and what the learning reports."""
    em = Emulator(load(EmulatorConfig, None, {**LEARNING_SPILL, **shape}), detector)
    batches = list(em.batches(em.spill_plan(2)))
    t0 = time.perf_counter()
    learnt = learn_templates(np.concatenate([b.samples_in_map_order(detector) for b in batches]),
                             np.concatenate([b.built_events() for b in batches]), detector,
                             RecoConfig(), CalibrationConstants.nominal(detector),
                             load(CalibConfig).templates)
    constants = CalibrationConstants.nominal(detector)
    constants.pulse_templates = {detector.index(n): t for n, t in learnt.templates.items()}
    return constants, {"channels_learnt": len(learnt.templates), "events": learnt.events,
                       "last_change": learnt.change[-1] if learnt.change else None,
                       "seconds": time.perf_counter() - t0}


def measure(detector: Detector, n: int, shape: dict,
            constants: CalibrationConstants | None = None) -> dict:
    reco, _, truth, _, _ = run(detector, n, {"beam.intensity_per_spill": 1e6, **shape},
                               constants=constants)
    el = (truth["class"] == ELECTRON) & (truth["trigger"] == 2) & (truth["n_pileup_window"] == 0)
    ratio = reco["e_ecal_gev"][el] / truth["e_ecal_gev"][el]
    reco5, _, truth5, _, _ = run(detector, n, {"beam.intensity_per_spill": 5e6, **shape},
                                 constants=constants)
    good = (truth5["class"] == ELECTRON) & (truth5["trigger"] == 2) & (
        truth5["nearest_pileup_ns"] >= 10.0)
    lost = (reco5["flags"][good] & er.EV_PILEUP_OURS) > 0
    return {"electrons": int(el.sum()), "bias": float(np.median(ratio) - 1),
            "sigma_over_e": float(_robust_sigma(reco["e_ecal_gev"][el])
                                  / np.median(reco["e_ecal_gev"][el])),
            "good_events_lost_to_pileup_rule_5e6": float(lost.mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=6000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    detector = Detector.load()
    rows = {}
    for name, shape in SHAPES.items():
        constants, learning = learnt_constants(detector, shape)
        rows[name] = {"analytic template": measure(detector, args.events, shape),
                      "learnt templates": measure(detector, args.events, shape, constants),
                      "learning": learning}
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'drawn pulses':<26}{'fitted with':<20}{'E_ECAL bias':>12}{'sigma/E':>9}"
          f"{'lost (ours, 5e6)':>18}")
    for name, row in rows.items():
        for fitted in ("analytic template", "learnt templates"):
            r = row[fitted]
            print(f"{name:<26}{fitted:<20}{r['bias']:>+12.2%}{r['sigma_over_e']:>9.2%}"
                  f"{r['good_events_lost_to_pileup_rule_5e6']:>18.2%}")
        print(f"{'':<26}learnt {row['learning']['channels_learnt']} channels from "
              f"{row['learning']['events']} events in {row['learning']['seconds']:.1f} s")


if __name__ == "__main__":
    main()
