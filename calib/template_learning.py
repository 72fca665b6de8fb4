"""Each channel's pulse template measured from data (``calib templates``,
``docs/reconstruction.md``).

Calibration electrons and LED flashes give clean single pulses at every phase to the sampling
clock. Each pulse's samples, less its pedestal and divided by its amplitude, placed at their
time from its peak, trace the channel's shape; averaged on a 1 ns grid over hundreds of
pulses they give it to a fraction of a percent. A pulse's samples are scaled by their sum,
which no template enters. Its time is the trigger's, to the particle's jitter, when the
trigger's phase to the sampling clock is measured; otherwise it is the fit's, and the fit
uses the template in force, so the pulses are fitted again with the template just measured,
and the shape measured again, a few times (``templates.iterations``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from calib.calib_config import TemplatesSection
from daq.core.detector import Detector
from daq.core.wire_format import TriggerKind
from daq.reco.calibration_constants import CalibrationConstants
from daq.reco.channel_templates import LOW, STORE_STEP_NS, ChannelTemplate
from daq.reco.pulse import flags as pf
from daq.reco.reco_config import RecoConfig
from daq.reco.reconstruction import Reconstruction

#: a pulse is clean when none of these flags is set and it is the channel's only pulse
NOT_CLEAN = (pf.SATURATED | pf.BAD_CHANNEL | pf.MISSING | pf.FIT_FAILED | pf.PILEUP
             | pf.OUT_OF_TIME | pf.NO_PULSE)
#: triggers whose pulses are measured: beam electrons and LED flashes, both in time
TRIGGERS = (TriggerKind.CALIBRATION, TriggerKind.LED)
#: a grid point of the profile is measured with at least this many samples, else interpolated
MIN_SAMPLES_PER_POINT = 3
#: the peak is placed by a parabola through the profile's points above this fraction of it
PEAK_FIT_FRACTION = 0.97
#: the fit quality accepted while learning (per sample, in units of the noise squared)
LENIENT_CHI2 = 1e9
#: reconstructed this many events at a time
BATCH_EVENTS = 2000


@dataclass
class LearntTemplates:
    """What ``learn_templates`` found: per channel name its template, the clean pulses of
    every channel, and how much the templates changed in each iteration (largest change of a
    value, in units of the peak)."""

    templates: dict[str, ChannelTemplate]
    pulses: dict[str, int]
    events: int
    change: list[float] = field(default_factory=list)


def learn_templates(samples: np.ndarray, events: np.ndarray, detector: Detector,
                    config: RecoConfig, constants: CalibrationConstants, cfg: TemplatesSection,
                    progress: Callable[[int], None] | None = None) -> LearntTemplates:
    """The templates of every channel with at least ``cfg.min_pulses`` clean pulses in the
    calibration and LED events of ``samples`` (events, channels, samples; map order) with
    their event table, reconstructed with ``config`` and ``constants`` at first."""
    use = np.isin(events["trigger"], [int(t) for t in TRIGGERS])
    if "complete" in events.dtype.names:
        use &= events["complete"] == 1
    samples, events = samples[use], events[use]
    names = [c.name for c in detector.channels]
    # a template that does not match makes every fit poor, and a poor fit is split into
    # pulses that are not there: while learning, a single pulse is accepted as it fits
    config = replace(config, pulses=replace(config.pulses, chi2_per_sample_max=LENIENT_CHI2))
    learnt: dict[int, ChannelTemplate] = {}
    change: list[float] = []
    counts = np.zeros(detector.n_channels, np.int64)
    for _ in range(cfg.iterations):
        rec = Reconstruction(detector, config, replace(constants, pulse_templates={
            **constants.pulse_templates, **learnt}))
        sums, hits, counts, lo_ns = _profiles(rec, samples, events, cfg.min_amplitude_adc)
        new = {}
        for c in np.flatnonzero(counts >= cfg.min_pulses):
            t = _template(sums[c], hits[c], lo_ns, cfg, int(counts[c]))
            if t is not None:
                new[int(c)] = t
        change.append(max((_difference(learnt[c], t) for c, t in new.items() if c in learnt),
                          default=float("nan")))
        learnt = new
        if progress:
            progress(1)
    return LearntTemplates({names[c]: t for c, t in sorted(learnt.items())},
                           {names[c]: int(n) for c, n in enumerate(counts)}, len(events),
                           change[1:])


def _profiles(rec: Reconstruction, samples: np.ndarray, events: np.ndarray,
              min_amplitude_adc: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Per channel, the sums of the clean pulses' samples (each pulse's scaled to sum 1) and
    their numbers on the ``STORE_STEP_NS`` grid from ``lo_ns`` (ns from the peak), and the
    clean pulses' number: (sums, hits, pulses, lo_ns)."""
    n_ch, n_s = samples.shape[1:]
    period = rec.period_ns
    lo_ns = -float(n_s) * period
    n_bins = int(2 * n_s * period / STORE_STEP_NS) + 1
    sums = np.zeros(n_ch * n_bins)
    hits = np.zeros(n_ch * n_bins)
    pulses = np.zeros(n_ch, np.int64)
    for lo in range(0, len(events), BATCH_EVENTS):
        s, ev = samples[lo:lo + BATCH_EVENTS], events[lo:lo + BATCH_EVENTS]
        _, ch = rec(s, ev)
        clean = ((ch.n_pulses == 1) & ((ch.flags & NOT_CLEAN) == 0)
                 & (ch.amplitude_adc >= min_amplitude_adc))
        e, c = np.nonzero(clean)
        pulses += np.bincount(c, minlength=n_ch)
        i = np.arange(n_s)
        ped = ch.pedestal_adc[e, c][:, i % 2]  # (pulses, samples): even and odd in turn
        y = s[e, c].astype(np.float64) - ped
        # scaled by the pulse's sum rather than the fit's amplitude: the sum does not depend
        # on the template, nor (sampled finely enough) on the pulse's phase to the clock,
        # while a wrong template's amplitudes do, and would bend the shape measured
        y /= y.sum(axis=1)[:, None]
        if rec.cfg.pulses.trigger_phase == "measured":  # the particle's time, to its jitter
            t = rec.expected_time_ns(ev)[e] + rec.constants.time_offset_ns[c]
        else:  # the fit's
            t = ch.time_ns[e, c].astype(np.float64)
        dt = i * period - t[:, None]
        b = np.rint((dt - lo_ns) / STORE_STEP_NS).astype(np.int64) + (c * n_bins)[:, None]
        sums += np.bincount(b.ravel(), y.ravel(), n_ch * n_bins)
        hits += np.bincount(b.ravel(), None, n_ch * n_bins)
    return sums.reshape(n_ch, n_bins), hits.reshape(n_ch, n_bins), pulses, lo_ns


def _template(sums: np.ndarray, hits: np.ndarray, lo_ns: float, cfg: TemplatesSection,
              pulses: int) -> ChannelTemplate | None:
    """A channel's profile as a template: its peak (a parabola through its top) moved to
    t = 0 and scaled to 1, from where the rise passes ``start_fraction`` to where the tail
    falls below ``tail_fraction`` for good. None when the profile has no peak inside it."""
    have = hits >= MIN_SAMPLES_PER_POINT
    if have.sum() < 4:
        return None
    t = lo_ns + STORE_STEP_NS * np.arange(len(sums))
    first, last = np.flatnonzero(have)[[0, -1]]
    tt = t[first:last + 1]
    m = np.interp(tt, t[have], sums[have] / hits[have])  # points without samples: between
    k = int(np.argmax(m))
    low = np.flatnonzero(m < PEAK_FIT_FRACTION * m[k])
    lo = int(low[low < k].max()) + 1 if (low < k).any() else 0
    hi = int(low[low > k].min()) if (low > k).any() else len(m)
    if not 0 < k < len(m) - 1 or hi - lo < 3:
        return None
    # the peak's place and height from a parabola through the top: three points 1 ns apart
    # would put it where the noise says (the top of a 30 ns pulse is flat to 0.2 % over 1 ns)
    a, b, c = np.polyfit(tt[lo:hi] - tt[k], m[lo:hi], 2)
    if not a < 0.0 or not tt[lo] <= tt[k] - b / (2.0 * a) <= tt[hi - 1]:
        return None
    t_peak, height = tt[k] - b / (2.0 * a), c - b * b / (4.0 * a)
    j = np.arange(np.ceil((tt[0] - t_peak) / STORE_STEP_NS),
                  np.floor((tt[-1] - t_peak) / STORE_STEP_NS) + 1).astype(np.int64)
    peak = int(np.flatnonzero(j == 0)[0])
    v = np.clip(np.interp(t_peak + STORE_STEP_NS * j, tt, m) / height, -LOW, 1.0)
    v[peak] = 1.0  # the template's definition; its neighbours are within the noise of it
    below = np.flatnonzero(v[:peak] < cfg.start_fraction)
    start = int(below[-1]) if len(below) else 0
    above = np.flatnonzero(v[peak:] >= cfg.tail_fraction)
    end = min(peak + int(above[-1]) + 1, len(v) - 1)
    if start == peak:
        return None
    return ChannelTemplate((start - peak) * STORE_STEP_NS, STORE_STEP_NS, v[start:end + 1],
                           pulses)


def _difference(a: ChannelTemplate, b: ChannelTemplate) -> float:
    """Largest difference of two templates' values (units of the peak), on a's grid."""
    ta, tb = a.t0_ns + a.step_ns * np.arange(len(a.values)), \
        b.t0_ns + b.step_ns * np.arange(len(b.values))
    return float(np.max(np.abs(a.values - np.interp(ta, tb, b.values, left=0.0, right=0.0))))
