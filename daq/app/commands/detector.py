"""``na64daq detector``: show the channel map."""

from __future__ import annotations

import argparse

from daq.core.detector import Detector


def add_arguments(sub) -> None:
    p = sub.add_parser("detector", help="show the channel map",
                       description="Print the detector map: sources and channels.")
    p.add_argument("--detector", metavar="FILE", help="detector map (TOML) to check and show")
    p.add_argument("--channels", action="store_true", help="list every channel")


def run(args: argparse.Namespace) -> int:
    det = Detector.load(args.detector)
    print(f"{det.path}: {det.summary()}")
    for s in det.sources:
        print(f"  source {s.id} {s.name}: {len(s.channels)} channels ({s.description})")
    if args.channels:
        for c in det.channels:
            alias = f" ({c.alias})" if c.alias else ""
            print(f"  {c.index:4d} {c.name:<10}{alias:<9} {c.detector:<5} source {c.source} "
                  f"port {c.port} channel {c.channel}")
    return 0
