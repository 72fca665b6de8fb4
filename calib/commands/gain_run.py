"""What the gain scripts (``calib ecal``, ``calib hcal``) share: their options, the
calibration triggers of a run file, progress, and turning per-cell peaks into a proposal."""

from __future__ import annotations

import argparse
import json

import numpy as np
from tqdm import tqdm

from calib.cell_gain import CellGain, finite_or_none, gains
from calib.commands.options import database_options
from calib.fit_figure import save_fit_figure
from calib.run_measurements import read_amplitudes, recorded_gains
from daq.conditions import Conditions, LogEntry
from daq.core.cli_arguments import no_verify_option
from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.run_file.verification import open_verified


def gain_script(cs: argparse._SubParsersAction, name: str, what: str, description: str,
                run: str) -> None:
    q = cs.add_parser(name, help=what, description=description)
    q.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help=f"run file of the {run}")
    no_verify_option(q)
    q.add_argument("--png", metavar="FILE", help="save the fits, one panel per cell")
    q.add_argument("--config", metavar="FILE", help="calibration defaults (TOML)")
    database_options(q)


def calibration_triggers(args: argparse.Namespace, det: Detector
                          ) -> tuple[int, np.ndarray, np.ndarray]:
    """The run number, the calibration triggers' amplitudes (events, channels; NaN where
    unusable) and the gains the run was taken with."""
    with open_verified(args.source, not args.no_verify) as source:
        gain_old = recorded_gains(source, det)
        amplitude = read_amplitudes(source, np.arange(det.n_channels), TriggerKind.CALIBRATION,
                                    quiet=args.json)
        return source.run, amplitude, gain_old


def progress(args: argparse.Namespace, cells: int, detector: str) -> tqdm:
    return tqdm(total=cells, desc=f"fitting {detector} cells", leave=False,
                disable=args.json or None)


def propose_gains(args: argparse.Namespace, cond: Conditions, run: int, events: int,
                   cells: list[CellGain], notes: list[str], text: str, summary: dict,
                   what_is_fitted: str) -> int:
    """What calib ecal and calib hcal share: the figure, the new adc_per_gev version with its
    logbook entry (unless a dry run, or nothing to propose), the table or the JSON."""
    if args.png:
        save_fit_figure(args.png, [(c.channel, c.fit) for c in cells],
                        title=f"calib {args.calib_command}, run {run}: {what_is_fitted}")
    proposed = gains(cells)
    version = None
    if proposed and not args.dry_run:
        entry = LogEntry(text, args.author, run, values=[v for c in cells for v in (
            (c.channel, "peak_adc", finite_or_none(c.fit.peak)),
            (c.channel, "adc_per_gev", c.gain_old), (c.channel, "adc_per_gev_new", c.gain_new))])
        version = cond.write("adc_per_gev", proposed, run, author=args.author, comment=text,
                             entry=entry)
    if args.json:
        print(json.dumps({"run": run, "events": events, **summary, "notes": notes,
                          "version": version, "first_run": run, "dry_run": args.dry_run,
                          "cells": [c.as_dict() for c in cells]}, indent=1))
        return 0
    print(f"{'cell':<12}{'section':<10}{'peak [ADC]':>11}{'events':>8}{'old':>9}{'new':>9}"
          "  [ADC/GeV]")
    for c in cells:
        new = f"{c.gain_new:9.4g}" if c.gain_new is not None else f"  refused: {c.fit.failed}"
        peak = "-" if np.isnan(c.fit.peak) else f"{c.fit.peak:.5g}"
        print(f"{c.channel:<12}{c.section:<10}{peak:>11}{c.fit.n:>8}{c.gain_old:9.4g}{new}")
    for note in notes:
        print(f"note: {note}")
    print(text + ("; dry run, nothing written" if args.dry_run else
                  f"; gains version {version} for runs from {run}" if version else
                  "; nothing written"))
    return 0
