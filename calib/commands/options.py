"""The options every calibration script has: the database, the map, JSON, and for those that
write, ``--dry-run`` and the author."""

from __future__ import annotations

import argparse
import getpass


def database_options(q: argparse.ArgumentParser, writes: bool = True) -> None:
    q.add_argument("--db", metavar="PATH", help="conditions database (default: "
                   "$NA64DAQ_DB or the per-user one)")
    q.add_argument("--detector", metavar="FILE", help="detector map (TOML)")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    if writes:
        q.add_argument("--dry-run", action="store_true",
                       help="print the proposed change, write nothing")
        q.add_argument("--author", default=getpass.getuser(), help="logbook author")
