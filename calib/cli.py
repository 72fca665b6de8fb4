"""``na64daq calib ...``: the calibration scripts over the conditions database
(``docs/conditions.md``). Every script that writes has ``--dry-run``; every one has ``--json``
and ``--db``."""

from __future__ import annotations

import argparse
import importlib

from calib.conditions import ConditionsWriter
from daq.core.detector import Detector
from daq.core.run_database import RunDatabase

#: every script, a module of calib/commands, in the order ``--help`` lists them
SCRIPTS = {name.replace("_", "-"): importlib.import_module(f"calib.commands.{name}")
           for name in ("import_logbook", "hv", "ecal", "hcal", "set", "show", "history",
                        "diff", "note", "unblind", "logbook", "sdc", "templates")}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calib", help="calibration scripts: HV tables, constants, the logbook",
                       description="Calibration scripts over the conditions database "
                       "(docs/conditions.md).")
    cs = p.add_subparsers(dest="calib_command", metavar="SCRIPT", required=True)
    for module in SCRIPTS.values():
        module.add_arguments(cs)


def run(args: argparse.Namespace) -> int:
    db = RunDatabase(args.db)
    try:
        cond = ConditionsWriter(db, Detector.load(args.detector))
        return SCRIPTS[args.calib_command].run(args, cond)
    finally:
        db.close()
