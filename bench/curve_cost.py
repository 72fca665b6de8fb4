"""What CURVE costs on the data links (``docs/security.md``): the same replayed run through the
whole DAQ with the links plain and with every link on CURVE (``security.curve = "on"``,
``security.curve_data = "on"``), alternated in one invocation; and bare ZeroMQ tcp loopback of
the same frames, plain and encrypted.

    python bench/curve_cost.py [--seconds 30] [--pairs 2] [--workers 2] [--json]

Each DAQ run is ``bench/daq_throughput.py``'s measurement on tcp loopback, with the
reconstruction stub (the data path alone: where CURVE's cost shows) and with the full
reconstruction (what the DAQ runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from daq.app.bench.pipeline import measure
from daq.core.link_security import new_key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each measured run")
    ap.add_argument("--pairs", type=int, default=2, help="plain/CURVE pairs per reconstruction")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--events", type=int, default=40000, help="events in the replayed spill")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory(prefix="na64daq-curve-") as tmp:
        keys = Path(tmp) / "keys"
        new_key(keys, "daq", "daq")
        for stub in (True, False):
            for pair in range(args.pairs):
                for curve in (False, True):
                    sets = (['security.curve="on"', f'security.keys_directory="{keys}"']
                            if curve else [])
                    ns = argparse.Namespace(
                        seconds=args.seconds, workers=args.workers, events=args.events,
                        set=sets, source_batch=64, tcp=True, stub=stub, freeze_tap=False,
                        date=False, curve_ceiling=pair == 0 and stub and curve)
                    run_dir = Path(tmp) / f"run-{len(runs)}"
                    run_dir.mkdir()
                    r = measure(ns, run_dir, ceiling=pair == 0 and stub and curve)
                    r.update(curve=curve, pair=pair)
                    runs.append(r)
                    print(f"{'stub' if stub else 'full'} {'CURVE' if curve else 'plain'}: "
                          f"{r['events_per_s']:,.0f} events/s, {r['mb_per_s']:.0f} MB/s, "
                          f"ledger balanced {r['ledger']['balanced']}", flush=True)
    summary = {}
    for reco in ("stub", "full"):
        for curve in (False, True):
            rates = [r["events_per_s"] for r in runs
                     if r["reconstruction"] == reco and r["curve"] == curve]
            mbs = [r["mb_per_s"] for r in runs
                   if r["reconstruction"] == reco and r["curve"] == curve]
            summary[f"{reco} {'CURVE' if curve else 'plain'}"] = {
                "events_per_s": statistics.mean(rates), "runs": rates,
                "mb_per_s": statistics.mean(mbs)}
    ceilings = next(r for r in runs if r.get("zmq_ceiling_curve"))
    result = {"machine": runs[0]["machine"], "seconds": args.seconds, "workers": args.workers,
              "summary": summary, "zmq_ceiling_plain": ceilings["zmq_ceiling"],
              "zmq_ceiling_curve": ceilings["zmq_ceiling_curve"],
              "cpu_cores_per_stage": {f"{r['reconstruction']} {'CURVE' if r['curve'] else 'plain'}"
                                      f" {r['pair']}": r["cpu_cores_per_stage"] for r in runs}}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"machine: {result['machine']}; {args.seconds:.0f} s per run, {args.workers} workers, "
          "tcp loopback")
    for name, s in summary.items():
        print(f"  {name:12s} {s['events_per_s']:10,.0f} events/s  {s['mb_per_s']:6.0f} MB/s  "
              f"(runs: {', '.join(f'{x:,.0f}' for x in s['runs'])})")
    for reco in ("stub", "full"):
        plain, curve = (summary[f"{reco} {k}"]["events_per_s"] for k in ("plain", "CURVE"))
        print(f"  CURVE's cost, {reco}: {100 * (1 - curve / plain):.1f} % fewer events/s")
    for k in ("plain", "curve"):
        c = result[f"zmq_ceiling_{k}"]
        print(f"  bare ZeroMQ tcp loopback, {k}: {c['events_per_s']:,.0f} events/s, "
              f"{c['mb_per_s']:.0f} MB/s")


if __name__ == "__main__":
    main()
