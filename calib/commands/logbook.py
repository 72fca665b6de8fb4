"""``na64daq calib logbook``: the logbook as text or CSV."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time

from calib.commands.options import database_options
from daq.conditions import Conditions
from daq.core.cli_arguments import RUN


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("logbook", help="the logbook as text or CSV")
    q.add_argument("--csv", action="store_true", help="one row per value")
    q.add_argument("--run", type=RUN)
    database_options(q, writes=False)


def run(args: argparse.Namespace, cond: Conditions) -> int:
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
