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
from daq.config import load
from daq.detector import Detector
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.reconstruction import Reconstruction
from daq.wire_format import TriggerKind
from emulator.config import EmulatorConfig
from emulator.emulator import Emulator

TARGET_ADC, K = 2500.0, 7.0


def one_seed(detector: Detector, seed: int, per_cell: int) -> dict:
    duration = 0.5
    em = Emulator(load(EmulatorConfig, None, {
        "run.seed": seed, "run.spills": 36, "run.batch_events": 256, "beam.scan_ecal": True,
        "beam.intensity_per_spill": 1e5, "spill.duration_s": duration,
        "gains.hv_gain_spread": 0.1, "trigger.physics_rate_hz": 0.0,
        "trigger.calibration_rate_hz": per_cell / duration, "trigger.led_rate_hz": 100.0,
        "trigger.random_rate_hz": 20.0}), detector)
    nominal = CalibrationConstants.nominal(detector)
    rec = Reconstruction(detector, None, nominal)
    calib, led = [], []
    t0 = time.perf_counter()
    for spill in range(1, 37):
        for b in em.batches(em.spill_plan(spill)):
            events = b.built_events()
            amp = usable_amplitudes(rec.channels(b.samples_in_map_order(detector),
                                                 events).table())
            calib.append(amp[events["trigger"] == TriggerKind.CALIBRATION])
            led.append(amp[events["trigger"] == TriggerKind.LED])
    elapsed = time.perf_counter() - t0
    cfg = load(CalibConfig)
    result = calibrate_ecal(np.concatenate(calib), detector, 1 / nominal.gev_per_adc, cfg.ecal)
    ratio = np.array([c.gain_new / em.adc_per_gev[detector.index(c.channel)]
                      if c.gain_new else np.nan for c in result.cells])
    n = len(ratio) // 2
    # the HVs calib hv would set, and the LED pulses they would give (true gains, HV^k)
    lit = np.concatenate([detector.select("ECAL"), detector.select("HCAL")])
    median = np.nanmedian(np.concatenate(led)[:, lit], 0)
    after = []
    for i, a in zip(lit, median, strict=True):
        p = propose_hv(detector.channels[i].name, float(a), float(em.hv_v[i]), TARGET_ADC, K,
                       cfg.hv.min_v, cfg.hv.max_v, cfg.hv.max_step_v)
        true_led = em.led_gev[i] * em.adc_per_gev[i]
        after.append(true_led * (p.hv_new / em.hv_v[i]) ** K)
    after = np.array(after)
    x, y = cfg.ecal.scale_x, cfg.ecal.scale_y
    axis = ratio[n + y * 6 + x]
    return {"seed": seed, "events": int(sum(len(c) for c in calib)),
            "emulated_and_reconstructed_per_s": sum(len(c) + len(x) for c, x in zip(
                calib, led, strict=True)) / elapsed,
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
    duration = 0.5
    rate = per_cell * 9 / 0.85 / duration  # 9 cells a module; ~85 % tagged, on the face
    em = Emulator(load(EmulatorConfig, None, {
        "run.seed": seed, "run.batch_events": 256, "beam.particle": "muon",
        "beam.intensity_per_spill": 1e5, "spill.duration_s": duration,
        "gains.hv_gain_spread": 0.1, "trigger.physics_rate_hz": 0.0,
        "trigger.calibration_rate_hz": rate}), detector)
    nominal = CalibrationConstants.nominal(detector)
    rec = Reconstruction(detector, None, nominal)
    amp = []
    for b in em.batches(em.spill_plan(1)):
        events = b.built_events()
        a = usable_amplitudes(rec.channels(b.samples_in_map_order(detector), events).table())
        amp.append(a[events["trigger"] == TriggerKind.CALIBRATION])
    result = calibrate_hcal(np.concatenate(amp), detector, 1 / nominal.gev_per_adc,
                            load(CalibConfig).hcal)
    true = np.array([em.adc_per_gev[detector.index(c.channel)] for c in result.cells])
    ratio = np.array([c.gain_new if c.gain_new else np.nan for c in result.cells]) / true
    old = np.array([c.gain_old for c in result.cells]) / true
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
