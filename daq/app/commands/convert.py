"""``na64daq convert``: NA64's raw data (DATE files) into our run file."""

from __future__ import annotations

import argparse
import json

from daq.app.options import trigger_bits_option
from daq.core.cli_arguments import name_option


def add_arguments(sub) -> None:
    p = sub.add_parser("convert", help="convert NA64 raw data (DATE files) into a run file",
                       description="Decode DATE raw files of one run (cdrNNNNN-RRRRRR.dat, in "
                       "order), place their MSADC digits with a channel map, reconstruct, and "
                       "write our run file; every malformed structure is counted by reason "
                       "and kept in the file's run_end (docs/raw-format.md).")
    p.add_argument("files", nargs="+", metavar="FILE", help="DATE raw files of one run")
    p.add_argument("--map", required=True, metavar="PATH", help="channel map (COMPASS XML), "
                   "or a directory of them (recursed); the emulated detector's is shipped "
                   "as daq/raw/na64daq-emulated.xml")
    p.add_argument("--out", required=True, metavar="FILE", help="run file to write")
    p.add_argument("--detector", metavar="FILE", help="detector map (TOML); default: ours")
    name_option(p)
    trigger_bits_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args: argparse.Namespace) -> int:
    from daq.core.detector import Detector
    from daq.raw.conversion import convert

    r = convert(args.files, args.map, args.out, Detector.load(args.detector),
                names=dict(args.name), trigger_bits=args.trigger_bits)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"run {r['run']}: {r['events']:,} events in {r['spills']} spills written to "
          f"{r['file']}")
    print("  problems: " + (", ".join(f"{k} {v:,}" for k, v in r["problems"].items())
                            or "none"))
    if r["missing_modules"]:
        print("  missing modules (source, port, chip: events): " + ", ".join(
            f"{s}/{p}/{c}: {n}" for s, p, c, n in r["missing_modules"][:10]))
    if r["unknown_digits"]:
        print(f"  digits the map does not know ({len(r['unknown_digits'])} keys; source, "
              "port, chip, channel: digits): " + ", ".join(
                  f"{s}/{p}/{c}/{ch}: {n}" for s, p, c, ch, n in r["unknown_digits"][:10]))
    return 0
