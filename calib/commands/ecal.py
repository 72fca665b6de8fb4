"""``na64daq calib ecal``."""

from __future__ import annotations

import argparse
from pathlib import Path

from calib.calib_config import CalibConfig
from calib.cell_gain import finite_or_none
from calib.commands.gain_run import calibration_triggers, gain_script, progress, propose_gains
from calib.ecal_calibration import calibrate_ecal
from daq.conditions import Conditions
from daq.core.config_schema import load


def add_arguments(cs: argparse._SubParsersAction) -> None:
    gain_script(cs, "ecal", "ECAL gains from a calibration run",
                "Fit each cell's peak in the electron showers centred on it, convert with the "
                "central share and the measured preshower/main split, set the scale on the "
                "physics beam's cell, and propose new gains (valid from the calibration run "
                "on, following later HV changes).",
                "calibration run (electrons aimed at each cell)")


def run(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).ecal
    run, amplitude, gain_old = calibration_triggers(args, cond.detector)
    with progress(args, len(cond.detector.select("ECAL")), "ECAL") as bar:
        result = calibrate_ecal(amplitude, cond.detector, gain_old, cfg, bar.update)
    text = (f"calib ecal from {Path(args.source).name}: {len(result.gains)} of "
            f"{len(result.cells)} cells, preshower share {result.preshower_share:.4f}, "
            f"scale {result.scale:.5f}")
    summary = {"electrons": result.events,
               "preshower_share": finite_or_none(result.preshower_share),
               "preshower_weight": result.preshower_weight, "main_weight": result.main_weight,
               "scale": result.scale, "sum_peak_gev": finite_or_none(result.sum_fit.peak)}
    return propose_gains(args, cond, run, len(amplitude), result.cells, result.notes, text,
                          summary, "amplitude (ADC) of the cell hit")
