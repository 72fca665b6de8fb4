"""``na64daq calib note``: a shift-crew note in the logbook."""

from __future__ import annotations

import argparse

from calib.commands.options import database_options
from daq.conditions import NOTE_KINDS, Conditions
from daq.core.cli_arguments import RUN


def add_arguments(cs: argparse._SubParsersAction) -> None:
    q = cs.add_parser("note", help="a shift-crew note in the logbook",
                      description="Add a note (text, kind, run) to the logbook: what the "
                      "monitor's 'add entry' form writes.")
    q.add_argument("text", help="the note")
    q.add_argument("--kind", default="shift", choices=NOTE_KINDS)
    q.add_argument("--run", type=RUN, help="the run it is about")
    database_options(q)


def run(args: argparse.Namespace, cond: Conditions) -> int:
    if args.dry_run:
        print(f"would add [{args.kind}] {args.text}")
        return 0
    entry = cond.add_note(args.text, args.kind, args.author, args.run)
    print(f"logbook entry {entry} added")
    return 0
