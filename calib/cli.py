"""``na64daq calib ...``: the calibration scripts over the conditions database
(``docs/conditions.md``). Every script that writes has ``--dry-run``; every one has ``--json``
and ``--db``."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from calib.calib_config import CalibConfig
from calib.cell_gain import CellGain, finite_or_none, gains
from calib.conditions import ConditionsWriter
from calib.ecal_calibration import calibrate_ecal
from calib.fit_figure import save_fit_figure
from calib.hcal_calibration import calibrate_hcal
from calib.hv_table import HvProposal, propose_hv
from calib.logbook import read_logbook
from calib.run_measurements import read_amplitudes, read_reference_amplitudes, recorded_gains
from daq.conditions import (
    ADC_MAX,
    HV_K_RANGE,
    KINDS,
    NOTE_KINDS,
    PMT_RATED_MAX_V,
    Conditions,
    ConditionsError,
    LogEntry,
    Version,
    diff,
)
from daq.core.channel_table import read_value_table
from daq.core.cli_arguments import COUNT, RUN, number
from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.core.run_database import RunDatabase
from daq.core.wire_format import TriggerKind
from daq.run_file.verification import open_verified


def no_verify_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-verify", action="store_true",
                   help="read a run file without checking its blocks' checksums (experts)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calib", help="calibration scripts: HV tables, constants, the logbook",
                       description="Calibration scripts over the conditions database "
                       "(docs/conditions.md).")
    cs = p.add_subparsers(dest="calib_command", metavar="SCRIPT", required=True)

    def common(q: argparse.ArgumentParser, writes: bool = True) -> None:
        q.add_argument("--db", metavar="PATH", help="conditions database (default: "
                       "$NA64DAQ_DB or the per-user one)")
        q.add_argument("--detector", metavar="FILE", help="detector map (TOML)")
        q.add_argument("--json", action="store_true", help="machine-readable output")
        if writes:
            q.add_argument("--dry-run", action="store_true",
                           help="print the proposed change, write nothing")
            q.add_argument("--author", default=getpass.getuser(), help="logbook author")

    q = cs.add_parser("import-logbook", help="import a shift logbook (NA64 2017 format)",
                      description="Import the cell readings (X-Y-M A=... HV=...) of a shift "
                      "logbook as logbook entries; missing values stay missing.")
    q.add_argument("file")
    q.add_argument("--run", type=RUN, help="run the entries belong to")
    common(q)

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
    common(q)

    def gain_script(name: str, what: str, description: str, run: str) -> None:
        q = cs.add_parser(name, help=what, description=description)
        q.add_argument("--from", dest="source", required=True, metavar="FILE",
                       help=f"run file of the {run}")
        no_verify_option(q)
        q.add_argument("--png", metavar="FILE", help="save the fits, one panel per cell")
        q.add_argument("--config", metavar="FILE", help="calibration defaults (TOML)")
        common(q)

    gain_script("ecal", "ECAL gains from a calibration run",
                "Fit each cell's peak in the electron showers centred on it, convert with the "
                "central share and the measured preshower/main split, set the scale on the "
                "physics beam's cell, and propose new gains (valid from the calibration run "
                "on, following later HV changes).",
                "calibration run (electrons aimed at each cell)")
    gain_script("hcal", "HCAL gains from a muon run",
                "Per cell, the MIP peak of the muons that the other modules tag as crossing it "
                "(tag and probe: the cell's own amplitude selects nothing), over the reference "
                "MIP peak: new gains (valid from the muon run on, following later HV changes).",
                "muon run (muons over the whole HCAL face)")

    q = cs.add_parser("set", help="load a table of values as a new version",
                      description="A new version of KIND from a TOML table {channel = value} "
                      "(HV set points, limits, exponents, ...); HV set points outside a "
                      "channel's limits refuse the whole table.")
    q.add_argument("kind", choices=KINDS)
    q.add_argument("file")
    q.add_argument("--first-run", type=RUN, help="first run of validity (default: the next)")
    q.add_argument("--last-run", type=RUN, help="last run of validity (default: open)")
    q.add_argument("--config", metavar="FILE", help="calibration defaults (TOML)")
    common(q)

    q = cs.add_parser("show", help="the constants in force for a run")
    q.add_argument("kind", choices=KINDS)
    q.add_argument("--run", type=RUN, help="run (default: the next one)")
    q.add_argument("--tag", help="only versions of this tag")
    common(q, writes=False)

    q = cs.add_parser("history", help="every version of a kind")
    q.add_argument("kind", choices=KINDS, nargs="?")
    common(q, writes=False)

    q = cs.add_parser("diff", help="what changed between two versions")
    q.add_argument("old", type=COUNT)
    q.add_argument("new", type=COUNT)
    common(q, writes=False)

    q = cs.add_parser("note", help="a shift-crew note in the logbook",
                      description="Add a note (text, kind, run) to the logbook: what the "
                      "monitor's 'add entry' form writes.")
    q.add_argument("text", help="the note")
    q.add_argument("--kind", default="shift", choices=NOTE_KINDS)
    q.add_argument("--run", type=RUN, help="the run it is about")
    common(q)

    q = cs.add_parser("unblind", help="show the signal box of a range of runs (deliberate)",
                      description="Record runs FIRST-LAST as unblinded, with a logbook entry "
                      "(time, author, reason): from then on the monitor and the saved "
                      "histograms of these runs show the signal box. Asks for a confirmation "
                      "that names the range; --confirm gives it without a prompt.")
    q.add_argument("--runs", required=True, metavar="FIRST-LAST", help="run range, e.g. 12-15")
    q.add_argument("--reason", required=True, help="why (goes into the logbook)")
    q.add_argument("--confirm", metavar="TEXT",
                   help="the confirmation, exactly 'unblind runs FIRST-LAST'")
    common(q)

    q = cs.add_parser("logbook", help="the logbook as text or CSV")
    q.add_argument("--csv", action="store_true", help="one row per value")
    q.add_argument("--run", type=RUN)
    common(q, writes=False)


def run(args: argparse.Namespace) -> int:
    db = RunDatabase(args.db)
    try:
        cond = ConditionsWriter(db, Detector.load(args.detector))
        return COMMANDS[args.calib_command](args, cond)
    finally:
        db.close()


def _next_run(cond: Conditions) -> int:
    last = cond.db.run()
    return (last["run"] + 1) if last else 1


def cmd_import_logbook(args: argparse.Namespace, cond: Conditions) -> int:
    sections = read_logbook(args.file, cond.detector)
    entries = [LogEntry(f"{Path(args.file).name}:{s.line}: {s.text}", args.author, args.run,
                        values=[v for c in s.cells for v in ((c.cell, "amplitude_adc",
                                                              c.amplitude_adc),
                                                             (c.cell, "hv_v", c.hv_v))])
               for s in sections]
    summary = {"file": args.file, "entries": len(entries),
               "cells": sum(len(s.cells) for s in sections),
               "cells_without_hv": sum(c.hv_v is None for s in sections for c in s.cells),
               "written": not args.dry_run}
    if not args.dry_run:
        cond.add_entries(entries)
    if args.json:
        print(json.dumps(summary))
    else:
        for s in sections:
            print(f"line {s.line}: {s.text}: {len(s.cells)} cells")
        print(f"{summary['cells']} cells in {summary['entries']} entries "
              f"({summary['cells_without_hv']} without HV)"
              + ("; dry run, nothing written" if args.dry_run else " imported"))
    return 0


def cmd_hv(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config)
    first_run = args.first_run or _next_run(cond)
    readings, run = _reference_readings(args, cond, cfg)
    in_force = cond.lookup("hv_v", run or first_run)  # where the file has no HV
    current = dict(in_force.values) if in_force else {}
    limits = {k: cond.lookup(k, first_run) for k in ("hv_min_v", "hv_max_v", "hv_k")}

    def of(kind: str, cell: str, default: float | None) -> float | None:
        return _value(limits[kind], cell, default)

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


def _reference_readings(args: argparse.Namespace, cond: Conditions, cfg: CalibConfig
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


def cmd_ecal(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).ecal
    run, amplitude, gain_old = _calibration_triggers(args, cond.detector)
    with _progress(args, len(cond.detector.select("ECAL")), "ECAL") as bar:
        result = calibrate_ecal(amplitude, cond.detector, gain_old, cfg, bar.update)
    text = (f"calib ecal from {Path(args.source).name}: {len(result.gains)} of "
            f"{len(result.cells)} cells, preshower share {result.preshower_share:.4f}, "
            f"scale {result.scale:.5f}")
    summary = {"electrons": result.events,
               "preshower_share": finite_or_none(result.preshower_share),
               "preshower_weight": result.preshower_weight, "main_weight": result.main_weight,
               "scale": result.scale, "sum_peak_gev": finite_or_none(result.sum_fit.peak)}
    return _propose_gains(args, cond, run, len(amplitude), result.cells, result.notes, text,
                          summary, "amplitude (ADC) of the cell hit")


def cmd_hcal(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).hcal
    run, amplitude, gain_old = _calibration_triggers(args, cond.detector)
    with _progress(args, len(cond.detector.select("HCAL")), "HCAL") as bar:
        result = calibrate_hcal(amplitude, cond.detector, gain_old, cfg, bar.update)
    text = (f"calib hcal from {Path(args.source).name}: {len(result.gains)} of "
            f"{len(result.cells)} cells, {result.muons} muons")
    return _propose_gains(args, cond, run, len(amplitude), result.cells, result.notes, text,
                          {"muons": result.muons}, "MIP amplitude (ADC) of muons tagged "
                          "by the other modules")


def _calibration_triggers(args: argparse.Namespace, det: Detector
                          ) -> tuple[int, np.ndarray, np.ndarray]:
    """The run number, the calibration triggers' amplitudes (events, channels; NaN where
    unusable) and the gains the run was taken with."""
    with open_verified(args.source, not args.no_verify) as source:
        gain_old = recorded_gains(source, det)
        amplitude = read_amplitudes(source, np.arange(det.n_channels), TriggerKind.CALIBRATION,
                                    quiet=args.json)
        return source.run, amplitude, gain_old


def _progress(args: argparse.Namespace, cells: int, detector: str) -> tqdm:
    return tqdm(total=cells, desc=f"fitting {detector} cells", leave=False,
                disable=args.json or None)


def _propose_gains(args: argparse.Namespace, cond: Conditions, run: int, events: int,
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


def cmd_set(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).hv
    first_run = args.first_run or _next_run(cond)
    values = read_value_table(args.file, cond.detector)
    if args.kind == "hv_v":  # never load a set point outside the channel's limits
        lows, highs = (cond.lookup(k, first_run) for k in ("hv_min_v", "hv_max_v"))
        for cell, v in values.items():
            lo, hi = _value(lows, cell, cfg.min_v), _value(highs, cell, cfg.max_v)
            if not lo <= v <= hi:
                raise ConditionsError(f"{args.file}: {cell} = {v:g} V is outside the "
                                      f"channel's limits {lo:g}-{hi:g} V; nothing written")
    version = None
    if not args.dry_run:
        text = f"calib set {args.kind} from {Path(args.file).name}: {len(values)} channels"
        version = cond.write(args.kind, values, first_run, args.last_run, author=args.author,
                             comment=text, entry=LogEntry(text, args.author, first_run, values=[
                                 (c, args.kind, v) for c, v in values.items()]))
    if args.json:
        print(json.dumps({"kind": args.kind, "values": values, "version": version,
                          "first_run": first_run, "dry_run": args.dry_run}))
        return 0
    for cell, v in values.items():
        print(f"  {cell:<12} {v:g}")
    print(f"{len(values)} values of {args.kind}; " + (
        "dry run, nothing written" if args.dry_run else
        f"version {version} for runs from {first_run}"))
    return 0


def _value(version: Version | None, cell: str, default: float | None) -> float | None:
    """A cell's value in a version, else ``default`` (no version, no value, a missing one)."""
    value = version.values.get(cell) if version else None
    return default if value is None else value


def cmd_show(args: argparse.Namespace, cond: Conditions) -> int:
    run = args.run or _next_run(cond)
    v = cond.lookup(args.kind, run, args.tag)
    if args.json:
        print(json.dumps(v.as_dict() if v else None, indent=1))
        return 0
    if v is None:
        print(f"no {args.kind} in force for run {run}")
        return 1
    print(_describe(v))
    for ch, value in v.values.items():
        source = v.sources.get(ch, v.id)
        print(f"  {ch:<12} {'-' if value is None else f'{value:g}'}"
              + (f"  (version {source})" if source != v.id else ""))
    return 0


def cmd_history(args: argparse.Namespace, cond: Conditions) -> int:
    versions = cond.history(args.kind)
    if args.json:
        print(json.dumps([dict(v.as_dict(), values=len(v.values)) for v in versions], indent=1))
    else:
        for v in versions:
            print(_describe(v))
    return 0


def cmd_diff(args: argparse.Namespace, cond: Conditions) -> int:
    old, new = cond.version(args.old), cond.version(args.new)
    changes = diff(old, new)
    if args.json:
        print(json.dumps([{"channel": c, "old": a, "new": b} for c, a, b in changes]))
        return 0
    print(f"{_describe(old)}\n{_describe(new)}")
    for ch, a, b in changes:
        print(f"  {ch:<12} {'-' if a is None else f'{a:g}':>9} -> {'-' if b is None else f'{b:g}'}")
    return 0


def cmd_logbook(args: argparse.Namespace, cond: Conditions) -> int:
    entries = cond.entries(args.run)
    if args.json:
        print(json.dumps(entries, indent=1))
    elif args.csv:
        w = csv.writer(sys.stdout)
        w.writerow(["entry", "time", "run", "author", "text", "channel", "quantity", "value"])
        for e in entries:
            for ch, q, v in e["values"] or [[None, None, None]]:
                w.writerow([e["id"], e["time"], e["run"], e["author"], e["text"], ch, q,
                            "" if v is None else v])
    else:
        for e in entries:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["time"]))
            print(f"#{e['id']} {when} run {e['run']} {e['author']}: {e['text']} "
                  f"({len(e['values'])} values)")
    return 0


def _describe(v) -> str:
    until = "open" if v.last_run is None else v.last_run
    return (f"version {v.ids}: {v.kind} [{v.tag}] runs {v.first_run}-{until}, "
            f"{len(v.values)} channels, by {v.author or '?'}: {v.comment}")


def cmd_note(args: argparse.Namespace, cond: Conditions) -> int:
    if args.dry_run:
        print(f"would add [{args.kind}] {args.text}")
        return 0
    entry = cond.add_note(args.text, args.kind, args.author, args.run)
    print(f"logbook entry {entry} added")
    return 0


def cmd_unblind(args: argparse.Namespace, cond: Conditions) -> int:
    try:
        first, last = (int(x) for x in args.runs.split("-"))
    except ValueError:
        raise ConditionsError(f"--runs {args.runs!r}: expected FIRST-LAST, e.g. 12-15") \
            from None
    expected = f"unblind runs {first}-{last}"
    given = args.confirm
    if given is None:
        try:
            given = input(f"This shows the signal box of runs {first}-{last} to everyone, "
                          f"for good.\nType '{expected}' to confirm: ")
        except EOFError:
            given = ""
    if given.strip() != expected:
        raise ConditionsError(f"not confirmed (expected '{expected}'): nothing unblinded")
    if args.dry_run:
        print(f"would unblind runs {first}-{last}")
        return 0
    entry = cond.unblind(first, last, args.author, args.reason)
    print(f"runs {first}-{last} unblinded (logbook entry {entry}, by {args.author})")
    return 0


COMMANDS = {"note": cmd_note, "unblind": cmd_unblind, "import-logbook": cmd_import_logbook,
            "hv": cmd_hv, "ecal": cmd_ecal,
            "hcal": cmd_hcal,
            "set": cmd_set, "show": cmd_show,
            "history": cmd_history, "diff": cmd_diff, "logbook": cmd_logbook}
