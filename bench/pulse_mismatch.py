"""The reconstruction against pulses its template does not describe: ECAL energy bias and
resolution for 100 GeV calibration electrons, and good events lost to the pileup rule at
5e6 e-/spill, with the emulator drawing the template itself, then pulses 20 % slower, 20 %
faster, and a 10 % channel-to-channel spread with a 10 % slow component
(``digitizer.true_pulse_*``, ``docs/reconstruction.md``).

    python bench/pulse_mismatch.py [--events 6000] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from reco_accuracy import _robust_sigma, run  # noqa: E402

from daq.core import records as er  # noqa: E402
from daq.core.detector import Detector  # noqa: E402
from emulator.config import ELECTRON  # noqa: E402

SHAPES = {"template": {}, "20 % slower": {"digitizer.true_pulse_scale": 1.2},
          "20 % faster": {"digitizer.true_pulse_scale": 0.8},
          "spread 10 % + slow 10 %": {"digitizer.true_pulse_spread": 0.1,
                                      "digitizer.slow_fraction": 0.1}}


def measure(detector: Detector, n: int, shape: dict) -> dict:
    reco, _, truth, _, _ = run(detector, n, {"beam.intensity_per_spill": 1e6, **shape})
    el = (truth["class"] == ELECTRON) & (truth["trigger"] == 2) & (truth["n_pileup_window"] == 0)
    ratio = reco["e_ecal_gev"][el] / truth["e_ecal_gev"][el]
    reco5, _, truth5, _, _ = run(detector, n, {"beam.intensity_per_spill": 5e6, **shape})
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
    rows = {name: measure(detector, args.events, shape) for name, shape in SHAPES.items()}
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'drawn pulses':<26}{'E_ECAL bias':>12}{'sigma/E':>9}{'lost (ours, 5e6)':>18}")
    for name, r in rows.items():
        print(f"{name:<26}{r['bias']:>+12.2%}{r['sigma_over_e']:>9.2%}"
              f"{r['good_events_lost_to_pileup_rule_5e6']:>18.2%}")


if __name__ == "__main__":
    main()
