"""``na64daq export``: the reconstruction table as a ROOT TTree."""

from __future__ import annotations

import argparse

from daq.core.cli_arguments import no_verify_option


def add_arguments(sub) -> None:
    p = sub.add_parser("export", help="the reconstruction table as a ROOT TTree",
                       description="Write the reconstruction (event table, per-event and "
                       "per-channel results) of a run as the TTree 'reco' of a ROOT file, and "
                       "the spill table as 'spills'.")
    p.add_argument("--root", action="store_true", required=True, help="ROOT (the only format)")
    p.add_argument("file", help="a run or reconstruction file")
    p.add_argument("--out", metavar="FILE", help="ROOT file (default: FILE with .root)")
    no_verify_option(p)


def run(args: argparse.Namespace) -> int:
    from daq.run_file.root_export import export_root

    r = export_root(args.file, args.out, verify_blocks=not args.no_verify)
    print(f"run {r['run']}: {r['entries']} events in TTree '{r['tree']}' of {r['file']}")
    return 0
