"""``na64daq bench monitor``: the histogram server's filling rate on one core (what the tap
does per batch), the snapshot's size and build time, and each panel's redraw time offscreen,
on reconstructed emulated events (``docs/monitor.md``, Numbers)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from daq.detector import Detector

BATCH_EVENTS = 1024


def measure(n_events: int = 8192, seconds: float = 2.0) -> dict[str, Any]:
    from daq.built_batch import BUILT_DTYPE
    from daq.reco.benchmark import emulated_batch
    from daq.reco.reco_config import RecoConfig
    from daq.reco.reconstruction import Reconstruction
    from monitor import snapshot as proto
    from monitor.histogram_server import HistogramServer
    from monitor.histograms import HistogramFiller

    detector = Detector.load()
    samples, raw_events = emulated_batch(detector, n_events)
    reco = Reconstruction(detector)
    events = np.zeros(len(raw_events), BUILT_DTYPE)
    for name in ("spill", "event", "trigger", "trigger_time_ns"):
        events[name] = raw_events[name]
    events["complete"] = 1
    table, ch = reco(samples, events)
    channels = ch.table()
    c = RecoConfig().classes
    filler = HistogramFiller(detector, reco.constants.gev_per_adc, c.beam_energy_gev,
                             c.signal_ecal_max_gev, c.signal_hcal_max_gev, c.blinded)
    filler.warm_up()
    server = HistogramServer(detector, filler)
    batches = [(events[lo:lo + BATCH_EVENTS], table[lo:lo + BATCH_EVENTS],
                channels[lo:lo + BATCH_EVENTS], samples[lo:lo + 1], np.array([0]))
               for lo in range(0, len(events), BATCH_EVENTS)]
    filled, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for e, r, chan, w, rows in batches:
            server.add_batch(1, 1, e, r, chan, w, rows)
            filled += len(e)
    fill_rate = filled / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(20):
        parts = server.snapshot()
    snapshot_s = (time.perf_counter() - t0) / 20
    size = sum(len(bytes(p)) for p in parts)
    snap = proto.decode([bytes(p) for p in parts])
    return {"machine": _machine(), "events": n_events, "batch_events": BATCH_EVENTS,
            "fill_events_per_s_one_core": fill_rate, "snapshot_build_s": snapshot_s,
            "snapshot_bytes": size, "redraw_s": _redraws(detector, snap)}


def _redraws(detector: Detector, snap) -> dict[str, float]:
    """Median draw time of each panel (offscreen Qt), and of all of them."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from monitor.app import qt_application
    from monitor.feeds import Feed
    from monitor.window import MonitorWindow

    qt_application()
    feed = Feed(0.5)
    feed.latest = snap
    window = MonitorWindow(feed, detector, remember=False)
    window.resize(1920, 1080)
    out = {}
    for p in window.panels:
        p.resize(1900, 1000)
        p.prepare(snap)
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            p.draw(snap)
            p.grab()  # the paint, as on a screen
            times.append(time.perf_counter() - t0)
        out[p.title] = float(np.median(times))
    out["all panels"] = sum(out.values())
    return out


def _machine() -> str:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model or 'unknown CPU'}, {os.cpu_count()} cores"


def print_result(r: dict[str, Any]) -> None:
    print(f"{r['machine']}; {r['events']} reconstructed emulated events in batches of "
          f"{r['batch_events']}")
    print(f"  histogram filling (tap, one core): {r['fill_events_per_s_one_core']:,.0f} events/s")
    print(f"  snapshot: {r['snapshot_bytes'] / 1e6:.2f} MB, built in "
          f"{r['snapshot_build_s'] * 1e3:.1f} ms")
    for name, s in r["redraw_s"].items():
        print(f"  redraw {name:<20} {s * 1e3:7.1f} ms")
