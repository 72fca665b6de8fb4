"""Fuzzed frames at scale (``daq/app/bench/frame_fuzz.py``): hypothesis draws random bytes and
mutated valid frames, first through the decoder, then into the builder's socket of a running
DAQ between a crate's batches. Prints the refusals by reason, the builder's counts, its memory
and the ledger.

    python bench/frame_fuzz.py [--cases 100000] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from daq.app.bench.frame_fuzz import SICK_SOURCE, fuzz_decoder, fuzz_running_daq
from daq.core.detector import Detector


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=100_000, help="cases for each of the two")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    detector = Detector.load()
    decoder = fuzz_decoder(args.cases, detector)
    with tempfile.TemporaryDirectory(prefix="na64daq-fuzz-") as tmp:
        daq = fuzz_running_daq(args.cases, Path(tmp), detector)
    if args.json:
        print(json.dumps({"decoder": decoder, "daq": daq}, indent=1))
        return
    print(f"machine: {daq['machine']}")
    print(f"decoder: {decoder['cases']:,} cases in {decoder['seconds']:.0f} s, "
          f"{decoder['still_valid']:,} still valid, slowest decode "
          f"{1e3 * decoder['slowest_decode_s']:.2f} ms; refused by reason:")
    for reason, n in decoder["refused"].items():
        print(f"  {n:>8,}  {reason}")
    rss = daq["builder_rss_mb"]
    print(f"running DAQ: {daq['sent_in_all']:,} refused frames sent by source {SICK_SOURCE} "
          f"between its batches over {daq['spills']} spills ({daq['still_valid']:,} still valid "
          f"not sent), in {daq['fuzz_s']:.0f} s; the builder counted "
          f"{sum(daq['builder_counted'].values()):,}, "
          + ("each reason exactly" if daq["builder_counted"] == {
              f"undecodable: {k}": v for k, v in daq["sent"].items()} else "NOT as sent"))
    print(f"builder resident memory: {rss['before']:.0f} MB before, {rss['max']:.0f} MB at "
          f"most, {rss['end']:.0f} MB at the end")
    print(f"run {daq['outcome']}; ledger: {json.dumps(daq['ledger'])}")
    if daq["feed_error"]:
        print(f"the feed failed: {daq['feed_error']}")


if __name__ == "__main__":
    main()
