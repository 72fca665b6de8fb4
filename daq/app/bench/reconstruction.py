"""``na64daq bench reco``: our reconstruction chain against the same work done with dspeed
(LEGEND's numba DSP processors) and with a plain scipy.signal.find_peaks loop, timed in one run
on identical emulated waveforms (the comparison is described in ``docs/reconstruction.md``).

The three agree on what they compute per channel (pedestal, pulses above threshold, the
amplitude of the in-time one) and share the calibration and sums (numpy); only ours adds the
template fit of overlapping pulses, the SRD tag, both pileup rules, the shower shape and the
classes. dspeed and scipy are optional (``pip install 'na64daq[bench]'``): without them, their
rows say so.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from daq.core.config_schema import load
from daq.core.detector import Detector
from daq.reco.reconstruction import Reconstruction


def emulated_batch(detector: Detector, n_events: int, intensity: float = 5e6,
                   seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``n_events`` physics-trigger-like events at ``intensity`` e-/spill: (samples in the map's
    channel order, event table)."""
    from daq.app.bench.stages import trigger_mix
    from emulator.config import EmulatorConfig
    from emulator.emulator import Emulator

    em = Emulator(load(EmulatorConfig, None, {  # a tenth more, then cut to n_events
        **trigger_mix(1.1 * n_events), "beam.intensity_per_spill": intensity, "run.seed": seed,
        "run.batch_events": 1024}), detector)
    samples, events = [], []
    for b in em.batches(em.spill_plan(1)):
        samples.append(b.samples_in_map_order(detector))
        events.append(b.events)
    return np.concatenate(samples)[:n_events], np.concatenate(events)[:n_events]


def _sums(reco: Reconstruction, amp_adc: np.ndarray) -> np.ndarray:
    """The calibration and subdetector sums every implementation shares."""
    e = amp_adc * reco.constants.gev_per_adc
    return np.stack([e[:, reco.ecal].sum(1), e[:, reco.hcal_all].sum(1)], 1)


def run_na64daq(reco: Reconstruction, samples, events, batch: int) -> np.ndarray:
    out = []
    for lo in range(0, len(events), batch):
        r, _ = reco(samples[lo:lo + batch], events[lo:lo + batch])
        out.append(np.stack([r["e_ecal_gev"], r["e_hcal_gev"].sum(1)], 1))
    return np.concatenate(out)


def run_dspeed(reco: Reconstruction, samples, events, batch: int) -> np.ndarray:
    """Baseline (mean and slope of the pre-signal samples), subtraction, local maxima with the
    same prominence, amplitudes at the maxima; the in-time one is the maximum nearest the
    expected time (numpy)."""
    from dspeed.processors import (
        bl_subtract,
        get_multi_local_extrema,
        linear_slope_fit,
        multi_a_filter,
    )

    cfg = reco.cfg
    n_ped = cfg.pedestal.samples
    thr = np.float32(cfg.pulses.threshold_adc)
    m = cfg.pulses.max_pulses
    out = []
    for lo in range(0, len(events), batch):
        s, ev = samples[lo:lo + batch], events[lo:lo + batch]
        n_ev, n_ch, n_s = s.shape
        w = s.reshape(-1, n_s).astype(np.float32)
        mean, _, _, _ = linear_slope_fit(w[:, :n_ped])
        wb = bl_subtract(w, mean)
        vt_min = np.full((len(w), m), np.nan, np.float32)
        vt_max = np.full((len(w), m), np.nan, np.float32)
        n_min = np.zeros(len(w), np.uint32)
        n_max = np.zeros(len(w), np.uint32)
        # (the compiled signature takes the maxima's outputs first)
        get_multi_local_extrema(wb, thr, thr, 0, np.float32(-1e9), thr, vt_max, vt_min,
                                n_max, n_min)
        amps = multi_a_filter(wb, np.nan_to_num(vt_max, nan=0.0))
        t_exp = np.repeat(reco.expected_time_ns(ev), n_ch)[:, None] / reco.period_ns
        dist = np.where(np.isnan(vt_max), np.inf, np.abs(vt_max - t_exp))
        best = dist.argmin(1)
        amp = np.where(dist[np.arange(len(w)), best] <= 1.0, amps[np.arange(len(w)), best], 0.0)
        out.append(_sums(reco, amp.reshape(n_ev, n_ch)))
    return np.concatenate(out)


def run_scipy(reco: Reconstruction, samples, events, batch: int) -> np.ndarray:
    """One scipy.signal.find_peaks call per waveform (height and prominence = threshold)."""
    from scipy.signal import find_peaks

    cfg = reco.cfg
    n_ped = cfg.pedestal.samples
    thr = cfg.pulses.threshold_adc
    n_ev, n_ch, n_s = samples.shape
    amp = np.zeros((n_ev, n_ch))
    t_exp = reco.expected_time_ns(events) / reco.period_ns
    for e in range(n_ev):
        for c in range(n_ch):
            w = samples[e, c].astype(np.float64)
            y = w - w[:n_ped].mean()
            peaks, props = find_peaks(y, height=thr, prominence=thr)
            if len(peaks):
                j = np.abs(peaks - t_exp[e]).argmin()
                if abs(peaks[j] - t_exp[e]) <= 1.0:
                    amp[e, c] = props["peak_heights"][j]
    return _sums(reco, amp)


def compare(n_events: int = 20000, scipy_events: int = 1000, batch: int = 256,
            intensity: float = 5e6) -> dict[str, Any]:
    """Times each implementation on the same waveforms; returns the table (events/s, ratios,
    and how far each one's E_ECAL is from ours as a cross-check that they did the same work)."""
    detector = Detector.load()
    samples, events = emulated_batch(detector, n_events, intensity)
    n_events = len(events)
    results = []
    t0 = time.perf_counter()
    reco = Reconstruction(detector)
    reco(samples[:1], events[:1])  # compile (or load the cache): reported apart
    first_event_s = time.perf_counter() - t0
    ours = None
    for name, fn, n in (("na64daq", run_na64daq, n_events), ("dspeed", run_dspeed, n_events),
                        ("scipy.find_peaks", run_scipy, min(scipy_events, n_events))):
        reco = Reconstruction(detector)
        try:
            fn(reco, samples[:batch], events[:batch], batch)  # warm-up (JIT), not timed
        except ImportError as exc:
            results.append({"name": name, "events_per_s": None,
                            "note": f"not installed ({exc.name}): pip install 'na64daq[bench]'"})
            continue
        reco = Reconstruction(detector)
        t0 = time.perf_counter()
        sums = fn(reco, samples[:n], events[:n], batch)
        dt = time.perf_counter() - t0
        if ours is None:
            ours = sums
        agree = float(np.median(np.abs(sums[:, 0] - ours[:n, 0]) / np.maximum(ours[:n, 0], 1)))
        results.append({"name": name, "events_per_s": n / dt, "events": n,
                        "median_e_ecal_difference_to_ours": agree})
    base = results[0]["events_per_s"]
    for r in results:
        if r["events_per_s"]:
            r["ours_faster_by"] = base / r["events_per_s"]
    return {"results": results, "first_event_latency_s": first_event_s,
            "events": n_events, "intensity_per_spill": intensity, "batch_events": batch}
