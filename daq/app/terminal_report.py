"""What the shift crew reads on the terminal: progress while running, summary and ledger after."""

from __future__ import annotations

import sys
from typing import Any

_last: dict[str, Any] = {"events": 0, "t": None, "open": False}


def end_progress() -> None:
    """Finish the progress line so that the next message starts on a line of its own."""
    if _last["open"]:
        print(file=sys.stderr, flush=True)
        _last["open"] = False


def print_progress(status: dict[str, Any]) -> None:
    n = status.get("written_events") or 0
    t = status.get("elapsed_s") or 0.0
    rate = (n - _last["events"]) / (t - _last["t"]) if _last["t"] is not None and t > _last[
        "t"] else 0.0
    _last.update(events=n, t=t, open=True)
    lat = status.get("latency_p99_s")
    lat_s = f", latency p99 {lat * 1000:.0f} ms" if lat is not None else ""
    spill = status.get("last_spill")
    starting = status.get("starting") or []
    start_s = (f", {len(starting)} starting (the first run after an install compiles)"
               if starting else "")
    print(f"\rrun {status['run']}: {t:6.1f} s, {n} events written ({rate:,.0f}/s), "
          f"spills done {spill or 0}{lat_s}{start_s}   ", end="", file=sys.stderr, flush=True)


def print_summary(status: dict[str, Any]) -> None:
    end_progress()
    ledger = status.get("ledger") or {}
    print(f"run {status['run']}: {status.get('outcome') or status['state']}"
          + (f" ({status['error']})" if status.get("error") else ""))
    if not ledger or ledger.get("incomplete") or "written_complete" not in ledger:
        print("  ledger: incomplete (the run did not close); from the last heartbeats:")
        for key, name in (("triggered", "triggered by the crates"),
                          ("written", "written (last known)"), ("unaccounted", "unaccounted")):
            value = ledger.get(key)
            print(f"  {name:<24}{'unknown' if value is None else f'{value:10d}'}")
        return
    print(f"  triggered          {ledger['triggered']:10d}")
    print(f"  written complete   {ledger['written_complete']:10d}")
    print(f"  written incomplete {ledger['written_incomplete']:10d}"
          + (f"   ({ledger['cut_by_stop']} cut by the stop)" if ledger.get("cut_by_stop")
             else ""))
    print(f"  rejected           {ledger['rejected']:10d}")
    print(f"  dropped by policy  {ledger['dropped_by_policy']:10d}")
    print(f"  unaccounted        {ledger['unaccounted']:10d}   "
          f"{'balanced' if ledger['balanced'] else 'NOT BALANCED'}")
    for line in rejection_lines(ledger.get("stages") or {}):
        print(line)
    tap = (ledger.get("stages") or {}).get("tap") or {}
    if tap.get("latency_p99_s") is not None:
        print(f"  monitor tap: {tap.get('taken', 0)} events sampled, latency p99 "
              f"{tap['latency_p99_s'] * 1000:.0f} ms")


def rejection_lines(stages: dict[str, Any]) -> list[str]:
    """Refused frames by source and reason (in the run, and between runs), and items the
    writer refused: what ``status --json`` has, said on the terminal too."""
    lines = []
    for title, per_source in (("frames refused in the run", {
            s: (c or {}).get("rejected") for s, c in
            (stages.get("builder_per_source") or {}).items()}),
            ("frames refused between runs", stages.get("rejected_between_runs") or {})):
        rows = [f"    source {s}: " + ", ".join(f"{n} {reason}" for reason, n in
                                                sorted(reasons.items()))
                for s, reasons in sorted(per_source.items()) if reasons]
        if rows:
            lines += [f"  {title}:", *rows]
    writer = stages.get("writer_process") or {}
    refused = {k: writer.get(k) for k in ("foreign_items", "malformed", "orphan_events")
               if writer.get(k)}
    if refused:
        lines.append("  writer refused: " + ", ".join(f"{n} {k.replace('_', ' ')}"
                                                      for k, n in refused.items()))
    return lines
