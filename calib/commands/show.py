"""``na64daq calib show``: the constants in force for a run."""

from __future__ import annotations

import argparse
import json

from calib.commands.options import database_options
from calib.commands.versions import describe_version, next_run
from daq.conditions import KINDS, TABLE_KINDS, Conditions
from daq.core.cli_arguments import RUN


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("show", help="the constants in force for a run")
    q.add_argument("kind", choices=KINDS + TABLE_KINDS)
    q.add_argument("--run", type=RUN, help="run (default: the next one)")
    q.add_argument("--tag", help="only versions of this tag")
    database_options(q, writes=False)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    run = args.run or next_run(cond)
    v = cond.lookup(args.kind, run, args.tag)
    if args.json:
        print(json.dumps(v.as_dict() if v else None, indent=1))
        return 0
    if v is None:
        print(f"no {args.kind} in force for run {run}")
        return 1
    print(describe_version(v))
    for ch, value in v.values.items():
        source = v.sources.get(ch, v.id)
        print(f"  {ch:<12} {'-' if value is None else f'{value:g}'}"
              + (f"  (version {source})" if source != v.id else ""))
    return 0
