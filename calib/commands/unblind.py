"""``na64daq calib unblind``: show the signal box of a range of runs (deliberate)."""

from __future__ import annotations

import argparse

from calib.commands.options import database_options
from daq.conditions import Conditions, ConditionsError


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("unblind", help="show the signal box of a range of runs (deliberate)",
                      description="Record runs FIRST-LAST as unblinded, with a logbook entry "
                      "(time, author, reason): from then on the monitor and the saved "
                      "histograms of these runs show the signal box. Asks for a confirmation "
                      "that names the range; --confirm gives it without a prompt.")
    q.add_argument("--runs", required=True, metavar="FIRST-LAST", help="run range, e.g. 12-15")
    q.add_argument("--reason", required=True, help="why (goes into the logbook)")
    q.add_argument("--confirm", metavar="TEXT",
                   help="the confirmation, exactly 'unblind runs FIRST-LAST'")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
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
