"""The monitor tap: takes the workers' samples of the data (it may miss some; it never slows
the writer path), fills histogram-ready summaries, measures the latency from the builder to
here, and publishes the summaries to viewers once a second."""

from __future__ import annotations

import json
import time

import numpy as np
import zmq

from daq import built_batch
from daq.component import Component, drain
from daq.daq_config import DaqConfig
from daq.detector import Detector
from daq.wire_format import beam_triggered

#: E_ECAL vs E_HCAL histogram binning, GeV (the (E_ECAL, E_HCAL) plane of [001] Fig. 2).
E_BINS = np.linspace(0.0, 150.0, 151)
LATENCY_MEMORY = 20000


def fill_energy_plane(hist: np.ndarray, e_ecal_gev: np.ndarray, e_hcal_gev: np.ndarray) -> None:
    """Adds events to the E_ECAL vs E_HCAL histogram (uniform E_BINS; outside and NaN values
    are left out). A flat bincount: numpy's histogram2d sorts, ten times slower per batch."""
    n = len(E_BINS) - 1
    scale = n / (E_BINS[-1] - E_BINS[0])
    i = np.floor((e_ecal_gev - E_BINS[0]) * scale)
    j = np.floor((e_hcal_gev - E_BINS[0]) * scale)
    inside = (i >= 0) & (i < n) & (j >= 0) & (j < n)
    flat = (i[inside] * n + j[inside]).astype(np.intp)
    hist += np.bincount(flat, minlength=n * n).reshape(n, n)


def in_energy_plane(events: np.ndarray) -> np.ndarray:
    """The events the (E_ECAL, E_HCAL) plane shows: beam triggers of complete events (an
    incomplete event's sums lack a crate's cells; the stop's cut once put 3,659 of them in the
    signal box)."""
    return beam_triggered(events["trigger"]) & (events["complete"] != 0)


class LatencyRecord:
    """The last LATENCY_MEMORY batch latencies (s) and their percentiles, put in the counters
    before every heartbeat: the final counters include the batches after the last summary."""

    def __init__(self, counters: dict):
        self.values_s = np.zeros(LATENCY_MEMORY)
        self.n = 0
        self.counters = counters
        counters["latency_p50_s"] = counters["latency_p99_s"] = None

    def add(self, latency_s: float) -> None:
        self.values_s[self.n % LATENCY_MEMORY] = latency_s
        self.n += 1

    def update_counters(self) -> None:
        if self.n:
            p50, p99 = np.percentile(self.values_s[:min(self.n, LATENCY_MEMORY)], [50, 99])
            self.counters["latency_p50_s"], self.counters["latency_p99_s"] = float(p50), float(p99)


def main(cfg: DaqConfig, detector: Detector, name: str = "tap") -> None:
    comp = Component(name, cfg)
    pull = comp.ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, 4)
    pull.bind(cfg.endpoints.tap)
    pub = comp.ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 10)
    pub.bind(cfg.endpoints.tap_publish)
    n_ch, n_s = detector.n_channels, detector.samples_per_channel
    hist = np.zeros((len(E_BINS) - 1, len(E_BINS) - 1), np.int64)
    frozen = False
    c = {"batches": 0, "events": 0, "malformed": 0, "frozen": False}
    comp.counters = c
    latency = LatencyRecord(c)
    comp.before_beat = latency.update_counters
    next_publish = time.monotonic() + 1.0
    while not comp.exiting:
        if not frozen and pull.poll(50):
            for b in built_batch.decode_all(drain(pull, 64), n_ch, n_s, c):
                now = time.time()
                latency.add(now - float(b.header["t_first_fragment"]))
                shown = in_energy_plane(b.events)
                fill_energy_plane(hist, b.reco["e_ecal_gev"][shown],
                                  b.reco["e_hcal_gev"][shown, :2].sum(1))
                c["batches"] += 1
                c["events"] += len(b.events)
        elif frozen:
            time.sleep(0.05)
        cmd = comp.command()
        if cmd and cmd.get("cmd") in ("freeze", "unfreeze"):
            frozen = cmd["cmd"] == "freeze"
            c["frozen"] = frozen
        if time.monotonic() > next_publish:
            next_publish += 1.0
            latency.update_counters()
            summary = dict(c, e_bins_gev=[E_BINS[0], E_BINS[-1], len(E_BINS) - 1])
            pub.send_multipart([b"summary", json.dumps(summary).encode(), hist.tobytes()])
        comp.beat()
    comp.close()
