"""``na64daq calib hcal``."""

from __future__ import annotations

import argparse
from pathlib import Path

from calib.calib_config import CalibConfig
from calib.commands.gain_run import calibration_triggers, gain_script, progress, propose_gains
from calib.hcal_calibration import calibrate_hcal
from daq.conditions import Conditions
from daq.core.config_schema import load


def add_arguments(cs: argparse._SubParsersAction) -> None:
    gain_script(cs, "hcal", "HCAL gains from a muon run",
                "Per cell, the MIP peak of the muons that the other modules tag as crossing it "
                "(tag and probe: the cell's own amplitude selects nothing), over the reference "
                "MIP peak: new gains (valid from the muon run on, following later HV changes).",
                "muon run (muons over the whole HCAL face)")


def run(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).hcal
    run, amplitude, gain_old = calibration_triggers(args, cond.detector)
    with progress(args, len(cond.detector.select("HCAL")), "HCAL") as bar:
        result = calibrate_hcal(amplitude, cond.detector, gain_old, cfg, bar.update)
    text = (f"calib hcal from {Path(args.source).name}: {len(result.gains)} of "
            f"{len(result.cells)} cells, {result.muons} muons")
    return propose_gains(args, cond, run, len(amplitude), result.cells, result.notes, text,
                          {"muons": result.muons}, "MIP amplitude (ADC) of muons tagged "
                          "by the other modules")
