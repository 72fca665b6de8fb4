"""The signal-candidate selection (``daq/reco/event_class.py``, ``candidate`` in the
reconstruction's configuration) measured on the emulator: its efficiency, cut by cut, on
calibration-trigger electrons (100 GeV, the box aside) and on the A' signal class (physics
triggers in the box), and what stays in the box from the other classes. ``--json``."""

import json
import sys

import numpy as np

from daq.core import records as er
from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.reco.reconstruction import Reconstruction
from emulator.config import CLASS_NAMES, ELECTRON, SIGNAL, EmulatorConfig
from emulator.emulator import Emulator


def spill(intensity: float, seconds: float = 1.0, seed: int = 11):
    detector = Detector.load()
    em = Emulator(load(EmulatorConfig, None, {
        "spill.duration_s": seconds, "beam.intensity_per_spill": intensity * seconds / 4.8,
        "trigger.physics_rate_hz": 4000.0, "trigger.calibration_rate_hz": 4000.0,
        "trigger.random_rate_hz": 100.0, "trigger.led_rate_hz": 0.0, "run.seed": seed,
        "classes.signal_probability": 1e-3, "classes.signal_boost": 20.0}), detector)
    reco = Reconstruction(detector)
    parts = []
    for b in em.batches(em.spill_plan(1)):
        events = b.built_events()
        table, _ = reco(b.samples_in_map_order(detector), events)
        parts.append((table, b.truth["class"], events["trigger"]))
    table, truth, trigger = (np.concatenate(x) for x in zip(*parts, strict=True))
    return reco, table, truth, trigger


def cuts(reco: Reconstruction, t: np.ndarray) -> dict[str, np.ndarray]:
    """Each cut of the selection alone, and all together (the reconstruction's own)."""
    k = reco.cfg.candidate
    pileup = er.EV_PILEUP_OURS if reco.cfg.pileup.method == "ours" else er.EV_PILEUP_NA64
    srd = t["e_srd_gev"]
    return {"SRD window": ((srd >= k.srd_module_min_gev) & (srd <= k.srd_module_max_gev)).all(1),
            "veto": (t["e_veto_gev"] < k.veto_max_gev).all(1),
            "shower shape": t["ecal_shape_chi2"] < k.shape_chi2_max,
            "no pileup": (t["flags"] & pileup) == 0,
            "all": reco.candidates(t)}


def measure(intensity: float) -> dict:
    reco, t, truth, trigger = spill(intensity)
    c = reco.cfg.classes
    in_box = (t["e_ecal_gev"] < c.signal_ecal_max_gev) & \
        (t["e_hcal_gev"].sum(1) < c.signal_hcal_max_gev) & (trigger == 1)
    samples = {"calibration electrons": (trigger == 2) & (truth == ELECTRON),
               "A' signal in the box": in_box & (truth == SIGNAL)}
    selection = cuts(reco, t)
    out = {"intensity_per_spill": intensity, "efficiency": {}, "samples": {}}
    for name, sel in samples.items():
        out["samples"][name] = int(sel.sum())
        out["efficiency"][name] = {cut: float(ok[sel].mean()) for cut, ok in selection.items()}
    box = t["event_class"] == er.SIGNAL_BOX
    out["box_by_truth"] = {CLASS_NAMES[k]: int((box & (truth == k)).sum())
                           for k in np.unique(truth[box])}
    out["physics_triggers"] = int((trigger == 1).sum())
    return out


if __name__ == "__main__":
    rows = [measure(i) for i in (2e6, 5e6)]
    if "--json" in sys.argv:
        print(json.dumps(rows, indent=1))
        sys.exit()
    for r in rows:
        print(f"{r['intensity_per_spill']:.2g} e-/spill:")
        for name, eff in r["efficiency"].items():
            print(f"  {name} ({r['samples'][name]}): " +
                  ", ".join(f"{cut} {v:.1%}" for cut, v in eff.items()))
        print(f"  in the box of {r['physics_triggers']} physics triggers: {r['box_by_truth']}")
