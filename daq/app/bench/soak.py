"""The soak (``docs/reliability.md``): the emulator at 5e6 e-/spill, time-compressed, through
the whole DAQ with a monitor window connected, for minutes. Every few seconds it samples the
resident memory of every process and the depth of every queue; at the end it stops the run as
the crew does and reads the ledger. ``bench/soak.py`` is its command line; a short one runs in
the test suite."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from daq.app.bench.machine import description as machine_description
from daq.core.config_schema import load
from daq.core.run_database import RunDatabase
from daq.processes.daq_config import DaqConfig, ipc_endpoints
from daq.processes.supervisor import Supervisor

#: the queues sampled: (process, counter) -> what it is
QUEUES = {("builder", "pending_events"): "builder: events waiting for fragments",
          ("builder", "queued_batches"): "builder: batches waiting for a worker",
          ("builder", "in_flight"): "builder: batches at the workers",
          ("writer", "waiting"): "writer: batches waiting for their turn"}
PAGE_KB = os.sysconf("SC_PAGE_SIZE") / 1024


def resident_mb(pid: int) -> float | None:
    """A process's resident memory (MB), None when it is gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB / 1024
    except (OSError, IndexError, ValueError):
        return None


def soak(seconds: float, warm_up_s: float, tmp: Path, sample_s: float = 2.0,
         workers: int = 2, window: bool = True, window_faults: bool = False
         ) -> dict[str, Any]:
    """Run the DAQ for ``warm_up_s + seconds`` (time-compressed, 5e6 e-/spill, spills
    without end), with a monitor window on the tap unless ``window`` is False; the samples,
    the memory after the warm-up and at the end, and the ledger. ``window_faults``: the
    window is frozen (SIGSTOP) a third of the way through and killed (SIGKILL) at two
    thirds, as a crew's hung or closed monitor is (the DAQ must not notice)."""
    overrides = ipc_endpoints(tmp)
    overrides.update({"writer.directory": str(tmp / "runs"), "workers.count": workers,
                      "emulator.beam.intensity_per_spill": 5e6,
                      "emulator.spill.time_compressed": True,
                      "emulator.run.spills": 100_000, "tap.end_of_run_png": False})
    cfg = load(DaqConfig, None, overrides)
    sup = Supervisor(cfg, db=RunDatabase(tmp / "runs.db"), log=lambda m: None)
    monitor = None
    samples: list[dict[str, Any]] = []
    try:
        sup.configure()
        if window:
            monitor = subprocess.Popen(
                [sys.executable, "-m", "daq.app.cli", "monitor", "--connect",
                 cfg.endpoints.tap_publish],
                env=dict(os.environ, QT_QPA_PLATFORM="offscreen",
                         NA64DAQ_DB=str(tmp / "runs.db")),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        sup.start()
        t0 = time.monotonic()
        next_sample = t0
        faults = [((warm_up_s + seconds) / 3, signal.SIGSTOP),
                  (2 * (warm_up_s + seconds) / 3, signal.SIGKILL)] if window_faults else []
        while time.monotonic() - t0 < warm_up_s + seconds:
            sup.poll(0.2)
            if sup.state != "running":
                break
            if faults and monitor is not None and time.monotonic() - t0 >= faults[0][0]:
                monitor.send_signal(faults.pop(0)[1])
            if time.monotonic() >= next_sample:
                samples.append(_sample(sup, monitor, time.monotonic() - t0))
                next_sample += sample_s
        state_at_end = sup.state
        window_alive = monitor is not None and monitor.poll() is None
        sup.stop()
        ledger = sup.ledger
        sources = {p.name: p.counters for p in sup.procs.role("source")}
    finally:
        sup.close()
        if monitor is not None:
            monitor.terminate()
            try:
                monitor.wait(10)
            except subprocess.TimeoutExpired:
                monitor.kill()
    warm = next((s for s in samples if s["t_s"] >= warm_up_s), samples[-1] if samples else {})
    end = samples[-1] if samples else {}
    return {"machine": machine_description(), "seconds": seconds, "warm_up_s": warm_up_s,
            "workers": workers, "window": window, "state_at_end": state_at_end,
            "window_alive_at_end": window_alive,
            "resident_mb": {name: {"after_warm_up": warm.get("rss_mb", {}).get(name),
                                   "end": mb} for name, mb in end.get("rss_mb", {}).items()},
            "heap_mb": {name: {"after_warm_up": warm.get("heap_mb", {}).get(name), "end": h}
                        for name, h in end.get("heap_mb", {}).items()},
            "queues_max": {q: max((s["queues"].get(q) or 0 for s in samples), default=0)
                           for q in _queue_names()},
            "samples": samples, "sources": sources,
            "ledger": {k: ledger.get(k) for k in (
                "triggered", "written_complete", "written_incomplete", "rejected",
                "dropped_by_policy", "unaccounted", "balanced")}}


def _queue_names() -> list[str]:
    return [f"{p}.{c}" for p, c in QUEUES]


def _sample(sup: Supervisor, monitor: subprocess.Popen | None, t_s: float) -> dict[str, Any]:
    rss = {p.name: resident_mb(p.popen.pid) for p in sup.procs.all()}
    if monitor is not None and monitor.poll() is None:  # a killed one is gone, not 0 MB
        rss["monitor window"] = resident_mb(monitor.pid)
    queues = {f"{proc}.{name}": (sup.procs[proc].counters or {}).get(name)
              if proc in sup.procs else None for proc, name in QUEUES}
    written = sup.procs["writer"].counters.get("written_events") if "writer" in sup.procs \
        else None
    heap = {p.name: p.counters["memory"] for p in sup.procs.all()
            if isinstance(p.counters.get("memory"), dict)}  # the allocator's view, from the beats
    return {"t_s": round(t_s, 2), "rss_mb": {k: v for k, v in rss.items() if v is not None},
            "heap_mb": heap, "queues": queues, "written_events": written}


def queue_png(result: dict[str, Any], path: Path) -> None:
    """The queues' depths and the processes' memory over time, one plot each, as a PNG."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    from PyQt5 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    pg.setConfigOptions(background="w", foreground="k", antialias=True)
    win = pg.GraphicsLayoutWidget()
    win.resize(1400, 1300)
    t = [s["t_s"] for s in result["samples"]]
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf", "#000000"]
    top = win.addPlot(title="queue depths over the soak")
    top.setLabel("bottom", "time since the start", units="s")
    top.setLabel("left", "depth (events or batches)")
    top.addLegend(offset=(10, 10))
    for k, q in enumerate(_queue_names()):
        ys = [s["queues"].get(q) or 0 for s in result["samples"]]
        top.plot(t, ys, pen=pg.mkPen(colours[k % len(colours)], width=2), name=QUEUES[tuple(
            q.split(".", 1))] + f" (max {max(ys, default=0)})")
    win.nextRow()
    low = win.addPlot(title="resident memory of every process")
    low.setLabel("bottom", "time since the start", units="s")
    low.setLabel("left", "resident memory (MB)")
    low.addLegend(offset=(10, 10))
    names = sorted({n for s in result["samples"] for n in s["rss_mb"]})
    for k, name in enumerate(names):
        ys = [s["rss_mb"].get(name, float("nan")) for s in result["samples"]]
        low.plot(t, ys, pen=pg.mkPen(colours[k % len(colours)], width=2), name=name)
    win.nextRow()
    heap = win.addPlot(title="malloc's heap: in use by the program (solid); the builder's "
                             "freed and held for reuse (dashed)")
    heap.setLabel("bottom", "time since the start", units="s")
    heap.setLabel("left", "heap (MB)")
    heap.addLegend(offset=(10, 10))
    for k, name in enumerate(names):
        ys = [(s.get("heap_mb", {}).get(name) or {}).get("heap_in_use_mb", float("nan"))
              for s in result["samples"]]
        if any(y == y for y in ys):  # the window sends no heartbeat
            heap.plot(t, ys, pen=pg.mkPen(colours[k % len(colours)], width=2), name=name)
        if name == "builder":
            heap.plot(t, [(s.get("heap_mb", {}).get(name) or {}).get("heap_free_mb",
                                                                      float("nan"))
                          for s in result["samples"]],
                      pen=pg.mkPen(colours[k % len(colours)], width=2, style=2),
                      name="builder, held free")
    for plot in (top, low, heap):
        plot.addLine(x=result["warm_up_s"], pen=pg.mkPen("#888888", style=2))
    win.show()
    app.processEvents()
    win.grab().save(str(path))
    win.close()
