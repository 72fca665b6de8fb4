"""``na64daq bench``: one performance record. Each stage's benchmark on this machine, in one run,
as one table whose every row names the machine (``docs/performance.md`` keeps the latest):
the emulator, the decoder, the builder, the reconstruction against dspeed and scipy on the same
waveforms, the writer, reprocessing many run files (one process, a Dask cluster of 1 and 2
workers), NA64's raw data decoded (against numpy.fromfile), the whole chain with the stub and
with the full reconstruction next to the bare ZeroMQ ceiling for the same frames, and the
monitor's filling and redraw."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daq.app.bench.machine import description as machine_description

#: events per emulated spill for the single-stage rows
STAGE_EVENTS = 40_000


def _reconstruction() -> list[dict[str, Any]]:
    from daq.app.bench.reconstruction import compare

    result = compare()
    rows = {r["name"]: r for r in result["results"]}
    ours = dict(rows.pop("na64daq"), name="reconstruction",
                first_event_latency_s=result["first_event_latency_s"])
    for other, key in (("dspeed", "ratio_to_dspeed"), ("scipy.find_peaks", "ratio_to_scipy")):
        rate = rows[other]["events_per_s"]
        ours[key] = ours["events_per_s"] / rate if rate else None
    return [ours, *({k: v for k, v in r.items() if k != "ours_faster_by"}
                    for r in rows.values())]


def _reprocessing(directory: Path) -> list[dict[str, Any]]:
    from daq.app.bench.reprocessing import measure

    work = directory / "reprocessing"
    work.mkdir()
    return measure(work)


def _raw(directory: Path) -> list[dict[str, Any]]:
    from daq.app.bench.raw import measure

    work = directory / "raw"
    work.mkdir()
    return measure(work)


def _end_to_end(seconds: float, directory: Path) -> list[dict[str, Any]]:
    from daq.app.bench.pipeline import measure

    rows = []
    for stub, date in ((True, False), (False, False), (False, True)):
        args = argparse.Namespace(seconds=seconds, workers=2, events=STAGE_EVENTS, set=[],
                                  source_batch=64, tcp=False, stub=stub, freeze_tap=False,
                                  date=date)
        name = "end_to_end_stub" if stub else "end_to_end_date" if date else "end_to_end"
        run_dir = directory / name
        run_dir.mkdir()
        r = measure(args, run_dir)
        ceiling = r["zmq_ceiling"]
        rows.append({"name": name,
                     "events_per_s": r["events_per_s"], "mb_per_s": r["mb_per_s"],
                     "fraction_of_zmq_ceiling": r["events_per_s"] / ceiling["events_per_s"],
                     "seconds": r["seconds"], "workers": r["workers"],
                     "cpu_cores_per_stage": r["cpu_cores_per_stage"],
                     "unaccounted": r["ledger"]["unaccounted"],
                     "written_incomplete": r["ledger"]["written_incomplete"]})
        rows.append({"name": "zmq_ceiling" + ("_stub_run" if stub else "_date_run" if date
                                              else ""), **ceiling,
                     "note": "bare PUSH/PULL, the same frames, measured in the same run"})
    return rows


def _monitor(live_s: float) -> list[dict[str, Any]]:
    from daq.app.bench.monitor import measure

    r = measure(live_s=live_s)
    live = r.get("live") or {}
    return [{"name": "monitor_fill", "events_per_s": r["fill_events_per_s_one_core"],
             "snapshot_build_s": r["snapshot_build_s"], "snapshot_bytes": r["snapshot_bytes"]},
            {"name": "monitor_redraw", "events_per_s": live.get("events_taken_by_tap", 0)
             / live["seconds"] if live else None,
             "all_panels_redraw_s": r["redraw_s"]["all panels"],
             "live_redraw_s_median_worst_panel": max(live["redraw_s_median"].values())
             if live.get("redraw_s_median") else None,
             "push_to_screen_s_p99": live.get("push_to_screen_s_p99"),
             "note": "events_per_s: taken by a tap process fed at 50k/s while a window redraws"}]


def run_all(seconds: float = 30.0, live_s: float = 15.0,
            progress: Callable[[str], None] = lambda name: None) -> dict[str, Any]:
    """Every row, in the order data flow; ``seconds``: each sustained end-to-end run."""
    from daq.app.bench import stages

    machine = machine_description()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="na64daq-bench-") as tmp:
        steps = [("emulator", lambda: [stages.generation(STAGE_EVENTS)]),
                 ("decoder and builder", lambda: stages.decoding_and_building(STAGE_EVENTS)),
                 ("reconstruction", _reconstruction),
                 ("writer", lambda: [stages.writing(20_000, Path(tmp))]),
                 ("reprocessing", lambda: _reprocessing(Path(tmp))),
                 ("raw data", lambda: _raw(Path(tmp))),
                 ("end to end", lambda: _end_to_end(seconds, Path(tmp))),
                 ("monitor", lambda: _monitor(live_s))]
        for name, step in steps:
            progress(name)
            rows += step()
    return {"machine": machine, "results": [dict(r, machine=machine) for r in rows]}


#: the comparisons, as the table shows them
RATIOS = {"files_per_min": "{:.1f} files/min",
          "ratio_to_dspeed": "{:.1f}x dspeed", "ratio_to_scipy": "{:.0f}x scipy",
          "fraction_of_zmq_ceiling": "{:.0%} of ZeroMQ ceiling",
          "times_na64_in_spill_rate": "{:.1f}x NA64 in-spill rate"}


def table(result: dict[str, Any]) -> str:
    """The record as text: one line per row, the machine on every row."""
    lines = [f"{'stage':<28}{'events/s':>12}{'MB/s':>8}  {'comparison':<26}machine"]
    for r in result["results"]:
        rate = f"{r['events_per_s']:>12,.0f}" if r.get("events_per_s") else f"{'-':>12}"
        mb = f"{r['mb_per_s']:>8.0f}" if r.get("mb_per_s") else f"{'':>8}"
        comp = ", ".join(label.format(r[k]) for k, label in RATIOS.items()
                         if r.get(k) is not None)
        lines.append(f"{r['name']:<28}{rate}{mb}  {comp:<26}{r['machine']}")
    return "\n".join(lines)
