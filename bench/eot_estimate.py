"""The EOT estimate from random triggers (``daq/run_file/spill_figures.py``) against the
emulator's true beam, at several intensities: the estimate over the truth, with its
statistical error. ``--json`` for machine-readable output."""

import json
import sys

from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.reco.reconstruction import Reconstruction
from daq.run_file.spill_figures import SpillFigures
from emulator.config import EmulatorConfig
from emulator.emulator import Emulator

INTENSITIES = (0.5e6, 2e6, 5e6, 8e6, 12e6)  # e- per 4.8 s spill


def measure(intensity: float, seconds: float = 1.0, random_rate_hz: float = 50000.0) -> dict:
    detector = Detector.load()
    em = Emulator(load(EmulatorConfig, None, {
        "spill.duration_s": seconds, "beam.intensity_per_spill": intensity * seconds / 4.8,
        "trigger.random_rate_hz": random_rate_hz, "trigger.physics_rate_hz": 0.0,
        "trigger.calibration_rate_hz": 0.0, "trigger.led_rate_hz": 0.0}), detector)
    reco, figures = Reconstruction(detector), SpillFigures(detector)
    for b in em.batches(em.spill_plan(1)):
        events = b.built_events()
        table, ch = reco(b.samples_in_map_order(detector), events)
        figures.add(events, table, ch.table())
    eot, error = figures.electrons_on_target()
    true = intensity * seconds / 4.8
    return {"intensity_per_spill": intensity, "estimate_over_truth": eot / true,
            "statistical_error": error / true}


if __name__ == "__main__":
    rows = [measure(i) for i in INTENSITIES]
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['intensity_per_spill']:8.2g} e-/spill: estimate / truth "
                  f"{r['estimate_over_truth']:.4f} +- {r['statistical_error']:.4f}")
