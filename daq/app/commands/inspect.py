"""``na64daq inspect``: what a run file holds; --verify proves it intact."""

from __future__ import annotations

import argparse


def add_arguments(sub) -> None:
    p = sub.add_parser("inspect", help="what a run file holds; --verify proves it intact",
                       description="Summarise a run file (or its rotated sequence): run, "
                       "spills, events, classes, loss ledger, provenance. --verify re-reads "
                       "every block and compares it with its stored checksum.")
    p.add_argument("file", help="a run file (run_NNNNNN.h5, any file of its sequence)")
    p.add_argument("--verify", action="store_true", help="check every block's checksums "
                   "(exit code 1 if any differs)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from daq.run_file.inspection import print_summary, summary, to_json
    from daq.run_file.reader import RunReader
    from daq.run_file.verification import verify

    with RunReader(args.file) as run:
        s = summary(run)
        v = verify(run) if args.verify else None
    if args.json:
        print(to_json(s, v))
    else:
        print_summary(s, v)
    return 1 if v is not None and not v["ok"] else 0
