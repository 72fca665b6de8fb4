"""``na64daq calib set``: load a table of values as a new version."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calib.calib_config import CalibConfig
from calib.commands.options import database_options
from calib.commands.versions import next_run, value_in
from daq.conditions import KINDS, Conditions, ConditionsError, LogEntry
from daq.core.channel_table import read_value_table
from daq.core.cli_arguments import RUN
from daq.core.config_schema import load


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("set", help="load a table of values as a new version",
                      description="A new version of KIND from a TOML table {channel = value} "
                      "(HV set points, limits, exponents, ...); HV set points outside a "
                      "channel's limits refuse the whole table.")
    q.add_argument("kind", choices=KINDS)
    q.add_argument("file")
    q.add_argument("--first-run", type=RUN, help="first run of validity (default: the next)")
    q.add_argument("--last-run", type=RUN, help="last run of validity (default: open)")
    q.add_argument("--config", metavar="FILE", help="calibration defaults (TOML)")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    cfg = load(CalibConfig, args.config).hv
    first_run = args.first_run or next_run(cond)
    values = read_value_table(args.file, cond.detector)
    if args.kind == "hv_v":  # never load a set point outside the channel's limits
        lows, highs = (cond.lookup(k, first_run) for k in ("hv_min_v", "hv_max_v"))
        for cell, v in values.items():
            lo, hi = value_in(lows, cell, cfg.min_v), value_in(highs, cell, cfg.max_v)
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
