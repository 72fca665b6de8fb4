"""``na64daq calib history``: every version of a kind."""

from __future__ import annotations

import argparse
import json

from calib.commands.options import database_options
from calib.commands.versions import describe_version
from daq.conditions import KINDS, TABLE_KINDS, Conditions


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("history", help="every version of a kind")
    q.add_argument("kind", choices=KINDS + TABLE_KINDS, nargs="?")
    database_options(q, writes=False)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    versions = cond.history(args.kind)
    if args.json:
        print(json.dumps([dict(v.as_dict(), values=len(v.values)) for v in versions], indent=1))
    else:
        for v in versions:
            print(describe_version(v))
    return 0
