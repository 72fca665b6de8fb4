"""How well the calibration scripts' arithmetic recovers the emulator's true gains.

    python bench/calibration_accuracy.py [--events-per-cell 2000] [--seeds 3] [--json]

Per seed: HVs mis-set by +-10 % in gain, a 36-spill ECAL scan with LED flashes emulated and
reconstructed in this process (the same kernels the workers run); the LED medians give new HVs
(``calib hv``'s formula), ``calibrate_ecal`` gives gains. Reported: the per-cell spread of the
new ECAL gains over the true ones (main section and preshower), the residual LED spread after
the HV change (predicted from the true gains), and the energy scale on the physics beam's cell.
Then a muon run with the HVs mis-set the same way: ``calibrate_hcal``'s new HCAL gains over the
true ones. The closed-loop integration test (tests/calib/test_calibration_loop.py) does the ECAL
part through the whole DAQ.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from calib.calib_config import CalibConfig
from calib.ecal_calibration import calibrate_ecal
from calib.hcal_calibration import calibrate_hcal
from calib.hv_table import propose_hv
from calib.run_measurements import usable_amplitudes
from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reconstruction import Reconstruction
from emulator.config import EmulatorConfig
from emulator.emulator import Emulator

TARGET_ADC, K = 2500.0, 7.0
DURATION_S = 0.5  # per spill
#: every run here: low intensity, no physics trigger, HVs mis-set by +-10 % in gain
MIS_SET_RUN = {"run.batch_events": 256, "beam.intensity_per_spill": 1e5,
               "spill.duration_s": DURATION_S, "gains.hv_gain_spread": 0.1,
               "trigger.physics_rate_hz": 0.0}


def emulated_amplitudes(detector: Detector, overrides: dict, spills: range,
                        kinds: tuple[TriggerKind, ...]) -> tuple[Emulator, dict, float]:
    """A mis-set run emulated and reconstructed in this process with the nominal gains (the
    kernels the workers run): the emulator, the usable amplitudes (events, channels) of each
    trigger kind, and the time it took (s)."""
    em = Emulator(load(EmulatorConfig, None, {**MIS_SET_RUN, **overrides}), detector)
    rec = Reconstruction(detector, None, CalibrationConstants.nominal(detector))
    amplitudes: dict = {k: [] for k in kinds}
    t0 = time.perf_counter()
    for spill in spills:
        for b in em.batches(em.spill_plan(spill)):
            events = b.built_events()
            amp = usable_amplitudes(rec.channels(b.samples_in_map_order(detector),
                                                 events).table())
            for k in kinds:
                amplitudes[k].append(amp[events["trigger"] == k])
    elapsed = time.perf_counter() - t0
    return em, {k: np.concatenate(v) for k, v in amplitudes.items()}, elapsed


def nominal_gains(detector: Detector) -> np.ndarray:
    return 1 / CalibrationConstants.nominal(detector).gev_per_adc


def gain_ratios(cells: list, em: Emulator, detector: Detector) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, new / true gain (NaN: refused) and old / true gain."""
    true = np.array([em.adc_per_gev[detector.index(c.channel)] for c in cells])
    new = np.array([c.gain_new if c.gain_new else np.nan for c in cells])
    return new / true, np.array([c.gain_old for c in cells]) / true


def one_seed(detector: Detector, seed: int, per_cell: int) -> dict:
    em, amp, elapsed = emulated_amplitudes(detector, {
        "run.seed": seed, "run.spills": 36, "beam.scan_ecal": True,
        "trigger.calibration_rate_hz": per_cell / DURATION_S, "trigger.led_rate_hz": 100.0,
        "trigger.random_rate_hz": 20.0}, range(1, 37), (TriggerKind.CALIBRATION, TriggerKind.LED))
    calib, led = amp[TriggerKind.CALIBRATION], amp[TriggerKind.LED]
    cfg = load(CalibConfig)
    result = calibrate_ecal(calib, detector, nominal_gains(detector), cfg.ecal)
    ratio, _ = gain_ratios(result.cells, em, detector)
    n = len(ratio) // 2
    # the HVs calib hv would set, and the LED pulses they would give (true gains, HV^k)
    lit = np.concatenate([detector.select("ECAL"), detector.select("HCAL")])
    median = np.nanmedian(led[:, lit], 0)
    after = []
    for i, a in zip(lit, median, strict=True):
        p = propose_hv(detector.channels[i].name, float(a), float(em.hv_v[i]), TARGET_ADC, K,
                       cfg.hv.min_v, cfg.hv.max_v, cfg.hv.max_step_v)
        true_led = em.led_gev[i] * em.adc_per_gev[i]
        after.append(true_led * (p.hv_new / em.hv_v[i]) ** K)
    after = np.array(after)
    x, y = cfg.ecal.scale_x, cfg.ecal.scale_y
    axis = ratio[n + y * 6 + x]
    return {"seed": seed, "events": len(calib),
            "emulated_and_reconstructed_per_s": (len(calib) + len(led)) / elapsed,
            "main_gain_spread_pct": 100 * float(np.nanstd(ratio[n:])),
            "main_gain_mean": float(np.nanmean(ratio[n:])),
            "preshower_gain_spread_pct": 100 * float(np.nanstd(ratio[:n])),
            "preshower_gain_mean": float(np.nanmean(ratio[:n])),
            "scale_cell_gain_ratio": float(axis),
            "refused": int(np.isnan(ratio).sum()),
            "led_spread_before_pct": 100 * float(np.std(median) / np.mean(median)),
            "led_after_worst_pct": 100 * float(np.abs(after / TARGET_ADC - 1).max()),
            "led_after_spread_pct": 100 * float(np.std(after) / np.mean(after)),
            "preshower_share": result.preshower_share}


def hcal_seed(detector: Detector, seed: int, per_cell: int) -> dict:
    """A muon run (~per_cell muons through each HCAL cell), HVs mis-set by +-10 % in gain."""
    rate = per_cell * 9 / 0.85 / DURATION_S  # 9 cells a module; ~85 % tagged, on the face
    em, amp, _ = emulated_amplitudes(detector, {
        "run.seed": seed, "beam.particle": "muon", "trigger.calibration_rate_hz": rate},
        range(1, 2), (TriggerKind.CALIBRATION,))
    result = calibrate_hcal(amp[TriggerKind.CALIBRATION], detector, nominal_gains(detector),
                            load(CalibConfig).hcal)
    ratio, old = gain_ratios(result.cells, em, detector)
    return {"seed": seed, "muons": result.muons,
            "muons_per_cell": float(np.mean([c.fit.n for c in result.cells])),
            "hcal_gain_spread_before_pct": 100 * float(np.std(old)),
            "hcal_gain_spread_pct": 100 * float(np.nanstd(ratio)),
            "hcal_gain_mean": float(np.nanmean(ratio)),
            "hcal_refused": int(np.isnan(ratio).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events-per-cell", type=int, default=2000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    detector = Detector.load()
    rows = [one_seed(detector, 20170902 + s, args.events_per_cell) for s in range(args.seeds)]
    hcal = [hcal_seed(detector, 20170902 + s, args.events_per_cell) for s in range(args.seeds)]
    if args.json:
        print(json.dumps({"machine": platform.processor() or platform.machine(),
                          "results": rows, "hcal": hcal}, indent=1))
        return
    print(f"{args.events_per_cell} calibration triggers per cell, 36 cells, +-10 % gains")
    for r in rows:
        print(f"seed {r['seed']}: new/true gain, main {r['main_gain_mean']:.4f} +- "
              f"{r['main_gain_spread_pct']:.2f} % per cell, preshower "
              f"{r['preshower_gain_mean']:.4f} +- {r['preshower_gain_spread_pct']:.2f} %, "
              f"scale cell {r['scale_cell_gain_ratio']:.4f}, {r['refused']} refused; LED "
              f"spread {r['led_spread_before_pct']:.2f} % -> {r['led_after_spread_pct']:.3f} % "
              f"(worst {r['led_after_worst_pct']:.3f} %); preshower share "
              f"{r['preshower_share']:.4f}; {r['emulated_and_reconstructed_per_s']:,.0f} "
              "events/s emulated + reconstructed")

    print(f"muon runs, about {args.events_per_cell} muons per HCAL cell, +-10 % gains")
    for r in hcal:
        print(f"seed {r['seed']}: {r['muons']} muons ({r['muons_per_cell']:.0f} per cell); "
              f"HCAL old/true gain spread {r['hcal_gain_spread_before_pct']:.2f} %, new/true "
              f"{r['hcal_gain_mean']:.4f} +- {r['hcal_gain_spread_pct']:.2f} % per cell, "
              f"{r['hcal_refused']} refused")


if __name__ == "__main__":
    main()
