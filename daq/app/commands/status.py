"""``na64daq status``: the last run's record and loss ledger."""

from __future__ import annotations

import argparse
import json

from daq.core.cli_arguments import RUN
from daq.core.config_schema import ConfigError


def add_arguments(sub) -> None:
    p = sub.add_parser("status", help="the last run's record and loss ledger",
                       description="Print a run record (the latest, or --run N) from the run "
                       "database, with its loss ledger.")
    p.add_argument("--run", type=RUN, help="run number (default: the latest)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:

    from daq.app.terminal_report import print_summary
    from daq.core.run_database import RunDatabase

    db = RunDatabase()
    rec = db.run(args.run)
    if rec is None:
        raise ConfigError(f"no run {args.run} in {db.path}" if args.run else
                          f"no run recorded yet in {db.path}")
    if args.json:
        print(json.dumps(rec, indent=1))
    else:
        print_summary({"run": rec["run"], "state": rec["state"], "error": rec["error"],
                       "ledger": rec["ledger"]})
    return 0
