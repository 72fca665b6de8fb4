"""The soak: the emulator at 5e6 e-/spill, time-compressed, through the whole DAQ with a
monitor window connected (``daq/app/bench/soak.py``); resident memory of every process after
the warm-up and at the end, queue depths over time as a PNG, and the ledger.

    python bench/soak.py [--minutes 10] [--warm-up-s 60] [--png soak.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from daq.app.bench.soak import queue_png, soak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="after the warm-up")
    ap.add_argument("--warm-up-s", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--png", default="soak.png", help="queue depths and memory over time")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="na64daq-soak-") as tmp:
        r = soak(60.0 * args.minutes, args.warm_up_s, Path(tmp), workers=args.workers)
    queue_png(r, Path(args.png))
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if k != "samples"}, indent=1))
        return
    print(f"machine: {r['machine']}; {r['seconds'] / 60:.1f} min after a {r['warm_up_s']:.0f} s "
          f"warm-up, {r['workers']} workers, monitor window connected; ended "
          f"{r['state_at_end']}")
    print(f"{'process':<16}{'after warm-up':>15}{'end':>10}  [MB resident; malloc's heap "
          "in use / held free, from the heartbeats]")
    for name, m in sorted(r["resident_mb"].items()):
        before = "-" if m["after_warm_up"] is None else f"{m['after_warm_up']:.0f}"
        heap = r["heap_mb"].get(name) or {}
        print(f"{name:<16}{before:>15}{m['end']:>10.0f}  " + " -> ".join(
            f"{h['heap_in_use_mb']:.0f} / {h['heap_free_mb']:.0f}" if "heap_free_mb" in h
            else "-" for h in (heap.get("after_warm_up") or {}, heap.get("end") or {})))
    print("queues, largest depth: " + ", ".join(f"{k} {v}" for k, v in r["queues_max"].items()))
    print("ledger: " + json.dumps(r["ledger"]))
    print(f"PNG: {args.png}")


if __name__ == "__main__":
    main()
