"""``na64daq calib import-logbook``: import a shift logbook (NA64 2017 format)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from calib.commands.options import database_options
from calib.logbook import read_logbook
from daq.conditions import Conditions, LogEntry
from daq.core.cli_arguments import RUN


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("import-logbook", help="import a shift logbook (NA64 2017 format)",
                      description="Import the cell readings (X-Y-M A=... HV=...) of a shift "
                      "logbook as logbook entries; missing values stay missing.")
    q.add_argument("file")
    q.add_argument("--run", type=RUN, help="run the entries belong to")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
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
