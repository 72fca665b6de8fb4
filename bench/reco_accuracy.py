"""Reconstruction accuracy against the emulator's truth: the tables of docs/reconstruction.md.

    python bench/reco_accuracy.py [--events 6000] [--json]

ECAL resolution and bias for electrons at 20/50/100 GeV; pileup at 1/3/5/7e6 e-/spill (good
events lost and energy bias, NA64's rule and ours side by side); SRD hadron suppression and
electron efficiency; time resolution for 1 GeV and 50 GeV pulses.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from daq.core import records as er
from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.reco.reco_config import RecoConfig
from daq.reco.reconstruction import Reconstruction
from emulator.config import ELECTRON, HADRON, EmulatorConfig
from emulator.emulator import Emulator

#: Pileup this close to the trigger (ns) makes one pulse with the in-time one in every cell.
UNRESOLVABLE_NS = 10.0


def run(detector, n_events: int, overrides: dict, reco_overrides: dict | None = None,
        constants=None, spill: int = 1):
    """One emulated spill of about ``n_events`` (90 % calibration triggers) reconstructed:
    (reco, per-channel (time, amplitude), truth, events, emulator)."""
    rate = n_events / 4.8
    em = Emulator(load(EmulatorConfig, None, {
        "trigger.physics_rate_hz": 0.1 * rate, "trigger.calibration_rate_hz": 0.9 * rate,
        "trigger.random_rate_hz": 0.02 * rate, "run.batch_events": 256, **overrides}), detector)
    rec = Reconstruction(detector, load(RecoConfig, None, reco_overrides or {}), constants)
    out = {"reco": [], "time": [], "truth": [], "events": []}
    for b in em.batches(em.spill_plan(spill)):
        r, ch = rec(b.samples_in_map_order(detector), b.events)
        out["reco"].append(r)
        out["time"].append(np.stack([ch.time_ns, ch.amplitude_adc], 2))
        out["truth"].append({**b.truth, "nearest_pileup_ns": b.nearest_pileup_ns()})
        out["events"].append(b.events)
    truth = {k: np.concatenate([t[k] for t in out["truth"]]) for k in (
        "class", "trigger", "e_ecal_gev", "n_pileup_window", "t_peak_ns", "deposit_gev",
        "gain_factor", "nearest_pileup_ns")}
    return (np.concatenate(out["reco"]), np.concatenate(out["time"]), truth,
            np.concatenate(out["events"]), em)


def resolution(detector, n) -> list[dict]:
    rows = []
    for e_gev in (20.0, 50.0, 100.0):
        reco, _, truth, _, em = run(detector, n, {"beam.energy_gev": e_gev,
                                                  "beam.intensity_per_spill": 1e6},
                                    {"classes.beam_energy_gev": e_gev})
        el = (truth["class"] == ELECTRON) & (truth["trigger"] == 2) & (
            truth["n_pileup_window"] == 0)
        e_reco, e_true = reco["e_ecal_gev"][el], truth["e_ecal_gev"][el]
        r = em.cfg.response
        expected = np.hypot(r.ecal_stochastic / np.sqrt(e_gev), r.ecal_constant)
        rows.append({"beam_gev": e_gev, "events": int(el.sum()),
                     "sigma_over_e_reco": float(_robust_sigma(e_reco) / np.median(e_reco)),
                     "sigma_over_e_truth": float(_robust_sigma(e_true) / np.median(e_true)),
                     "sigma_over_e_emulated": float(expected),
                     "bias": float(np.median(e_reco / e_true) - 1)})
    return rows


def pileup(detector, n) -> list[dict]:
    rows = []
    for intensity in (1e6, 3e6, 5e6, 7e6):
        reco, _, truth, _, _ = run(detector, n, {"beam.intensity_per_spill": intensity})
        good = (truth["class"] == ELECTRON) & (truth["trigger"] == 2)
        # no fit separates a second particle this close: both rules can only lose such events
        close = truth["nearest_pileup_ns"] < UNRESOLVABLE_NS
        row = {"intensity": intensity, "good_events": int(good.sum()),
               "with_pileup_in_window": float((truth["n_pileup_window"][good] > 0).mean()),
               "with_pileup_within_10ns": float(close[good].mean())}
        for name, bit in (("na64", er.EV_PILEUP_NA64), ("ours", er.EV_PILEUP_OURS)):
            lost = (reco["flags"][good] & bit) > 0
            kept = good.copy()
            kept[good] = ~lost
            piled = kept & (truth["n_pileup_window"] > 0)
            ratio = reco["e_ecal_gev"][piled] / truth["e_ecal_gev"][piled]
            row[f"{name}_lost"] = float(lost.mean())
            row[f"{name}_lost_without_pileup_within_10ns"] = float(lost[~close[good]].mean())
            row[f"{name}_bias_with_pileup"] = float(np.median(ratio) - 1)
            row[f"{name}_tail_below_90pct"] = float((ratio < 0.9).mean())
            row[f"{name}_tail_above_110pct"] = float((ratio > 1.1).mean())
        rows.append(row)
    return rows


def srd(detector, n) -> dict:
    """Hadron suppression needs statistics: ten times the other runs' events."""
    reco, _, truth, _, _ = run(detector, 10 * n, {"beam.hadron_fraction": 0.3})
    cal = truth["trigger"] == 2
    el, had = cal & (truth["class"] == ELECTRON), cal & (truth["class"] == HADRON)
    n_had = int(had.sum())
    tags = int(reco["srd_tag"][had].sum())
    side_tags = int(reco["srd_sideband_tag"][had].sum())
    cfg = RecoConfig().srd
    scale = 2 * cfg.window_ns / (cfg.sideband_hi_ns - cfg.sideband_lo_ns)  # side band -> window
    rate, accidental = tags / n_had, scale * side_tags / n_had
    # hadrons' own SR tags: the tags less the accidentals the side band predicts; their 95 %
    # upper limit (Gaussian, both counts Poisson) gives a lower limit on the suppression
    excess = tags - scale * side_tags
    upper = max(excess, 0.0) + 1.645 * (tags + scale ** 2 * side_tags) ** 0.5
    return {"electron_efficiency": float(reco["srd_tag"][el].mean()), "electrons": int(el.sum()),
            "hadrons": n_had, "hadron_tags": tags, "hadron_sideband_tags": side_tags,
            "hadron_tag_rate": rate, "suppression": 1 / rate if rate else None,
            "accidental_rate_from_sideband": accidental,
            # None: the side band explains every hadron tag (no central value can be quoted)
            "suppression_after_accidentals": 1 / (rate - accidental) if rate > accidental
            else None,
            "suppression_after_accidentals_95cl_lower_limit": n_had / upper if upper else None}


def timing(detector, n) -> list[dict]:
    _, tch, truth, _, em = run(detector, n, {"beam.intensity_per_spill": 1e6})
    adc = em.adc_per_gev
    rows = []
    for cells, name in ((detector.ecal_main, "ECAL main"), (detector.hcal_module(0), "HCAL")):
        e_cell = truth["deposit_gev"][:, cells]
        dt = tch[:, cells, 0] - truth["t_peak_ns"][:, None]
        for e_gev in (1.0, 50.0):
            sel = (np.abs(e_cell / e_gev - 1) < 0.1) & np.isfinite(dt) & (
                truth["n_pileup_window"][:, None] == 0)
            if sel.sum() < 20:
                continue
            amp = e_gev * float(np.median(adc[cells]))
            r = em.cfg.response
            rows.append({"detector": name, "energy_gev": e_gev, "pulses": int(sel.sum()),
                         "amplitude_adc": amp, "sigma_t_ns": float(_robust_sigma(dt[sel])),
                         "emulated_jitter_ns": float(np.hypot(r.time_jitter_ns,
                                                              r.time_jitter_adc_ns / amp))})
    return rows


def _robust_sigma(x: np.ndarray) -> float:
    q25, q75 = np.percentile(x, [25, 75])
    return float((q75 - q25) / 1.349)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=6000, help="events per emulated run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    det = Detector.load()
    result = {"resolution": resolution(det, args.events), "pileup": pileup(det, args.events),
              "srd": srd(det, args.events), "timing": timing(det, args.events)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
