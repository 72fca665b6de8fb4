"""``na64daq bench monitor``: the histogram server's filling rate on one core (what the tap
does per batch), the snapshot's size and build time, and each panel's redraw time offscreen,
on reconstructed emulated events (``docs/monitor.md``, Numbers)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from daq.app.bench.machine import description as machine_description
from daq.core.detector import Detector

BATCH_EVENTS = 1024


def reconstructed_sample(n_events: int = 8192):
    """Emulated events through the reconstruction once: (detector, reconstruction, events,
    reco table, channel table, samples), what the tap is fed with."""
    from daq.app.bench.reconstruction import emulated_batch
    from daq.core.built_batch import BUILT_DTYPE
    from daq.reco.reconstruction import Reconstruction

    detector = Detector.load()
    samples, raw_events = emulated_batch(detector, n_events)
    reco = Reconstruction(detector)
    events = np.zeros(len(raw_events), BUILT_DTYPE)
    for name in ("event", "trigger", "trigger_time_ns"):
        events[name] = raw_events[name]
    events["spill"], events["complete"] = 1, 1
    table, ch = reco(samples, events)
    return detector, reco, events, table, ch.table(), samples


def measure(n_events: int = 8192, seconds: float = 2.0, live_s: float = 20.0,
            rate_hz: float = 50_000.0) -> dict[str, Any]:
    from daq.reco.reco_config import RecoConfig
    from monitor import snapshot as proto
    from monitor.histogram_server import HistogramServer
    from monitor.histograms import HistogramFiller

    detector, reco, events, table, channels, samples = reconstructed_sample(n_events)
    filler = HistogramFiller(detector, reco.constants.gev_per_adc, RecoConfig())
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
    result = {"machine": machine_description(), "events": n_events, "batch_events": BATCH_EVENTS,
              "fill_events_per_s_one_core": fill_rate, "snapshot_build_s": snapshot_s,
              "snapshot_bytes": size, "redraw_s": _redraws(detector, snap)}
    if live_s > 0:
        result["live"] = live(detector, events, table, channels, samples, live_s, rate_hz)
    return result


def live(detector: Detector, events, table, channels, samples, seconds: float,
         rate_hz: float) -> dict[str, Any]:
    """A real tap process fed at ``rate_hz`` by a pusher process, watched by a window in this
    process (offscreen, its own timer): the visible panel's redraw times while the data
    arrive, and the time from a batch's push to the first redraw that shows it."""
    import json
    import subprocess
    import sys
    import tempfile

    from daq.core.config_schema import load, to_dict
    from daq.processes.daq_config import DaqConfig, ipc_endpoints
    from monitor.app import qt_application
    from monitor.feeds import LiveFeed
    from monitor.window import MonitorWindow

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = qt_application()
    tmp = tempfile.mkdtemp(prefix="na64daq-bench-monitor-")
    cfg = load(DaqConfig, None, ipc_endpoints(tmp))
    config = os.path.join(tmp, "daq.json")
    with open(config, "w") as fh:
        json.dump(to_dict(cfg), fh)
    tap = subprocess.Popen([sys.executable, "-m", "daq.processes.main", "tap", "tap", config, ""])
    import multiprocessing as mp

    ctx = mp.get_context("spawn")  # not fork: this process runs Qt
    stop = ctx.Event()
    results, their_end = ctx.Pipe(duplex=False)
    pusher = ctx.Process(target=_push, args=(
        cfg.endpoints.tap, events, table, channels, samples[:8].copy(), rate_hz, stop,
        their_end),
        daemon=True)  # a process of its own, as the DAQ's workers are: not this one's GIL
    feed = LiveFeed(cfg.endpoints.tap_publish).start()
    window = MonitorWindow(feed, detector, remember=False)
    window.resize(1920, 1080)
    shown: list[tuple[float, float]] = []  # (draw time, newest push shown)
    draws: dict[str, list[float]] = {p.title: [] for p in window.panels}
    rss: list[tuple[float, float]] = []
    pusher.start()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            k = int((time.monotonic() - t0) / 2) % len(window.panels)  # each panel in turn
            window.tabs.setCurrentIndex(k)
            app.processEvents()
            snap = window.shown()
            if snap is not None:
                t1 = time.perf_counter()
                window.tabs.currentWidget().draw(snap)
                window.tabs.currentWidget().grab()  # the paint, as on a screen
                draws[window.tabs.currentWidget().title].append(time.perf_counter() - t1)
                newest = snap.header["counters"].get("newest_unix_s")
                if newest:
                    shown.append((time.time(), newest))
            rss.append((time.monotonic() - t0, _rss_mb()))
            time.sleep(1.0 / 5.0)  # the window's REDRAW_HZ
    finally:
        stop.set()
        pushed = results.recv() if results.poll(30) else []
        pusher.join(10)
        feed.stop()
        tap.terminate()
        tap.wait(10)
    latencies = _first_shown(pushed, shown)
    taken = feed.latest.header["counters"]["taken"] if feed.latest else 0
    return {"rate_hz": rate_hz, "seconds": seconds, "batches_pushed": len(pushed),
            "events_taken_by_tap": taken,
            "redraw_s_median": {k: float(np.median(v)) for k, v in draws.items() if v},
            "redraw_s_max": {k: float(np.max(v)) for k, v in draws.items() if v},
            "push_to_screen_s_p50": float(np.percentile(latencies, 50)) if latencies else None,
            "push_to_screen_s_p99": float(np.percentile(latencies, 99)) if latencies else None,
            "rss_mb_first_last": (rss[0][1], rss[-1][1]) if rss else None,
            **_memory_growth(rss)}


def _memory_growth(rss: list[tuple[float, float]]) -> dict[str, float | None]:
    """The window's resident memory after its first minute (caches, fonts, the first
    snapshots) and its slope from then on: flat means the slope is ~0."""
    later = [(t, m) for t, m in rss if t >= 60.0]
    if len(later) < 10:
        return {"rss_mb_after_1_min": None, "rss_mb_per_min_after_1_min": None}
    t, m = np.array(later).T
    return {"rss_mb_after_1_min": float(m[0]),
            "rss_mb_per_min_after_1_min": float(np.polyfit(t / 60.0, m, 1)[0])}


def _push(endpoint: str, events, table, channels, samples, rate_hz: float, stop, results
          ) -> None:
    """Batches into the tap at ``rate_hz`` events/s, stamped with their push time, dropped
    (as a worker does) when the tap is behind; the (time, seq) of those sent, at the end."""
    import zmq

    from daq.core import built_batch

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, 4)
    sock.connect(endpoint)
    period = BATCH_EVENTS / rate_hz
    pushed, seq, next_t, spill_t0 = [], 0, time.monotonic(), time.monotonic()
    while not stop.is_set():
        lo = (seq * BATCH_EVENTS) % (len(events) - BATCH_EVENTS)
        now = time.time()
        header = {"seq": seq, "kind": "events", "run": 1, "n_events": BATCH_EVENTS,
                  "spill": 1 + int((time.monotonic() - spill_t0) / 4.8),
                  "t_first_fragment": now, "waveform_rows": [0]}
        try:
            sock.send_multipart(built_batch.encode(
                header, events[lo:lo + BATCH_EVENTS], samples[seq % len(samples)][None],
                table[lo:lo + BATCH_EVENTS], channels[lo:lo + BATCH_EVENTS]), zmq.NOBLOCK)
            pushed.append((now, seq))
        except zmq.Again:
            pass
        seq += 1
        next_t += period
        time.sleep(max(0.0, next_t - time.monotonic()))
    ctx.destroy(linger=0)
    results.send(pushed)


def _first_shown(pushed: list[tuple[float, int]], shown: list[tuple[float, float]]
                 ) -> list[float]:
    """Per pushed batch, the time to the first redraw whose snapshot includes it."""
    out, j = [], 0
    shown = sorted(shown)
    for t_push, _ in pushed:
        while j < len(shown) and shown[j][1] < t_push:
            j += 1
        if j == len(shown):
            break
        out.append(shown[j][0] - t_push)
    return out


def _rss_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


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


def print_result(r: dict[str, Any]) -> None:
    print(f"{r['machine']}; {r['events']} reconstructed emulated events in batches of "
          f"{r['batch_events']}")
    print(f"  histogram filling (tap, one core): {r['fill_events_per_s_one_core']:,.0f} events/s")
    print(f"  snapshot: {r['snapshot_bytes'] / 1e6:.2f} MB, built in "
          f"{r['snapshot_build_s'] * 1e3:.1f} ms")
    for name, s in r["redraw_s"].items():
        print(f"  redraw {name:<20} {s * 1e3:7.1f} ms")
    v = r.get("live")
    if v:
        print(f"  live, {v['rate_hz']:,.0f} events/s pushed into a tap process for "
              f"{v['seconds']:.0f} s ({v['events_taken_by_tap']:,} taken):")
        for name, s in v["redraw_s_median"].items():
            print(f"    redraw {name:<20} median {s * 1e3:6.1f} ms, max "
                  f"{v['redraw_s_max'][name] * 1e3:6.1f} ms")
        if v["push_to_screen_s_p99"] is not None:
            print(f"    push to screen: p50 {v['push_to_screen_s_p50']:.2f} s, p99 "
                  f"{v['push_to_screen_s_p99']:.2f} s")
        a, b = v["rss_mb_first_last"]
        print(f"    window process memory: {a:.0f} MB at the start, {b:.0f} MB at the end")
        if v["rss_mb_per_min_after_1_min"] is not None:
            print(f"    after the first minute: {v['rss_mb_after_1_min']:.0f} MB, then "
                  f"{v['rss_mb_per_min_after_1_min']:+.2f} MB/min")
