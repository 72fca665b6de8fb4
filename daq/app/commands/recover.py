"""``na64daq recover``: copy a crashed run file's intact blocks to a ."""

from __future__ import annotations

import argparse
import json


def add_arguments(sub) -> None:
    p = sub.add_parser("recover", help="copy a crashed run file's intact blocks to a "
                       "closed file",
                       description="A run file whose writer died opens in SWMR mode only. "
                       "Copy every block its checksums prove intact into FILE.recovered.h5 "
                       "(or --out), which any HDF5 reader opens; the original is untouched.")
    p.add_argument("file", help="the run file")
    p.add_argument("--out", metavar="FILE", help="where to write (default FILE.recovered.h5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from daq.run_file.recovery import recover

    r = recover(args.file, args.out)
    if args.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"run {r['run']}: {r['events']} events in {r['blocks_verified']} verified blocks "
          f"copied to {r['file']}" + ("" if r["closed"] else " (the run had not closed)"))
    if r["bytes_missing"]:
        print(f"  the file was {r['bytes_missing']} bytes short (truncated, or its disk was "
              "full): only verified blocks copied, not its spill table")
    if r["unverified_rows"] or r["bad_blocks"]:
        print(f"  left out: {r['unverified_rows']} rows written after the last flush, "
              f"{len(r['bad_blocks'])} damaged blocks" + "".join(
                  f"\n    block {b['block']} (rows {b['rows'][0]}-{b['rows'][1]}): "
                  + "; ".join(b["problems"]) for b in r["bad_blocks"][:10]))
    return 0
