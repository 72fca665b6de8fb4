"""``na64daq calib diff``: what changed between two versions."""

from __future__ import annotations

import argparse
import json

from calib.commands.options import database_options
from calib.commands.versions import describe_version
from daq.conditions import Conditions, diff
from daq.core.cli_arguments import COUNT


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("diff", help="what changed between two versions")
    q.add_argument("old", type=COUNT)
    q.add_argument("new", type=COUNT)
    database_options(q, writes=False)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    old, new = cond.version(args.old), cond.version(args.new)
    changes = diff(old, new)
    if args.json:
        print(json.dumps([{"channel": c, "old": a, "new": b} for c, a, b in changes]))
        return 0
    print(f"{describe_version(old)}\n{describe_version(new)}")
    for ch, a, b in changes:
        print(f"  {ch:<12} {'-' if a is None else f'{a:g}':>9} -> {'-' if b is None else f'{b:g}'}")
    return 0
