"""``na64daq calib hv``: new HVs from reference amplitudes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py

from calib.calib_config import CalibConfig
from calib.commands.options import database_options
from calib.commands.versions import next_run, value_in
from calib.hv_table import HvProposal, propose_hv
from calib.logbook import read_logbook
from calib.run_measurements import read_reference_amplitudes
from daq.conditions import ADC_MAX, HV_K_RANGE, PMT_RATED_MAX_V, Conditions, LogEntry
from daq.core.cli_arguments import RUN, no_verify_option, number
from daq.core.config_schema import load
from daq.run_file.verification import open_verified


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("hv", help="new HVs from reference amplitudes",
                      description="HV_new = HV (target/A)^(1/k) per cell, within the cell's "
                      "limits and a maximum step; writes the new HV version and a logbook "
                      "entry together.")
    q.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="measured amplitudes: a run file (its LED events) or a logbook in "
                   "the 2017 format")
    no_verify_option(q)
    q.add_argument("--target", type=number(float, 0.0, ADC_MAX, low_inclusive=False), required=True,
                   metavar="ADC",
                   help="target reference amplitude (2500 in the 2017 logbook)")
    q.add_argument("--k", type=number(float, *HV_K_RANGE),
                   help="HV-gain exponent (gain ~ HV^k) for every cell, recorded as their hv_k "
                   "(default: each cell's hv_k in the database)")
    q.add_argument("--max-step", type=number(float, 0.0, PMT_RATED_MAX_V, low_inclusive=False),
                   metavar="VOLTS",
                   help="largest change per iteration (default: config hv.max_step_v)")
    q.add_argument("--large-step", choices=("split", "refuse"),
                   help="a larger step is cut to the maximum or refused (default: config)")
    q.add_argument("--first-run", type=RUN, help="first run of validity (default: the next)")
    q.add_argument("--config", metavar="FILE", help="calibration defaults (TOML); see "
                   "'na64daq config --calib'")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config)
    first_run = args.first_run or next_run(cond)
    readings, run = reference_readings(args, cond, cfg)
    in_force = cond.lookup("hv_v", run or first_run)  # where the file has no HV
    current = dict(in_force.values) if in_force else {}
    limits = {k: cond.lookup(k, first_run) for k in ("hv_min_v", "hv_max_v", "hv_k")}

    def of(kind: str, cell: str, default: float | None) -> float | None:
        return value_in(limits[kind], cell, default)

    proposals: list[HvProposal] = []
    for cell, (amplitude, hv_file) in readings.items():
        proposals.append(propose_hv(
            cell, amplitude, hv_file if hv_file is not None else current.get(cell), args.target,
            args.k if args.k is not None else of("hv_k", cell, None),
            of("hv_min_v", cell, cfg.hv.min_v), of("hv_max_v", cell, cfg.hv.max_v),
            args.max_step if args.max_step is not None else cfg.hv.max_step_v,
            args.large_step or cfg.hv.large_step))
    accepted = {p.cell: p.hv_new for p in proposals if not p.refused}
    version = None
    if accepted and not args.dry_run:
        new_set = dict(current)
        new_set.update((p.cell, p.hv_old) for p in proposals if p.hv_old is not None)
        new_set.update(accepted)  # cells not adjusted keep their set point
        k_text = f"k {args.k:g}" if args.k is not None else "k from the database"
        entry = LogEntry(f"calib hv from {Path(args.source).name}: target {args.target:g} ADC, "
                         f"{k_text}; {len(accepted)} cells set, "
                         f"{len(proposals) - len(accepted)} refused", args.author, first_run,
                         values=[v for p in proposals for v in (
                             (p.cell, "amplitude_adc", p.amplitude), (p.cell, "hv_v", p.hv_old),
                             (p.cell, "hv_new_v", p.hv_new))])
        versions: dict[str, dict[str, float | None]] = {"hv_v": new_set}
        if args.k is not None:  # the gains follow these set points with the same k
            k_now = limits["hv_k"].values if limits["hv_k"] else {}
            if any(k_now.get(c) != args.k for c in accepted):
                versions["hv_k"] = dict(k_now) | dict.fromkeys(accepted, args.k)
        version = cond.write_versions(versions, first_run, author=args.author,
                                      comment=entry.text, entry=entry)[0]
    if args.json:
        print(json.dumps({"cells": [p.as_dict() for p in proposals], "version": version,
                          "first_run": first_run, "dry_run": args.dry_run}, indent=1))
        return 0
    name = {c: cond.detector.channel(c).alias or c for c in readings}
    print(f"{'cell':<8}{'name':<12}{'A [ADC]':>9}{'HV old':>9}{'HV new':>9}  note")
    for p in proposals:
        a = "-" if p.amplitude is None else f"{p.amplitude:.6g}"
        old = "-" if p.hv_old is None else f"{p.hv_old:g}"
        new = "-" if p.hv_new is None else f"{p.hv_new:g}"
        note = p.refused and f"refused: {p.refused}" or ("step cut to the maximum"
                                                        if p.limited else "")
        print(f"{name[p.cell]:<8}{p.cell:<12}{a:>9}{old:>9}{new:>9}  {note}")
    print(f"{len(accepted)} cells set, {len(proposals) - len(accepted)} refused; " + (
        "dry run, nothing written" if args.dry_run else
        f"HV version {version} for runs from {first_run}" if version else "nothing written"))
    return 0


def reference_readings(args: argparse.Namespace, cond: Conditions, cfg: CalibConfig
                        ) -> tuple[dict[str, tuple[float | None, float | None]], int | None]:
    """cell -> (reference amplitude, HV the source recorded), and the source's run: a run
    file's LED events, or the latest reading of each cell in a logbook."""
    if h5py.is_hdf5(args.source):
        with open_verified(args.source, not args.no_verify) as run:
            ref = read_reference_amplitudes(
                run, cond.detector, [d.strip() for d in cfg.led.detectors.split(",")],
                cfg.led.min_events, quiet=args.json)
        return ({c: (a, ref.hv_v.get(c)) for c, a in ref.amplitude_adc.items()}, ref.run)
    readings = {}
    for section in read_logbook(args.source, cond.detector):
        for c in section.cells:  # the latest reading of each cell
            readings[c.cell] = (c.amplitude_adc, c.hv_v)
    return readings, None
