"""``na64daq calib sdc``: one column of an NA64 calibration table (SDC text) loaded as a new
version of the conditions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calib.commands.options import database_options
from calib.commands.versions import next_run
from calib.sdc_table import SdcTableError, read_sdc
from daq.conditions import Conditions, ConditionsError, LogEntry
from daq.core.cli_arguments import RUN, name_option

#: what a column may be loaded as: the kind it becomes, and whether it is inverted
AS = {"adc_per_gev": ("adc_per_gev", False), "gev_per_adc": ("adc_per_gev", True),
      "time_offset_ns": ("time_offset_ns", False),
      "pedestal_even_adc": ("pedestal_even_adc", False),
      "pedestal_odd_adc": ("pedestal_odd_adc", False)}


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("sdc", help="load a column of an NA64 calibration table (SDC text)",
                      description="A column of an NA64 calibration table (SDC: runs=, "
                      "columns=, rows; later blocks override earlier ones) in force for --run, "
                      "loaded as a new version of the constants (docs/conditions.md).")
    q.add_argument("file")
    q.add_argument("--run", type=RUN, required=True, help="the run whose rows are taken")
    q.add_argument("--column", required=True, help="the table's column to load (e.g. amp)")
    q.add_argument("--as", dest="kind", required=True, choices=AS,
                   help="what the column is (gev_per_adc is inverted into adc_per_gev)")
    name_option(q)
    q.add_argument("--first-run", type=RUN, help="first run of validity (default: the next)")
    q.add_argument("--last-run", type=RUN, help="last run of validity (default: open)")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    try:
        table = read_sdc(args.file, cond.detector, args.run, dict(args.name))
    except SdcTableError as exc:
        raise ConditionsError(str(exc)) from None
    kind, invert = AS[args.kind]
    values = {}
    for channel, row in table.items():
        if args.column not in row:
            raise ConditionsError(f"{args.file}: no column {args.column!r} for {channel} "
                                  f"(columns: {', '.join(sorted(row))})")
        v = row[args.column]
        if invert:
            if v <= 0:
                raise ConditionsError(f"{args.file}: {channel} {args.column} = {v:g} cannot "
                                      "be inverted")
            v = 1.0 / v
        values[channel] = v
    if not values:
        raise ConditionsError(f"{args.file}: no row in force for run {args.run}")
    first_run = args.first_run or next_run(cond)
    version = None
    if not args.dry_run:
        text = (f"calib sdc {Path(args.file).name} (run {args.run}, column {args.column} as "
                f"{args.kind}): {len(values)} channels")
        version = cond.write(kind, values, first_run, args.last_run, author=args.author,
                             comment=text, entry=LogEntry(text, args.author, first_run, values=[
                                 (c, kind, v) for c, v in values.items()]))
    if args.json:
        print(json.dumps({"kind": kind, "values": values, "version": version,
                          "first_run": first_run, "dry_run": args.dry_run}))
        return 0
    print(f"{len(values)} values of {kind} from {args.file} (run {args.run}); " + (
        "dry run, nothing written" if args.dry_run else
        f"version {version} for runs from {first_run}"))
    return 0
